"""A share of a GitHub source's files, across its repositories, written as sample archives for
`coderforge estimate`.

A sample of whole repositories is only as typical as the few it holds: 10% of the real-code corpus
is 2 of its 15 repositories, and what a repository sends on to the later stages per byte of its
archive ranges from nothing (a package of generated C and pickled docs) to nearly all of it. Most
of a corpus's bytes can sit in a handful of files that the reader drops (an amalgamated header,
a pickle, a Cython-generated module): no whole-file sample of 10% holds a tenth of a 6 MB file.
So the sample takes files from across the repositories, and says how much of the source it stands for by
what the later stages grow with rather than by raw bytes:

- Every file of a repository is read once here and weighed by the bytes the reader's own file
  rules keep (`kept_text`: not binary, not a Git LFS pointer, UTF-8, not empty, not vendored,
  generated or minified by path, content or banner; language identification is left to the
  build). Files the reader refuses before reading them (links, special files, files over
  `max_file_bytes`) are left out of the sample: they cost the build a drop record, not work.
- The build joins the files of a repository's Python, Java, C#, C and C++ (the recipe's
  `curation.samples.languages`) into one document per import-connected component, cut into
  pieces of at most `max_sample_tokens`. Whatever the sample takes, it takes such a component
  whole (its import graph is worked out here with the build's own `dependencies`), so that the
  sample's documents are the whole build's documents and not fragments of them: ten percent of
  the files of a component have few imports among them, and joined they would make many small
  documents. The stages after the join pay per document as well as per byte, and MinHash, FIM
  and the shard writer pay less per byte on long documents; a sample of fragments had twice the
  documents per byte of the whole real-code corpus and projected those stages at two to four
  times their measured cost.
- The pieces the sample draws from (a joined component, or any other single file) of all
  repositories together are picked apart into those the rules keep and those they drop, each
  sorted by size and cut into consecutive runs of 1/fraction pieces, and one piece is taken from
  each run, chosen by a hash of the seed, the source, the repository and the piece's first path
  (`pick_pieces`). Every piece has the same chance to be in the sample, large and small alike,
  and the few large components of a corpus (most of its joined bytes sit in a handful of them)
  come in the sample in their share rather than by the luck of a draw per repository.
- The sample stands for `raw x kept_sample / kept_all` bytes of the source (`raw`: the archive
  bytes of the repositories it was drawn from), so the projection's full/sample ratio is the ratio
  of kept bytes: a sample that happens to hold the one large header the reader drops is not
  counted as a larger share of the source for it. Where the rules keep nothing at all the files'
  own sizes stand in.
- A repository whose entry names no licence gets the one its licence files give (read as the
  reader reads them), so the documents of the sample are kept or dropped by licence as the whole
  repository's are, whichever files were picked.

Each repository with picked files is written as `DIR/<owner>_<name>.tar.gz`, a GitHub-style
tarball (one top-level folder, the paths as the reader gives them, the commit in the pax header)
with fixed member times and modes and a gzip header without a time, so one seed always gives the
same bytes; each archive is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from corpus.app.sampling import Unit
from corpus.core.atomic import atomic_open
from corpus.core.errors import UserError
from corpus.github import linguist
from corpus.github.dependencies import FAMILY, components, dependencies, is_python_config, sample_language
from corpus.github.linguist_generated import generated_banner
from corpus.github.repo_reader import (
    LFS_POINTER,
    RawFile,
    classify_path,
    is_code_text,
    iter_folder,
    iter_tar,
    iter_zip,
)

#: member time in the sample archives (2020-01-01T00:00:00Z)
FIXED_MTIME = 1_577_836_800


@dataclass(frozen=True)
class RepoFile:
    path: str  # relative to the repository's top, as the reader gives it
    size: int
    kept: int  # bytes the reader's file rules keep: `size`, or 0 when they drop the file


@dataclass
class RepoFiles:
    """One repository's files, as read here."""

    unit: Unit
    files: list[RepoFile]
    commit: str | None = None
    license: str | None = None  # from its licence files, when the entry names none
    #: the import-connected components of more than one file the build will join (paths, sorted)
    joined: list[tuple[str, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class Piece:
    """What the sample takes whole or leaves: a joined component, or one file."""

    repo: str
    paths: tuple[str, ...]
    size: int
    kept: int


@dataclass
class FileSample:
    """The sample of a GitHub source: one unit per repository with picked files (its entry reads
    the sample archive; its size is the share of the source it stands for)."""

    units: list[Unit] = field(default_factory=list)
    files: int = 0  # files picked
    of_files: int = 0  # files read, in every repository
    repositories: int = 0  # repositories read

    @property
    def raw(self) -> int:
        return sum(u.size for u in self.units)


def kept_text(raw: RawFile, skip_generated: bool = True) -> str | None:
    """The text of a file the reader keeps by its file rules (see the module's docstring): the
    same checks, in the same order, as `GithubRepoReader._document`, without language
    identification; None for a file they drop."""
    if raw.refusal is not None or raw.data is None:
        return None
    data = raw.data
    if raw.size is not None or b"\x00" in data or data.startswith(LFS_POINTER):
        return None  # `size` is set only when a NUL in the first bytes cut the read short
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or text.isspace():
        return None
    if skip_generated and (
        linguist.classify_content(raw.path, text)
        or generated_banner(raw.path, text, prose=is_code_text(raw.path))
    ):
        return None
    return text


def _location(unit: Unit) -> tuple[str, str]:
    """(kind, local path) of a sized repository: `tar`, `zip` or `folder`."""
    entry = unit.entry if isinstance(unit.entry, dict) else {}
    if entry.get("archive"):
        path = str(entry["archive"])
        return ("zip" if path.lower().endswith(".zip") else "tar"), path
    if entry.get("path"):
        return "folder", str(entry["path"])
    raise UserError(f"sources.github: repository {unit.key} has no local archive or folder to sample")


def _iterate(unit: Unit, max_bytes: int, skip_generated: bool, info: dict[str, Any]) -> Iterator[RawFile]:
    kind, path = _location(unit)
    skip = classify_path if skip_generated else None
    if kind == "folder":
        return iter_folder(path, max_bytes, skip, info)
    if kind == "zip":
        return iter_zip(path, max_bytes, skip, info)
    return iter_tar(path, max_bytes, info, skip)


def read_repository(
    unit: Unit, max_bytes: int, skip_generated: bool = True, join: tuple[str, ...] = ()
) -> RepoFiles:
    """Every file of a repository with the bytes the reader's rules keep of it, and the components
    the build will join of the files in the `join` languages (told by extension, as the build
    tells a file that language identification left untagged)."""
    info: dict[str, Any] = {}
    files: list[RepoFile] = []
    seen: set[str] = set()
    families: dict[str, dict[str, str]] = {}  # family -> path -> text, of the files to join
    configs: dict[str, str] = {}
    try:
        for raw in _iterate(unit, max_bytes, skip_generated, info):
            if raw.refusal is not None or raw.data is None or raw.path in seen:
                continue  # dropped before it is read (or a repeated member): no work to sample
            seen.add(raw.path)
            size = raw.size if raw.size is not None else len(raw.data)
            text = kept_text(raw, skip_generated)
            files.append(RepoFile(raw.path, size, len(raw.data) if text is not None else 0))
            if text is None or not join:
                continue
            if is_python_config(raw.path):
                configs[raw.path] = text
            language = sample_language(raw.path, None)
            if language in join:
                families.setdefault(FAMILY[language], {})[raw.path] = text
    except (OSError, EOFError, tarfile.TarError, ValueError) as e:
        raise UserError(f"sources.github: cannot read repository {unit.key} to sample it ({e})") from None
    joined = [
        tuple(group)
        for family in sorted(families)
        for group in components(families[family], dependencies(family, families[family], configs))
        if len(group) > 1
    ]
    entry = unit.entry if isinstance(unit.entry, dict) else {}
    license = None if entry.get("license") else info.get("license")
    return RepoFiles(unit, files, info.get("commit"), license, joined)


def pieces(repo: RepoFiles) -> list[Piece]:
    """A repository's joined components, each one piece, and every other file a piece of its own."""
    by_path = {f.path: f for f in repo.files}
    out: list[Piece] = []
    grouped: set[str] = set()
    for group in repo.joined:
        members = [by_path[p] for p in group]
        out.append(Piece(repo.unit.key, group, sum(f.size for f in members), sum(f.kept for f in members)))
        grouped.update(group)
    out.extend(Piece(repo.unit.key, (f.path,), f.size, f.kept) for f in repo.files if f.path not in grouped)
    return out


def _rank(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big")


def pick_pieces(all_pieces: list[Piece], fraction: float, seed: int, source: str) -> list[Piece]:
    """`fraction` of the pieces: those the rules keep and those they drop apart, each sorted by size
    (largest first, ties by a hash of the repository and first path), cut into runs of 1/fraction
    pieces, one piece of each run chosen by a hash of the seed and the run's first piece (see the
    module's docstring). Runs are measured in positions, so a fraction whose inverse is not whole
    still gives every piece the same chance."""
    if fraction >= 1:
        return list(all_pieces)
    if fraction <= 0:
        return []
    width = 1.0 / fraction
    chosen: list[Piece] = []
    for part in ([p for p in all_pieces if p.kept], [p for p in all_pieces if not p.kept]):
        ordered = sorted(part, key=lambda p: (-p.size, _rank(seed, source, p.repo, p.paths[0]), p.repo))
        run = 0
        while int(run * width) < len(ordered):
            start = run * width
            first = ordered[int(start)]
            draw = _rank(seed, source, first.repo, "run", first.paths[0]) / 2**64
            at = int(start + width * draw)
            if at < len(ordered):  # the last run, shorter than the others, is taken as often
                chosen.append(ordered[at])
            run += 1
    return chosen


def archive_name(repo: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in repo.replace("/", "_")) + ".tar.gz"


def write_archive(repo: RepoFiles, paths: set[str], dest: str, max_bytes: int, skip_generated: bool) -> None:
    """The picked files of a repository as a GitHub-style tarball at `dest`, atomically."""
    top = archive_name(repo.unit.key).removesuffix(".tar.gz")
    pax = {"comment": repo.commit} if repo.commit else {}
    kind, root = _location(repo.unit)
    with (
        atomic_open(dest, "wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, pax_headers=pax) as tar,
    ):
        written: set[str] = set()
        for raw in _iterate(repo.unit, max_bytes, skip_generated, {}):
            if raw.path not in paths or raw.path in written or raw.data is None:
                continue
            written.add(raw.path)
            data = raw.data
            if raw.size is not None and kind == "folder":  # only its first bytes were read
                with open(os.path.join(root, raw.path), "rb") as f:
                    data = f.read()
            member = tarfile.TarInfo(f"{top}/{raw.path}")
            member.size, member.mtime, member.mode = len(data), FIXED_MTIME, 0o644
            member.uname = member.gname = "root"
            tar.addfile(member, io.BytesIO(data))


def sample_repositories(
    units: list[Unit],
    fraction: float,
    seed: int,
    folder: str,
    *,
    source: str = "github",
    max_bytes: int = 1_000_000,
    skip_generated: bool = True,
    join: tuple[str, ...] = (),
) -> FileSample:
    """`fraction` of the source's files, whole joined components and single files, as sample
    archives under `folder` (see the module's docstring); `join`: the languages the build joins
    into repository-level documents. At a fraction of 1 or more, the repositories themselves."""
    if fraction >= 1 or not units:
        return FileSample(list(units), repositories=len(units))
    repos = [read_repository(u, max_bytes, skip_generated, join) for u in units]
    kept_all = sum(f.kept for r in repos for f in r.files)

    def weight(f: RepoFile) -> int:
        return f.kept if kept_all else f.size

    whole = sum(weight(f) for r in repos for f in r.files)
    raw = sum(u.size for u in units)
    every = [p for r in repos for p in pieces(r)]
    picked = pick_pieces(every, fraction, seed, source)
    if not picked and every:  # under one piece in all: still one, one the rules keep
        candidates = [p for p in every if p.kept] or every
        picked = [min(candidates, key=lambda p: _rank(seed, source, p.repo, p.paths[0]))]
    picks: dict[str, set[str]] = {}
    for piece in picked:
        picks.setdefault(piece.repo, set()).update(piece.paths)
    sample = FileSample(repositories=len(repos), of_files=sum(len(r.files) for r in repos))
    for repo in repos:
        paths = picks.get(repo.unit.key)
        if not paths:
            continue
        dest = os.path.join(folder, archive_name(repo.unit.key))
        write_archive(repo, paths, dest, max_bytes, skip_generated)
        entry = {**repo.unit.entry, "archive": dest} if isinstance(repo.unit.entry, dict) else {}
        entry.pop("path", None)
        if repo.license:
            entry["license"] = repo.license
        share = sum(weight(f) for f in repo.files if f.path in paths)
        size = round(raw * share / whole) if whole else 0
        sample.units.append(Unit(repo.unit.key, size, entry))
        sample.files += len(paths)
    return sample
