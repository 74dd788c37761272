"""Repositories into documents: one document per file, with the repository's story attached.

Sources are GitHub-style archives (.tar.gz tarballs with one top-level folder, or .zip), plain
folders (a checkout), a git URL cloned shallowly, or an archive URL (the API's tarball endpoint);
`corpus.github.fetch` gets them onto disk, resumably and under a size cap. Nothing from a
repository is ever executed or followed outside it: members with absolute or `..` paths, links and
special files are refused and recorded. Binary, oversized, non-UTF-8, Git LFS pointer, vendored,
generated and minified files (the last three by GitHub linguist's rules, see `linguist.py`) are
recorded as drops too, so `coderforge inspect` shows why each file did not become a document.
A repository that cannot be fetched or read is recorded with its error and the run goes on.

Drop reasons (`drops/github-reader/*.parquet`), per file: `symlink`, `special_file`,
`unsafe_path` (absolute or `..` member), `bad_path_encoding`, `duplicate_path`, `too_large`,
`unreadable`, `corrupt_member`, `binary` (NUL in the first 8 KiB), `lfs_pointer`, `not_utf8`,
`empty`, `vendored`, `generated`, `minified`; per repository (id `github:owner/name`):
`fetch_failed` (clone or download error, size cap), `corrupt_archive` (damaged or cut archive,
after its readable members were kept), `duplicate_repository`.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import shutil
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from datatrove.data import Document, DocumentsPipeline

from classifiers.langid import detect
from corpus.core.atomic import split_url
from corpus.core.schema import make_document
from corpus.core.story import StoryStep
from corpus.github import linguist
from corpus.github.config import GithubSource
from corpus.github.fetch import Fetcher, FetchError
from corpus.github.licenses import LICENSE_FILE, identify_license, is_license_file

#: extensions of code-related text (the paper's "code-related text" next to source files)
TEXT_EXTENSIONS = {".md", ".markdown", ".rst", ".txt", ".adoc", ".asciidoc", ".org", ".textile"}
TEXT_NAMES = {"readme", "changelog", "contributing", "authors", "history", "news", "todo"}
#: language labels of prose formats: such files are code-related text whatever their name
TEXT_LABELS = {
    "Markdown",
    "reStructuredText",
    "Text",
    "AsciiDoc",
    "Org",
    "Textile",
    "RDoc",
    "Pod",
    "Pod 6",
    "POD",
    "MediaWiki",
    "Creole",
    "Wikitext",
}
#: first line of a Git LFS pointer file (the content itself lives on an LFS server)
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


class TruncatedArchive(Exception):
    """An archive that ends early or is damaged after some readable members."""


#: decides from a path alone that a file is not wanted: (reason, detail) or None
PathFilter = Callable[[str], "tuple[str, str] | None"]


#: a NUL byte among a file's first this many bytes makes it binary (git's and linguist's test)
BINARY_PROBE = 8192
#: bytes asked for by the first read of a file: most source files fit, and are read in one call
_FIRST_READ = 64 * 1024


@dataclass
class RawFile:
    path: str
    data: bytes | None  # None when refused before reading
    refusal: tuple[str, str] | None = None  # (reason, detail)
    #: the whole file's size when `data` is only its first `BINARY_PROBE` bytes (a binary file,
    #: which is dropped without reading the rest)
    size: int | None = None


def is_code_text(path: str) -> bool:
    base = path[path.rfind("/") + 1 :].lower()  # posixpath.basename
    dot = base.rfind(".")
    if dot > 0 and base[:dot].lstrip("."):  # posixpath.splitext: leading dots start no extension
        return base[dot:] in TEXT_EXTENSIONS
    return base in TEXT_NAMES


def safe_member_path(name: str) -> str | None:
    """The normalised relative path of an archive member, or None when it would escape."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _printable(path: str) -> str:
    """`path` itself when it is valid text; otherwise undecodable bytes shown as escapes, so that
    even a record about a badly named file can be written."""
    if path.isascii():  # the common case, decided without encoding
        return path
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _maybe_license(name: str) -> bool:
    """A member that could be the top-level license file (at most one folder deep: the archive's
    wrapping folder); `_note_license` keeps only the one at the repository's top."""
    parts = [p for p in name.split("/") if p]
    return 1 <= len(parts) <= 2 and LICENSE_FILE.match(parts[-1]) is not None


def _note_license(info: dict[str, Any], candidates: dict[str, bytes]) -> None:
    """Record the SPDX id of the first recognised top-level license file, by name order."""
    for rel in sorted(candidates):
        if not is_license_file(rel):
            continue
        spdx = identify_license(candidates[rel].decode("utf-8", "replace"))
        if spdx:
            info["license"], info["license_file"] = spdx, rel
            return


def _strip_top(paths: list[str]) -> str:
    """GitHub archives wrap everything in one `owner-name-sha/` folder: find it to strip it."""
    tops = {p.split("/", 1)[0] for p in paths if p}
    if len(tops) == 1 and all("/" in p or p in tops for p in paths if p):
        return tops.pop() + "/"
    return ""


def iter_tar(
    path: str, max_bytes: int, info: dict[str, Any] | None = None, skip: PathFilter | None = None
) -> Iterator[RawFile]:
    """Members of a tarball; `info["commit"]` is set from GitHub's pax header when present.

    A truncated or damaged archive yields every member that could be read before the damage and
    then raises `TruncatedArchive`, so the repository is recorded as corrupt without losing
    what was readable (the same policy as for cut JSONL and WARC files)."""
    with tarfile.open(path, mode="r:*") as tar:
        members: list[tarfile.TarInfo] = []
        licenses: dict[str, bytes] = {}
        damage: BaseException | None = None
        try:
            for member in tar:
                members.append(member)
                if (
                    info is not None
                    and _maybe_license(member.name)
                    and member.isfile()
                    and member.size < 1 << 20
                ):
                    f = tar.extractfile(member)  # read now, while the stream is here: no rewind
                    if f is not None:
                        licenses[safe_member_path(member.name) or ""] = f.read()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            damage = e
        comment = tar.pax_headers.get("comment", "") if tar.pax_headers else ""
        if info is not None and len(comment) == 40 and all(c in "0123456789abcdef" for c in comment):
            info["commit"] = comment
        names = [safe_member_path(m.name) or "" for m in members]
        prefix = _strip_top([n for n, m in zip(names, members, strict=True) if not m.isdir()] or names)
        if info is not None:
            _note_license(
                info, {n[len(prefix) :] if n.startswith(prefix) else n: t for n, t in licenses.items()}
            )
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
            elif skip and (why := skip(rel)):
                yield RawFile(rel, None, why)
            elif member.size > max_bytes:
                yield RawFile(rel, None, ("too_large", f"{member.size} bytes"))
            else:
                try:
                    f = tar.extractfile(member)
                    data = f.read() if f else b""
                except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
                    yield RawFile(rel, None, ("corrupt_member", f"{type(e).__name__}: {e}"))
                    continue
                yield RawFile(rel, data)
        if damage is not None:
            raise TruncatedArchive(f"{type(damage).__name__}: {damage} (after {len(members)} members)")


def iter_zip(
    path: str, max_bytes: int, skip: PathFilter | None = None, info: dict[str, Any] | None = None
) -> Iterator[RawFile]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = [safe_member_path(i.filename) or "" for i in infos]
        prefix = _strip_top(names)
        if info is not None:
            found = {}
            for zi, norm in zip(infos, names, strict=True):
                rel = norm[len(prefix) :] if norm.startswith(prefix) else norm
                if is_license_file(rel) and zi.file_size < 1 << 20:
                    with contextlib.suppress(zipfile.BadZipFile, OSError, EOFError, ValueError):
                        found[rel] = zf.read(zi)
            _note_license(info, found)
        for info, norm in zip(infos, names, strict=True):
            rel = norm[len(prefix) :] if norm.startswith(prefix) else norm
            mode = (info.external_attr >> 16) & 0o170000
            if not norm:
                yield RawFile(info.filename, None, ("unsafe_path", info.filename))
            elif mode == 0o120000:
                yield RawFile(rel, None, ("symlink", info.filename))
            elif skip and (why := skip(rel)):
                yield RawFile(rel, None, why)
            elif info.file_size > max_bytes:
                yield RawFile(rel, None, ("too_large", f"{info.file_size} bytes"))
            else:
                try:
                    data = zf.read(info)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                    yield RawFile(rel, None, ("corrupt_member", f"{type(e).__name__}: {e}"))
                    continue
                yield RawFile(rel, data)


def _read_capped(path: str, max_bytes: int, probe: bool = False) -> tuple[bytes | None, int]:
    """(content, size) of a file, or (None, size) when it is over the cap. Opened without
    following a symlink that replaced it after it was listed. A regular file's read returns less
    than asked only at its end, so a file under `_FIRST_READ` bytes is read whole by its first
    read, without asking its size: fewer system calls than `open().read()`. A longer one is sized
    with fstat on the open file and read in one more call.

    With `probe`, a longer file whose first `BINARY_PROBE` bytes hold a NUL (a binary file,
    dropped unread by the caller) is not read further: only its first bytes come back, with the
    full size, so a tree's libraries and images are not read in full."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        first = os.read(fd, _FIRST_READ)
        if len(first) < _FIRST_READ:
            return (None, len(first)) if len(first) > max_bytes else (first, len(first))
        size = os.fstat(fd).st_size
        if size > max_bytes:
            return None, size
        if probe and b"\x00" in first[:BINARY_PROBE]:
            return first, size
        rest = os.read(fd, max(size - len(first), 0) + 1)
        if len(first) + len(rest) == size:  # short of the extra byte asked for: the end
            return first + rest, size
        chunks = [first, rest]
        while chunks[-1] and sum(map(len, chunks)) <= max_bytes:
            chunks.append(os.read(fd, 1 << 20))
        data = b"".join(chunks)
        return (None, len(data)) if len(data) > max_bytes else (data, len(data))
    finally:
        os.close(fd)


_entry_name = operator.attrgetter("name")


def iter_folder(
    root: str, max_bytes: int, skip: PathFilter | None = None, info: dict[str, Any] | None = None
) -> Iterator[RawFile]:
    """Files of a checkout in sorted order (a folder's files, then its sub-folders). `.git` is
    skipped; symlinks (to files or folders) are recorded and never followed; special files refused."""
    if info is not None:
        found = {}
        for entry in os.scandir(root):
            if is_license_file(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    data, _size = _read_capped(entry.path, 1 << 20)
                    if data is not None:
                        found[entry.name] = data
        _note_license(info, found)
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        entries = sorted(os.scandir(folder), key=_entry_name)
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            regular = entry.is_file(follow_symlinks=False)  # most entries: one test, not three
            if not regular and entry.is_symlink():
                yield RawFile(rel, None, ("symlink", f"{rel} -> {os.readlink(entry.path)}"))
            elif not regular and entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    subdirs.append((rel + "/", entry.path))
            elif not regular:
                yield RawFile(rel, None, ("special_file", rel))
            elif skip and (why := skip(rel)):
                yield RawFile(rel, None, why)  # decided by name: never read
            else:
                try:
                    data, size = _read_capped(entry.path, max_bytes, probe=True)
                except OSError as e:
                    yield RawFile(rel, None, ("unreadable", f"{type(e).__name__}: {e}"))
                    continue
                if data is None:
                    yield RawFile(rel, None, ("too_large", f"{size} bytes"))
                else:
                    yield RawFile(rel, data, size=size if len(data) != size else None)
        stack.extend(reversed(subdirs))


class GithubRepoReader(StoryStep):
    """Turn each repository into one document per kept file.

    Repositories come from `repos` (the recipe's list) and, when given, `repo_list`: a JSON-lines
    file of the same entries written by the search stage, read when the step runs. Task `rank`
    takes repositories rank, rank + world_size, ... of the combined list.
    """

    name = "github reader"

    def __init__(
        self,
        repos: list[dict[str, Any]],
        max_file_bytes: int = 1_000_000,
        group: str = "code",
        text_group: str = "code",
        *,
        repo_list: str | None = None,
        fetcher: Fetcher | None = None,
        skip_generated: bool = True,
        languages: bool = True,
    ) -> None:
        super().__init__()
        self.repos = list(repos)
        self.max_file_bytes = max_file_bytes
        self.group = group
        self.text_group = text_group
        self.repo_list = repo_list
        self.fetcher = fetcher or Fetcher()
        self.skip_generated = skip_generated
        self.languages = languages

    @classmethod
    def for_recipe(
        cls,
        gh: GithubSource,
        output: str,
        repos: list[dict[str, Any]] | None = None,
        repo_list: str | None = None,
    ) -> GithubRepoReader:
        """A reader that follows a recipe's `sources.github` section: its repositories (unless
        `repos` is given), file-size cap, groups, and `curation` (fetch cache under
        OUTPUT/github/cache, size cap, linguist skipping, language tags)."""
        cur = gh.curation
        cache = cur.fetch.cache or f"{output.rstrip('/')}/github/cache"
        fetcher = Fetcher(
            cache_dir=f"{cache}/repos",
            api_url=cur.search.api_url if cur.search else "https://api.github.com",
            token_env=cur.search.token_env if cur.search else "GITHUB_TOKEN",
            max_repo_bytes=cur.fetch.max_repo_bytes,
            timeout_s=cur.fetch.timeout_s,
        )
        if repos is None:
            repos = [r.model_dump(mode="json") for r in gh.repos]
        return cls(
            repos,
            gh.max_file_bytes,
            gh.group,
            gh.text_group,
            repo_list=repo_list,
            fetcher=fetcher,
            skip_generated=cur.skip_generated,
            languages=cur.languages,
        )

    def all_repos(self) -> list[dict[str, Any]]:
        repos = list(self.repos)
        if self.repo_list:
            fs, p = split_url(self.repo_list)
            with fs.open(p, "rt", encoding="utf-8") as f:
                repos += [json.loads(line) for line in f if line.strip()]
        return repos

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if data:
            yield from data
        seen: set[str] = set()
        for index, repo in enumerate(self.all_repos()):
            if repo["name"] in seen:  # the same repository twice would double its documents
                if index % world_size == rank:
                    self.drop(f"github:{repo['name']}", "duplicate_repository", "listed more than once")
                continue
            seen.add(repo["name"])
            if index % world_size == rank:
                yield from self._read_repo(repo)

    def _files(self, repo: dict[str, Any], info: dict[str, Any]) -> Iterator[RawFile]:
        fetched = self.fetcher.fetch(repo)
        info["commit"] = fetched.commit
        info["temporary"] = fetched.temporary
        skip = linguist.classify_path if self.skip_generated else None
        if fetched.kind == "folder":
            yield from iter_folder(fetched.path, self.max_file_bytes, skip, info)
        elif fetched.kind == "zip":
            yield from iter_zip(fetched.path, self.max_file_bytes, skip, info)
        else:
            yield from iter_tar(fetched.path, self.max_file_bytes, info, skip)

    def _read_repo(self, repo: dict[str, Any]) -> Iterator[Document]:
        name = repo["name"]
        info: dict[str, Any] = {"commit": repo.get("commit")}
        self.stat_update("repositories")
        try:
            paths: set[str] = set()
            for raw in self._files(repo, info):
                printable = _printable(raw.path)
                doc_id = f"github:{name}/{printable}"
                if raw.refusal:
                    self.drop(doc_id, *raw.refusal)
                    continue
                if printable != raw.path:  # a name that is not valid UTF-8
                    self.drop(doc_id, "bad_path_encoding", "the file name is not UTF-8")
                    continue
                if raw.path in paths:  # tarballs may repeat a member: the first one is kept
                    self.drop(doc_id, "duplicate_path", "a second archive member with this path")
                    continue
                paths.add(raw.path)
                doc = self._document(repo, raw, doc_id, info)
                if doc is not None:
                    yield doc
        except FetchError as e:
            self.stat_update("failed_repositories")
            self.drop(f"github:{name}", "fetch_failed", str(e))
        except (
            tarfile.TarError,
            zipfile.BadZipFile,
            TruncatedArchive,
            EOFError,
            OSError,
            zlib.error,
            subprocess.SubprocessError,
        ) as e:
            self.stat_update("corrupt_repositories")
            self.drop(f"github:{name}", "corrupt_archive", f"{type(e).__name__}: {e}")
        finally:
            if info.get("temporary"):
                shutil.rmtree(info["temporary"], ignore_errors=True)

    def _document(
        self, repo: dict[str, Any], raw: RawFile, doc_id: str, info: dict[str, Any]
    ) -> Document | None:
        data = raw.data or b""
        if data.find(b"\x00", 0, BINARY_PROBE) >= 0:
            self.drop(doc_id, "binary", f"{len(data) if raw.size is None else raw.size} bytes")
            return None
        if data.startswith(LFS_POINTER):
            self.drop(doc_id, "lfs_pointer", data[:200].decode("utf-8", "replace").replace("\n", " ").strip())
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            self.drop(doc_id, "not_utf8", str(e))
            return None
        if not text or text.isspace():  # no copy of the text, unlike strip()
            self.drop(doc_id, "empty")
            return None
        if self.skip_generated:
            verdict = linguist.classify_content(raw.path, text)
            if verdict:
                self.drop(doc_id, *verdict)
                return None
        language, label = None, None
        if self.languages:
            found = detect(raw.path, data)
            language, label = found.language, found.label
        self.stat_update("documents_in")
        self.stat_update("bytes_in", value=len(data), unit="doc")
        kind = "text" if is_code_text(raw.path) or (label or language) in TEXT_LABELS else "code"
        return make_document(
            doc_id,
            text,
            source="github",
            group=self.text_group if kind == "text" else self.group,
            language=language,
            language_label=label if label != language else None,
            repo=repo["name"],
            path=raw.path,
            size=len(data),
            kind=kind,
            documentation=True if linguist.documentation(raw.path) else None,
            commit=info.get("commit"),
            license=repo.get("license") or info.get("license"),
            license_source=("list" if repo.get("license") else info.get("license_file")) or None,
            stars=repo.get("stars"),
            created_at=str(repo["created_at"]) if repo.get("created_at") else None,
        )
