"""Paths a user names on the command line, walked and read without hanging, exhausting memory
or leaving the tree they name.

A plain `open(path).read()` on what a user points at can go wrong in three ways: `/dev/zero` (or a
symlink to it) is read until the machine runs out of memory, a FIFO blocks the open forever, and a
symlink inside a folder can lead anywhere on the machine. So here:

- only regular files are read; FIFOs, character and block devices and sockets are never opened.
  Named directly on the command line they are a `UserError` naming the path and what it is;
  met while walking a folder they are skipped with a reason the command reports;
- the file type is checked with `os.stat` before the open, the open is non-blocking, and the
  type is checked again on the open descriptor, so a file swapped for a FIFO in between can
  neither block nor be read;
- inside a folder a symlink is followed only when its target is a regular file or folder inside
  the folder named on the command line (a symlink named directly is followed wherever it points,
  as the user chose it, but still only to a regular file or folder); each real folder is walked
  once, so a symlink loop ends;
- `read_head` never reads more than the byte cap it is given, whatever the file's size.

`corpus.github.repo_reader` applies the stricter rule of a repository walker (no symlink is ever
followed); these helpers serve commands that read a user's own files, where a symlink inside the
tree is often meant.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from corpus.core.errors import UserError

#: a byte cap for commands that look at files rather than load them
DEFAULT_MAX_BYTES = 1 << 20
#: folders of version-control metadata: never the user's content
SKIP_FOLDERS = frozenset({".git", ".hg", ".svn"})

_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20


def special_kind(mode: int) -> str | None:
    """'a FIFO (named pipe)', 'a character device', ... for a file type that is never read as
    data; None for a regular file, a folder or a symlink."""
    for test, kind in _SPECIAL:
        if test(mode):
            return kind
    return None


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    return special_kind(mode) or "not a regular file"


class NotRegularFile(OSError):
    """Raised by `read_head` for a path that is (or became) something other than a regular file.

    An `OSError`, so code that already reports unreadable files reports this one the same way."""

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        super().__init__(errno.EINVAL, f"is {kind}, not a regular file", os.fspath(path))
        self.kind = kind


def _refusal(path: str | os.PathLike[str], kind: str) -> UserError:
    name = os.fspath(path)
    if os.path.islink(name):
        return UserError(f"{name}: is a symlink to {kind} ({os.path.realpath(name)}); refusing to read it")
    return UserError(f"{name}: is {kind}, not a regular file; refusing to read it")


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Refuse, as a one-line `UserError`, an input path that is (or is a symlink to) a FIFO,
    a device or a socket: reading one blocks forever or never ends.

    A missing path or a folder passes: each command words its own "not found" or "not a file",
    as it did before. Call it first thing in a command, before anything opens the path."""
    try:
        st = os.stat(path)
    except OSError:
        return Path(path)
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise _refusal(path, kind)
    return Path(path)


def read_head(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most the first `limit` bytes of the regular file `path`; a symlink is followed.

    The type is checked before opening (a FIFO's open would block until a writer comes), the
    open is non-blocking in case the file was swapped in between, and the open descriptor is
    checked again before any read. Raises `NotRegularFile` (an `OSError`) for anything but a
    regular file, and the usual `OSError` for a missing or unreadable one."""
    if limit < 0:
        raise ValueError(f"read_head: limit must be >= 0 (got {limit})")
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, _kind(st.st_mode))
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, _kind(st.st_mode))
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Skipped:
    """An entry met while walking a folder that is not read, and why."""

    path: Path
    #: a short category for counting ("FIFO", "symlink outside the folder", ...)
    reason: str
    #: a full sentence for a listing: the reason with its specifics (the symlink's target, the error)
    detail: str


@dataclass(frozen=True)
class UserFile:
    """A regular file to read (`skipped` is None), or an entry passed over (`skipped` says why)."""

    path: Path
    skipped: Skipped | None = None


def _inside(root_real: str, target_real: str) -> bool:
    return os.path.commonpath([root_real, target_real]) == root_real


def walk_user_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[UserFile]:
    """The regular files under `paths` (files and folders named on the command line), and every
    entry passed over with its reason, in a stable order: each given path in turn, a folder's
    entries sorted by name, its files before its sub-folders.

    Every given path is checked before the walk starts, so a missing one, or one that is (or is a
    symlink to) a FIFO, device or socket, is a `UserError` before anything is printed. The walk
    itself is lazy: a large tree is not listed up front."""
    roots: list[tuple[Path, bool]] = []
    for given in paths:
        p = Path(given)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            if os.path.islink(p):
                raise UserError(f"{p}: a symlink to {os.readlink(p)}, which does not exist") from None
            raise UserError(f"{p}: no such file or folder") from None
        except OSError as e:
            raise UserError(f"{p}: cannot read ({e.strerror})") from None
        if stat.S_ISDIR(st.st_mode):
            roots.append((p, True))
        elif stat.S_ISREG(st.st_mode):
            roots.append((p, False))
        else:
            raise _refusal(p, _kind(st.st_mode))
    return _walk(roots)


def _walk(roots: list[tuple[Path, bool]]) -> Iterator[UserFile]:
    walked: dict[tuple[int, int], Path] = {}  # (device, inode) of each real folder walked
    for root, is_folder in roots:
        if not is_folder:
            yield UserFile(root)
            continue
        yield from _walk_folder(root, os.path.realpath(root), walked)


def _walk_folder(root: Path, root_real: str, walked: dict[tuple[int, int], Path]) -> Iterator[UserFile]:
    """Real sub-folders depth first; folders reached through a symlink only once the real tree is
    done, so each file is listed under its real path and a link to a folder already walked (the
    usual case, as the target lies inside `root`) is only noted."""
    stack = [root]
    linked: list[Path] = []
    while stack or linked:
        if not stack:
            stack, linked = list(reversed(linked)), []
        folder = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in walked:
                yield UserFile(
                    folder,
                    Skipped(folder, "folder already walked", f"folder already walked as {walked[key]}"),
                )
                continue
            walked[key] = folder
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            yield UserFile(
                folder, Skipped(folder, "unreadable folder", f"unreadable folder: {e.strerror or e}")
            )
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as e:
                yield UserFile(path, Skipped(path, "unreadable", f"unreadable: {e.strerror or e}"))
                continue
            if stat.S_ISLNK(mode):
                found = _follow(path, root, root_real)
                if isinstance(found, Skipped):
                    yield UserFile(path, found)
                elif found:
                    if entry.name not in SKIP_FOLDERS:
                        linked.append(path)
                else:
                    yield UserFile(path)
            elif stat.S_ISDIR(mode):
                if entry.name not in SKIP_FOLDERS:
                    subfolders.append(path)
            elif stat.S_ISREG(mode):
                yield UserFile(path)
            else:
                kind = special_kind(mode) or "not a regular file"
                yield UserFile(path, Skipped(path, _reason(kind), kind))
        stack.extend(reversed(subfolders))


def _reason(kind: str) -> str:
    """'a FIFO (named pipe)' -> 'FIFO': the short form used for counting."""
    return kind.removeprefix("a ").split(" (")[0]


def _follow(link: Path, root: Path, root_real: str) -> Skipped | bool:
    """Whether a symlink met inside `root` leads to a folder (True) or a regular file (False) that
    is inside `root`; otherwise why it is skipped."""
    try:
        target = os.readlink(link)
    except OSError as e:
        return Skipped(link, "unreadable", f"unreadable symlink: {e.strerror or e}")
    real = os.path.realpath(link)
    if not _inside(root_real, real):
        return Skipped(link, "symlink outside the folder", f"symlink to {target}, outside {root}")
    try:
        mode = os.stat(link).st_mode
    except OSError as e:
        return Skipped(link, "broken symlink", f"broken symlink to {target} ({e.strerror or e})")
    if stat.S_ISDIR(mode):
        return True
    if stat.S_ISREG(mode):
        return False
    kind = special_kind(mode) or "not a regular file"
    return Skipped(link, f"symlink to {_reason(kind)}", f"symlink to {target}, {kind}")
