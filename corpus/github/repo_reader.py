"""Repositories into documents: one document per file, with the repository's story attached.

Sources are GitHub-style archives (.tar.gz tarballs with one top-level folder, or .zip), plain
folders (a checkout), or a git URL cloned shallowly with hooks disabled. Nothing from a repository
is ever executed or followed outside it: members with absolute or `..` paths, links and special
files are refused and recorded. Binary, oversized and non-UTF-8 files are recorded as drops too,
so `coderforge inspect` shows why each file did not become a document.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from datatrove.data import Document, DocumentsPipeline

from corpus.atomic import split_url
from corpus.schema import make_document
from corpus.story import StoryStep

#: extensions of code-related text (the paper's "code-related text" next to source files)
TEXT_EXTENSIONS = {".md", ".markdown", ".rst", ".txt", ".adoc", ".asciidoc", ".org", ".textile"}
TEXT_NAMES = {"readme", "changelog", "contributing", "authors", "history", "news", "todo"}


@dataclass
class RawFile:
    path: str
    data: bytes | None  # None when refused before reading
    refusal: tuple[str, str] | None = None  # (reason, detail)


def is_code_text(path: str) -> bool:
    base = posixpath.basename(path).lower()
    stem, ext = posixpath.splitext(base)
    return ext in TEXT_EXTENSIONS or (ext == "" and stem in TEXT_NAMES)


def safe_member_path(name: str) -> str | None:
    """The normalised relative path of an archive member, or None when it would escape."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _strip_top(paths: list[str]) -> str:
    """GitHub archives wrap everything in one `owner-name-sha/` folder: find it to strip it."""
    tops = {p.split("/", 1)[0] for p in paths if p}
    if len(tops) == 1 and all("/" in p or p in tops for p in paths if p):
        return tops.pop() + "/"
    return ""


def iter_tar(path: str, max_bytes: int) -> Iterator[RawFile]:
    with tarfile.open(path, mode="r:*") as tar:
        members = tar.getmembers()
        names = [safe_member_path(m.name) or "" for m in members]
        prefix = _strip_top([n for n, m in zip(names, members, strict=True) if not m.isdir()] or names)
        for member, norm in zip(members, names, strict=True):
            if member.isdir() or member.type in (tarfile.XGLTYPE, tarfile.XHDTYPE):
                continue
            rel = norm[len(prefix) :] if norm.startswith(prefix) else norm
            if not norm:
                yield RawFile(member.name, None, ("unsafe_path", member.name))
            elif member.issym() or member.islnk():
                yield RawFile(rel, None, ("symlink", f"{member.name} -> {member.linkname}"))
            elif not member.isfile():
                yield RawFile(rel, None, ("special_file", member.name))
            elif member.size > max_bytes:
                yield RawFile(rel, None, ("too_large", f"{member.size} bytes"))
            else:
                try:
                    f = tar.extractfile(member)
                    data = f.read() if f else b""
                except (tarfile.TarError, OSError, EOFError) as e:
                    yield RawFile(rel, None, ("corrupt_member", f"{type(e).__name__}: {e}"))
                    continue
                yield RawFile(rel, data)


def iter_zip(path: str, max_bytes: int) -> Iterator[RawFile]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = [safe_member_path(i.filename) or "" for i in infos]
        prefix = _strip_top(names)
        for info, norm in zip(infos, names, strict=True):
            rel = norm[len(prefix) :] if norm.startswith(prefix) else norm
            mode = (info.external_attr >> 16) & 0o170000
            if not norm:
                yield RawFile(info.filename, None, ("unsafe_path", info.filename))
            elif mode == 0o120000:
                yield RawFile(rel, None, ("symlink", info.filename))
            elif info.file_size > max_bytes:
                yield RawFile(rel, None, ("too_large", f"{info.file_size} bytes"))
            else:
                try:
                    data = zf.read(info)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                    yield RawFile(rel, None, ("corrupt_member", f"{type(e).__name__}: {e}"))
                    continue
                yield RawFile(rel, data)


def iter_folder(root: str, max_bytes: int) -> Iterator[RawFile]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                rel = os.path.relpath(os.path.join(dirpath, d), root).replace(os.sep, "/")
                yield RawFile(rel, None, ("symlink", rel))
        for fname in sorted(filenames):
            full = os.path.join(dirpath, fname)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if os.path.islink(full):
                yield RawFile(rel, None, ("symlink", f"{rel} -> {os.readlink(full)}"))
                continue
            st = os.lstat(full)
            if not os.path.isfile(full):
                yield RawFile(rel, None, ("special_file", rel))
            elif st.st_size > max_bytes:
                yield RawFile(rel, None, ("too_large", f"{st.st_size} bytes"))
            else:
                with open(full, "rb") as f:
                    yield RawFile(rel, f.read())


def shallow_clone(url: str, dest: str, commit: str | None = None) -> None:
    """`git clone --depth 1` with hooks, submodules, LFS smudging and prompts all off."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1"}
    base = ["git", "-c", "core.hooksPath=/dev/null", "-c", "protocol.file.allow=always"]
    cmd = [*base, "clone", "--quiet", "--no-tags", "--depth", "1", "--recurse-submodules=no", url, dest]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=600)
    if commit:
        subprocess.run(
            [*base, "-C", dest, "fetch", "--quiet", "--depth", "1", "origin", commit],
            check=True,
            env=env,
            capture_output=True,
            timeout=600,
        )
        subprocess.run(
            [*base, "-C", dest, "checkout", "--quiet", commit],
            check=True,
            env=env,
            capture_output=True,
            timeout=600,
        )


class GithubRepoReader(StoryStep):
    """Turn each repository of the recipe into one document per kept file."""

    name = "github reader"

    def __init__(
        self,
        repos: list[dict[str, Any]],
        max_file_bytes: int = 1_000_000,
        group: str = "code",
        text_group: str = "code",
    ) -> None:
        super().__init__()
        self.repos = list(repos)
        self.max_file_bytes = max_file_bytes
        self.group = group
        self.text_group = text_group

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if data:
            yield from data
        for repo in self.repos[rank::world_size]:
            yield from self._read_repo(repo)

    def _files(self, repo: dict[str, Any], workdir: str) -> Iterator[RawFile]:
        if repo.get("path"):
            yield from iter_folder(repo["path"], self.max_file_bytes)
            return
        if repo.get("url"):
            dest = os.path.join(workdir, "checkout")
            shallow_clone(repo["url"], dest, repo.get("commit"))
            yield from iter_folder(dest, self.max_file_bytes)
            return
        archive = repo["archive"]
        fs, p = split_url(archive)
        if "://" in archive:  # remote archive: fetch once into the work folder
            local = os.path.join(workdir, os.path.basename(p))
            fs.get(p, local)
            p = local
        if p.endswith(".zip"):
            yield from iter_zip(p, self.max_file_bytes)
        else:
            yield from iter_tar(p, self.max_file_bytes)

    def _read_repo(self, repo: dict[str, Any]) -> Iterator[Document]:
        name = repo["name"]
        workdir = tempfile.mkdtemp(prefix="coderforge-repo-")
        self.stat_update("repositories")
        try:
            for raw in self._files(repo, workdir):
                doc_id = f"github:{name}/{raw.path}"
                if raw.refusal:
                    self.drop(doc_id, *raw.refusal)
                    continue
                doc = self._document(repo, raw, doc_id)
                if doc is not None:
                    yield doc
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, subprocess.SubprocessError) as e:
            detail = (
                e.stderr.decode(errors="replace").strip()
                if isinstance(e, subprocess.CalledProcessError) and e.stderr
                else str(e)
            )
            self.stat_update("corrupt_repositories")
            self.drop(f"github:{name}", "corrupt_archive", f"{type(e).__name__}: {detail}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _document(self, repo: dict[str, Any], raw: RawFile, doc_id: str) -> Document | None:
        data = raw.data or b""
        if b"\x00" in data[:8192]:
            self.drop(doc_id, "binary", f"{len(data)} bytes")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            self.drop(doc_id, "not_utf8", str(e))
            return None
        if not text.strip():
            self.drop(doc_id, "empty")
            return None
        self.stat_update("documents_in")
        self.stat_update("bytes_in", value=len(data), unit="doc")
        kind = "text" if is_code_text(raw.path) else "code"
        return make_document(
            doc_id,
            text,
            source="github",
            group=self.text_group if kind == "text" else self.group,
            repo=repo["name"],
            path=raw.path,
            size=len(data),
            kind=kind,
            commit=repo.get("commit"),
            license=repo.get("license"),
            stars=repo.get("stars"),
            created_at=str(repo["created_at"]) if repo.get("created_at") else None,
        )
