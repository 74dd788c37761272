"""How big each source of a recipe is, and which of its inputs make a sample of it.

`coderforge estimate` builds a sample and scales what it measured by the ratio of full to sampled
bytes, source by source, so it needs two things per source: the bytes of the full inputs, and a
choice of real inputs (whole files: a repository's files, a WARC file, a text file; never part of
a file, so every stage sees real inputs) that holds a given share of them.

Sizes come from the inputs themselves where they can be read here: a local file's or folder's
size, an fsspec URL's `size` (s3://, gs://, ...; plain http(s) is not asked, it could be slow or
unreachable), a repository list's `size_kb`. What cannot be read is assumed, and says so:
repositories a GitHub search or an activity list (GH Archive) would find (`--repos N`, each the
mean size of the sized ones unless `--repo-bytes` is given) and Common Crawl crawl ids (`cc://CC-MAIN-...`: `CC_WARC_FILES` files of
`CC_WARC_BYTES` each, narrowed by `segments=`/`first=` or counted from a local `paths_file`).
`--source-bytes SOURCE=SIZE` replaces any of it.

The sample of a GitHub source is files from every repository, not whole repositories
(`corpus.app.repo_sample`): 10% of the real-code corpus as whole repositories is 2 of its 15
(flask and ply), which sent 32% more bytes per archive byte on to the later stages than the corpus
does, and no draw of a few whole repositories is typical of the rest. There a share of each
repository's files, picked by size runs and a seeded hash, is written as a sample archive, and the
sample stands for the share of the kept bytes (what the reader's file rules keep) that it holds.

Other sources (WARC files, text files) are sampled as whole inputs (`pick`), whose insides are not
read here: inputs are put in an order fixed by the seed (sha256 of seed, source and input name, so
adding an input never reshuffles the others) and taken whole, in that order, until the source's
share of the sample is reached; the last one is kept only if that lands closer to the share than
stopping before it. Within a source every input has the same chance, whatever its size: ordering
by size-weighted draws (the textbook design for a ratio estimate) put a single repository, the
one whose 5 MB generated header is dropped, as the whole 10% sample of the real-code corpus, and
the fewer inputs a sample holds the less it resembles the rest. Across sources the sample is
size-weighted: each source gets the same fraction of its bytes (with `--sample-bytes N`, N is
split between the sources by their size), so the sample mixes the sources as the full build does.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from corpus.commoncrawl.sources import read_paths_file
from corpus.core.atomic import split_url
from corpus.core.errors import UserError
from corpus.github.repo_lists import load_repo_lists

#: Common Crawl's main crawls since 2018 are cut into 100 segments of 900 WARC files each (their
#: `warc.paths.gz` lists 90,000 files; CC-MAIN-2023-40 and -50 are laid out so), and a WARC file is
#: about 1.1 GiB compressed (~100 TiB a crawl, as the crawl announcements on commoncrawl.org give
#: it). Assumed, not read: the paths file is on the network. A `paths_file=` on local disk is
#: counted instead, and `--source-bytes commoncrawl=SIZE` replaces the total.
CC_SEGMENTS = 100
CC_FILES_PER_SEGMENT = 900
CC_WARC_FILES = CC_SEGMENTS * CC_FILES_PER_SEGMENT
CC_WARC_BYTES = int(1.1 * 1024**3)
CC_WET_BYTES = int(0.15 * 1024**3)  # WET (text only) files are about a seventh of the WARC's

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str, what: str) -> int:
    """`500GB`, `2.5TiB`, `1200000`: a number and an optional unit (k, M, G, T, P: powers of
    1000; with an i, KiB ... PiB, powers of 1024)."""
    m = _SIZE.match(text)
    if not m:
        raise UserError(f"{what}: {text!r} is not a size (a number and a unit such as 500GB or 2TiB)")
    number, prefix, binary = float(m.group(1)), m.group(2).lower(), m.group(3)
    base = 1024 if binary else 1000
    return int(number * base ** " kmgtp".index(prefix or " "))


@dataclass(frozen=True)
class Unit:
    """One whole input: a repository, a WARC file, a text file."""

    key: str  # path, URL or repository name
    size: int
    #: where the build reads it from (a recipe's repos entry for GitHub, else the path or URL)
    entry: dict | str = ""


@dataclass
class SourceSize:
    source: str
    units: list[Unit] = field(default_factory=list)  # the inputs that can be sampled (local, sized)
    total: int = 0  # bytes of the full source
    inputs: int = 0  # inputs of the full source (repositories, files)
    how: list[str] = field(default_factory=list)  # where each part of `total` came from
    assumed: bool = False  # some of `total` is an assumption, not read from the inputs

    @property
    def note(self) -> str:
        return "; ".join(self.how)


def path_size(path: str) -> int | None:
    """Bytes of a local file or folder (its regular files, links not followed), or of an fsspec
    URL's object; None where asking would go over http(s) or the input is not there."""
    if "://" in path:
        if path.split("://", 1)[0] in ("http", "https"):
            return None
        try:
            fs, p = split_url(path)
            return int(fs.size(p))
        except (OSError, ValueError, ImportError):
            return None
    if os.path.isfile(path):
        return os.path.getsize(path)
    if os.path.isdir(path):
        total = 0
        for root, _, files in os.walk(path):
            for name in files:
                full = os.path.join(root, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    total += os.path.getsize(full)
        return total
    return None


def expand(base: Path, pattern: str) -> list[str]:
    """A recipe path as the build would read it: relative to the recipe's folder, globs expanded."""
    if "://" in pattern:
        return [pattern]
    path = os.path.expanduser(pattern)
    if not os.path.isabs(path):
        path = str((base / path).resolve())
    if any(c in path for c in "*?["):
        return sorted(h for h in glob.glob(path, recursive=True) if os.path.isfile(h))
    return [path]


def crawl_files(url: str) -> tuple[int, int, str]:
    """(files, bytes, how) of a `cc://CRAWL/warc?...` input, without the network."""
    parts = urlsplit(url)
    kind = parts.path.strip("/") or "warc"
    query = parse_qs(parts.query)
    each = CC_WET_BYTES if kind == "wet" else CC_WARC_BYTES
    paths_file = (query.get("paths_file") or [None])[0]
    segments = [s for v in query.get("segments", []) for s in v.split(",") if s]
    first = query.get("first")
    if paths_file and "://" not in paths_file and os.path.isfile(paths_file):
        lines = read_paths_file(paths_file)
        if segments:
            lines = [p for p in lines if any(f"/segments/{s}/" in p for s in segments)]
        files, how = len(lines), f"{parts.netloc}: {len(lines):,} files counted in {paths_file}"
    elif segments:
        files = len(segments) * CC_FILES_PER_SEGMENT
        how = f"{parts.netloc}: {len(segments)} segments x {CC_FILES_PER_SEGMENT} files (assumed)"
    else:
        files, how = CC_WARC_FILES, f"{parts.netloc}: {CC_WARC_FILES:,} {kind} files (assumed)"
    if first:
        try:
            files = min(files, int(first[0]))
        except ValueError:
            raise UserError(f"{url}: first must be a number of files") from None
        how += f", first {files:,}"
    return files, files * each, f"{how} of {each / 1024**3:.2f} GiB (assumed)"


def size_files(source: str, patterns: list[str], base: Path) -> SourceSize:
    """WARC or text inputs: every file's own size; crawl ids by `crawl_files`."""
    out = SourceSize(source)
    missing: list[str] = []
    for pattern in patterns:
        if pattern.startswith("cc://"):
            files, total, how = crawl_files(pattern)
            out.total += total
            out.inputs += files
            out.how.append(how)
            out.assumed = True
            continue
        hits = expand(base, pattern)
        if not hits:
            missing.append(pattern)
        for hit in hits:
            size = path_size(hit)
            if size is None:
                missing.append(hit)
                continue
            out.total += size
            out.inputs += 1
            if "://" not in hit:
                out.units.append(Unit(hit, size, hit))
    if missing:
        out.how.append(
            f"not found or not sized here: {', '.join(missing[:2])}{' ...' if len(missing) > 2 else ''}"
        )
    if out.inputs and not out.assumed and not missing:
        out.how.append(f"{out.inputs:,} files, sizes read")
    out.assumed = out.assumed or bool(missing)
    return out


def size_github(
    gh: object, base: Path, repos: int | None = None, repo_bytes: int | None = None
) -> SourceSize:
    """Repositories of the recipe (and its list files): archive or folder sizes, a list's
    `size_kb`; those that cannot be sized here (git URLs, tarball URLs, a search) count at the
    mean of the sized ones, or `repo_bytes`. `repos` is the whole number of repositories (what a
    search or an activity list would give); without it, the listed ones are all there is."""
    out = SourceSize("github")
    entries: list[dict] = [r.model_dump(mode="json", exclude_none=True) for r in gh.repos]  # type: ignore[attr-defined]
    curation = gh.curation  # type: ignore[attr-defined]
    lists = [p for pat in curation.lists for p in expand(base, pat)]
    if lists:
        entries += load_repo_lists(lists, curation.fetch.method, "https://api.github.com")
    sized, unsized = 0, 0
    for entry in entries:
        size = None
        if entry.get("size_kb"):
            size = int(entry["size_kb"]) * 1024
        for key in ("archive", "path"):
            if size is None and entry.get(key):
                location = expand(base, entry[key])[0]
                size = path_size(location)
                if size is not None and "://" not in location:
                    out.units.append(Unit(entry["name"], size, {**entry, key: location}))
        if size is None:
            unsized += 1
        else:
            sized += 1
            out.total += size
    mean = repo_bytes if repo_bytes is not None else (out.total // sized if sized else None)
    if sized:
        out.how.append(f"{sized:,} repositories sized from their archives, folders or size_kb")
    extra = unsized
    if repos is not None:
        extra = max(0, repos - sized)
    else:
        # repositories found when the build runs (a search, an activity list such as GH Archive's)
        found = [k for k in ("search", "gharchive") if getattr(curation, k, None) is not None]
        if found:
            raise UserError(
                f"sources.github.curation.{found[0]}: the repositories it finds cannot be counted here; "
                "give --repos N (and --repo-bytes SIZE) or --source-bytes github=SIZE"
            )
    if extra:
        if mean is None:
            raise UserError(
                f"sources.github: {extra:,} repositories cannot be sized here and none can be measured: "
                "give --repo-bytes SIZE or --source-bytes github=SIZE"
            )
        out.total += extra * mean
        src = "--repo-bytes" if repo_bytes is not None else "the mean of the sized ones"
        out.how.append(f"{extra:,} repositories at {mean / 1e6:.2f} MB each ({src}; assumed)")
        out.assumed = True
    out.inputs = sized + extra
    return out


def pick(units: list[Unit], target: int, seed: int, source: str) -> list[Unit]:
    """Whole inputs in the seed's order until `target` bytes (see the module's docstring): the
    sample of WARC and text sources."""
    if not units:
        return []

    def order(u: Unit) -> str:
        return hashlib.sha256(f"{seed}\0{source}\0{u.key}".encode()).hexdigest()

    chosen: list[Unit] = []
    total = 0
    for unit in sorted(units, key=order):
        if chosen and total >= target:
            break
        if chosen and abs(total + unit.size - target) > abs(total - target):
            break
        chosen.append(unit)
        total += unit.size
    return chosen


def sample_targets(
    sizes: dict[str, SourceSize], fraction: float | None, total_bytes: int | None
) -> dict[str, int]:
    """Bytes to sample from each source: the same fraction of each one's inputs that can be read."""
    local = {s: sum(u.size for u in size.units) for s, size in sizes.items()}
    if total_bytes is not None:
        whole = sum(local.values()) or 1
        return {s: int(total_bytes * n / whole) for s, n in local.items()}
    f = 1.0 if fraction is None else fraction
    return {s: int(n * f) for s, n in local.items()}
