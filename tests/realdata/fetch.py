"""Download the pinned real-code packages once and turn them into GitHub-style archives.

    python -m tests.realdata.fetch                    # fill the cache, print a summary
    python -m tests.realdata.fetch --cache DIR        # another cache folder
    python -m tests.realdata.fetch --recipe OUT.yaml  # also write recipes/real-code.yaml with
                                                      # absolute paths into the cache

Each file comes from its registry's ordinary client: `pip download` (the sdist only), `npm pack`,
`apt-get download`. Its sha256 must match the pin; a mismatch stops with a one-line error and a
non-zero exit. The file is kept in CACHE/downloads/ and re-packed as CACHE/<owner>-<name>-<version>
.tar.gz with exactly one top-level folder, sorted members, fixed owner, modes and times, and a gzip
header without a time or name, so the same pins always give byte-identical archives. A sidecar
CACHE/<archive>.json records the pin and the archive's own sha256; a present archive that matches
it is not made again, and a present download that matches its pin is not fetched again. Every file
is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import posixpath
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.realdata.packages import DEFAULT_CACHE, PACKAGES, Package, cache_dir

#: member times in the re-packed archives (2020-01-01T00:00:00Z)
FIXED_MTIME = 1_577_836_800
#: folders of a Debian package that hold no source: programs, manuals, translations
DEBIAN_SKIP = ("bin/", "sbin/", "games/", "share/man/", "share/info/", "share/locale/", "lib/debug/")
ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "real-code.yaml"


class FetchError(Exception):
    """A failure worth one line: a download that failed or a file whose hash is not the pin's."""


@dataclass(frozen=True)
class Archive:
    package: Package
    path: Path
    sha256: str
    files: int
    unpacked_bytes: int

    @property
    def packed_bytes(self) -> int:
        return self.path.stat().st_size


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.tmp-{os.getpid()}")


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        detail = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "")
        raise FetchError(f"{what}: `{' '.join(cmd[:4])} ...` exited {proc.returncode}: {detail}")


def _download_cmd(pkg: Package, dest: Path) -> list[str]:
    if pkg.registry == "pypi":
        # --no-binary for this package only: pip takes its sdist and never a wheel; the isolated
        # build environment pip sets up to read the sdist's metadata takes wheels as usual
        return [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            pkg.name,
            "--dest",
            str(dest),
            pkg.spec,
        ]
    if pkg.registry == "npm":
        return ["npm", "pack", "--silent", "--pack-destination", str(dest), pkg.spec]
    if pkg.registry == "debian":
        return ["apt-get", "download", "-q", pkg.spec]
    raise FetchError(f"{pkg.repo}: unknown registry {pkg.registry!r}")


def download(pkg: Package, downloads: Path) -> Path:
    """The pinned file in `downloads`, fetched unless a copy with the right hash is there."""
    for present in sorted(downloads.glob(f"{pkg.slug}.*")):
        if not present.name.startswith(".") and sha256_file(present) == pkg.sha256:
            return present
    with tempfile.TemporaryDirectory(prefix=".dl-", dir=downloads) as tmp:
        tmpdir = Path(tmp)
        cmd = _download_cmd(pkg, tmpdir)
        try:
            _run(cmd, tmpdir, pkg.repo)
        except FetchError:
            if pkg.registry != "debian" or not hasattr(os, "geteuid") or os.geteuid() != 0:
                raise
            _run(["apt-get", "update", "-qq"], tmpdir, "apt-get update")  # old package lists
            _run(cmd, tmpdir, pkg.repo)
        got = [p for p in tmpdir.iterdir() if p.is_file()]
        if len(got) != 1:
            raise FetchError(f"{pkg.repo}: expected one downloaded file, got {sorted(p.name for p in got)}")
        digest = sha256_file(got[0])
        if digest != pkg.sha256:
            raise FetchError(
                f"{pkg.repo}: sha256 mismatch for {got[0].name}: pinned {pkg.sha256}, downloaded {digest}"
            )
        suffix = "".join(got[0].suffixes[-2:]) if got[0].name.endswith(".tar.gz") else got[0].suffix
        dest = downloads / f"{pkg.slug}{suffix}"
        os.replace(got[0], dest)
    return dest


# -- re-packing ----------------------------------------------------------------------------------


def _clean(name: str) -> str | None:
    """A member path made relative and normal, or None when it would leave the tree."""
    name = name.replace("\\", "/").lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    norm = posixpath.normpath(name) if name else ""
    if not norm or norm == "." or norm == ".." or norm.startswith("../"):
        return None
    return norm


def _tar_files(tar: tarfile.TarFile) -> Iterator[tuple[str, bytes, bool]]:
    for member in tar:
        if not member.isfile():
            continue  # folders are recreated; links and devices are not source
        name = _clean(member.name)
        f = tar.extractfile(member)
        if name is None or f is None:
            continue
        yield name, f.read(), bool(member.mode & 0o111)


def _strip_single_top(files: dict[str, tuple[bytes, bool]]) -> dict[str, tuple[bytes, bool]]:
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        cut = len(tops.pop()) + 1
        return {name[cut:]: v for name, v in files.items()}
    return files


def read_source(pkg: Package, path: Path) -> dict[str, tuple[bytes, bool]]:
    """The downloaded file's regular files as {relative path: (content, executable)}, without the
    wrapping folder (an sdist's `name-version/`, npm's `package/`)."""
    files: dict[str, tuple[bytes, bool]] = {}
    if pkg.registry == "debian":
        proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(path)], capture_output=True, check=False)
        if proc.returncode != 0:
            raise FetchError(
                f"{pkg.repo}: dpkg-deb could not read {path.name}: {proc.stderr.decode().strip()}"
            )
        with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
            for name, data, exe in _tar_files(tar):
                if not name.startswith("usr/"):
                    continue
                rel = name[len("usr/") :]
                if rel.startswith(DEBIAN_SKIP) or data[:4] == b"\x7fELF":
                    continue
                files.setdefault(rel, (data, exe))
        return files
    with tarfile.open(path, mode="r:*") as tar:
        for name, data, exe in _tar_files(tar):
            files.setdefault(name, (data, exe))  # a repeated member: the first one is kept
    return _strip_single_top(files)


def write_archive(top: str, files: dict[str, tuple[bytes, bool]], dest: Path) -> str:
    """Write a deterministic .tar.gz of `files` under the one folder `top`; returns its sha256."""
    folders = {top}
    for name in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add(f"{top}/{'/'.join(parts[:i])}")
    entries = sorted(
        [(f, None) for f in folders] + [(f"{top}/{n}", files[n]) for n in files], key=lambda e: e[0]
    )
    tmp = _atomic_path(dest)
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name, content in entries:
                info = tarfile.TarInfo(name)
                info.mtime = FIXED_MTIME
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if content is None:
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
                else:
                    data, exe = content
                    info.size = len(data)
                    info.mode = 0o755 if exe else 0o644
                    tar.addfile(info, io.BytesIO(data))
        digest = sha256_file(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def _sidecar(cache: Path, pkg: Package) -> Path:
    return cache / f"{pkg.archive_name}.json"


def cached(cache: Path, pkg: Package) -> Archive | None:
    """The archive of `pkg` in `cache` when it is there and matches its pin and recorded digest."""
    dest, side = cache / pkg.archive_name, _sidecar(cache, pkg)
    if not dest.is_file() or not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("source_sha256") != pkg.sha256 or meta.get("top_folder") != pkg.top_folder:
        return None
    if sha256_file(dest) != meta.get("archive_sha256"):
        return None
    return Archive(pkg, dest, meta["archive_sha256"], meta["files"], meta["unpacked_bytes"])


def ensure_package(pkg: Package, cache: Path) -> Archive:
    """The package's archive in `cache`, downloaded and re-packed only when missing or stale."""
    hit = cached(cache, pkg)
    if hit is not None:
        return hit
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    source = download(pkg, downloads)
    files = read_source(pkg, source)
    if not files:
        raise FetchError(f"{pkg.repo}: {source.name} holds no files")
    dest = cache / pkg.archive_name
    digest = write_archive(pkg.top_folder, files, dest)
    archive = Archive(pkg, dest, digest, len(files), sum(len(d) for d, _ in files.values()))
    meta = {
        "repo": pkg.repo,
        "registry": pkg.registry,
        "spec": pkg.spec,
        "source": source.name,
        "source_sha256": pkg.sha256,
        "top_folder": pkg.top_folder,
        "archive_sha256": digest,
        "files": archive.files,
        "unpacked_bytes": archive.unpacked_bytes,
    }
    side = _sidecar(cache, pkg)
    tmp = _atomic_path(side)
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, side)
    return archive


def fetch_all(cache: str | os.PathLike[str] | None = None, jobs: int = 4) -> list[Archive]:
    """Every pinned package's archive, in pin order (downloads run `jobs` at a time)."""
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda p: ensure_package(p, root), PACKAGES))


def ensure(cache: str | os.PathLike[str] | None = None) -> Path:
    """Make sure every pinned archive is in the cache; returns the cache folder."""
    fetch_all(cache)
    return cache_dir(cache)


def archives(cache: str | os.PathLike[str] | None = None) -> list[Path]:
    """The archive paths in pin order (present or not; `ensure` makes them)."""
    root = cache_dir(cache)
    return [root / p.archive_name for p in PACKAGES]


def recipe_text(cache: str | os.PathLike[str] | None = None) -> str:
    """recipes/real-code.yaml with its `~/.cache/...` archive paths pointing into `cache`."""
    text = RECIPE.read_text()
    return text.replace(DEFAULT_CACHE + "/", str(cache_dir(cache)) + "/")


def write_recipe(out: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None) -> Path:
    dest = Path(out).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_path(dest)
    tmp.write_text(recipe_text(cache))
    os.replace(tmp, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.realdata.fetch", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cache", help=f"cache folder (default: $CODERFORGE_REAL_CODE or {DEFAULT_CACHE})")
    parser.add_argument("--recipe", metavar="OUT.yaml", help="write the recipe with absolute cache paths")
    parser.add_argument("--jobs", type=int, default=4, help="downloads at once")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        done = fetch_all(args.cache, args.jobs)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    packed = sum(a.packed_bytes for a in done)
    unpacked = sum(a.unpacked_bytes for a in done)
    files = sum(a.files for a in done)
    width = max(len(a.path.name) for a in done)
    for a in done:
        print(f"  {a.path.name:<{width}}  {a.files:5d} files  {a.unpacked_bytes / 1e6:6.2f} MB")
    print(
        f"real code: {len(done)} packages in {cache_dir(args.cache)}: {packed / 1e6:.1f} MB packed, "
        f"{unpacked / 1e6:.1f} MB unpacked, {files} files ({time.monotonic() - start:.1f} s)"
    )
    if args.recipe:
        print(f"recipe: {write_recipe(args.recipe, args.cache)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
