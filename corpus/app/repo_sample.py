"""A share of every repository's files, written as sample archives for `coderforge estimate`.

A sample of whole repositories is only as typical as the few it holds: 10% of the real-code corpus
is 2 of its 15 repositories, and what a repository sends on to the later stages per byte of its
archive ranges from nothing (a package of generated C and pickled docs) to nearly all of it. Most
of a corpus's bytes can sit in a handful of files that the reader drops (an amalgamated header,
a pickle, a Cython-generated module): no whole-file sample of 10% holds a tenth of a 6 MB file.
So the sample takes files from every repository, and says how much of the source it stands for by
what the later stages grow with rather than by raw bytes:

- Every file of a repository is read once here and weighed by the bytes the reader's own file
  rules keep (`kept_bytes`: not binary, not a Git LFS pointer, UTF-8, not empty, not vendored,
  generated or minified by path, content or banner; language identification is left to the
  build). Files the reader refuses before reading them (links, special files, files over
  `max_file_bytes`) are left out of the sample: they cost the build a drop record, not work.
- Within a repository the files the rules keep and the ones they drop are picked apart, each
  sorted by size and cut into consecutive runs of 1/fraction files, and one file is taken from
  each run, chosen by a hash of the seed, the source, the repository and the run's first path
  (`pick_files`). The sample then holds the fraction of each repository's files, large and small
  alike, and every file has the same chance to be in it.
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


def kept_bytes(raw: RawFile, skip_generated: bool = True) -> int:
    """The bytes of a file the reader keeps by its file rules (see the module's docstring): the
    same checks, in the same order, as `GithubRepoReader._document`, without language
    identification; 0 for a file they drop."""
    if raw.refusal is not None or raw.data is None:
        return 0
    data = raw.data
    if raw.size is not None or b"\x00" in data or data.startswith(LFS_POINTER):
        return 0  # `size` is set only when a NUL in the first bytes cut the read short
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return 0
    if not text or text.isspace():
        return 0
    if skip_generated and (
        linguist.classify_content(raw.path, text)
        or generated_banner(raw.path, text, prose=is_code_text(raw.path))
    ):
        return 0
    return len(data)


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


def read_repository(unit: Unit, max_bytes: int, skip_generated: bool = True) -> RepoFiles:
    """Every file of a repository with the bytes the reader's rules keep of it."""
    info: dict[str, Any] = {}
    files: list[RepoFile] = []
    seen: set[str] = set()
    try:
        for raw in _iterate(unit, max_bytes, skip_generated, info):
            if raw.refusal is not None or raw.data is None or raw.path in seen:
                continue  # dropped before it is read (or a repeated member): no work to sample
            seen.add(raw.path)
            size = raw.size if raw.size is not None else len(raw.data)
            files.append(RepoFile(raw.path, size, kept_bytes(raw, skip_generated)))
    except (OSError, EOFError, tarfile.TarError, ValueError) as e:
        raise UserError(f"sources.github: cannot read repository {unit.key} to sample it ({e})") from None
    entry = unit.entry if isinstance(unit.entry, dict) else {}
    license = None if entry.get("license") else info.get("license")
    return RepoFiles(unit, files, info.get("commit"), license)


def _rank(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big")


def pick_files(files: list[RepoFile], fraction: float, seed: int, source: str, repo: str) -> list[str]:
    """Paths of `fraction` of a repository's files: the kept and the dropped apart, each sorted by
    size (largest first, ties by a hash of the path), cut into runs of 1/fraction files, one file
    of each run chosen by a hash of the seed and the run's first path (see the module's
    docstring). Runs are measured in file positions, so a fraction whose inverse is not whole
    still gives every file the same chance."""
    if fraction >= 1:
        return [f.path for f in files]
    if fraction <= 0:
        return []
    width = 1.0 / fraction
    chosen: dict[str, None] = {}
    for part in ([f for f in files if f.kept], [f for f in files if not f.kept]):
        ordered = sorted(part, key=lambda f: (-f.size, _rank(seed, source, repo, f.path)))
        run = 0
        while int(run * width) < len(ordered):
            start = run * width
            draw = _rank(seed, source, repo, "run", ordered[int(start)].path) / 2**64
            at = int(start + width * draw)
            if at < len(ordered):  # the last run, shorter than the others, is taken as often
                chosen[ordered[at].path] = None
            run += 1
    return list(chosen)


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
) -> FileSample:
    """`fraction` of every repository's files, as sample archives under `folder` (see the module's
    docstring); at a fraction of 1 or more, the repositories themselves."""
    if fraction >= 1 or not units:
        return FileSample(list(units), repositories=len(units))
    repos = [read_repository(u, max_bytes, skip_generated) for u in units]
    kept_all = sum(f.kept for r in repos for f in r.files)

    def weight(f: RepoFile) -> int:
        return f.kept if kept_all else f.size

    whole = sum(weight(f) for r in repos for f in r.files)
    raw = sum(u.size for u in units)
    picks = {r.unit.key: pick_files(r.files, fraction, seed, source, r.unit.key) for r in repos}
    if not any(picks.values()):  # under one file per repository: still one, one the rules keep
        candidates = [(r, f) for r in repos for f in r.files if f.kept] or [
            (r, f) for r in repos for f in r.files
        ]
        if candidates:
            repo, first = min(candidates, key=lambda rf: _rank(seed, source, rf[0].unit.key, rf[1].path))
            picks[repo.unit.key] = [first.path]
    sample = FileSample(repositories=len(repos), of_files=sum(len(r.files) for r in repos))
    for repo in repos:
        paths = set(picks[repo.unit.key])
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
