"""Atomic writes on any fsspec filesystem.

A file appears under its final name only once it is complete: readers, resumed runs and the
manifest never see half a file. On local disks the final step is a rename within one folder; on
object stores a single put is already all-or-nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import fsspec
from fsspec.implementations.local import LocalFileSystem


def split_url(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and the path within it; listings on remote stores are always fresh.

    fsspec caches directory listings per filesystem instance, and task processes (and other
    machines) write into the same folders while this process watches them: a cached listing of
    `completions/` or `data/` would miss their files. Remote filesystems are therefore opened
    without the listings cache; local paths keep fsspec's defaults.
    """
    protocol = fsspec.core.split_protocol(path)[0]
    if protocol in (None, "file", "local"):
        return fsspec.core.url_to_fs(path)
    return fsspec.core.url_to_fs(path, use_listings_cache=False)


@contextmanager
def atomic_open(path: str, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open `path` for writing; the content is renamed into place only if the block succeeds."""
    fs, p = split_url(path)
    parent = os.path.dirname(p)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    if not isinstance(fs, LocalFileSystem):
        with fs.open(p, mode, encoding=encoding) if "b" not in mode else fs.open(p, mode) as f:
            yield f
        return
    tmp = os.path.join(parent, f".{os.path.basename(p)}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
