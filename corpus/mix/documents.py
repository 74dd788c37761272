"""Reading the documents that go into the mix, straight from the stage folders' Parquet files.

The mix needs to come back to the same documents several times (count, then write each epoch), so
it addresses them by (input file, row) instead of streaming `Document` objects: a file is read
column by column in row batches, and only the rows a shard needs are materialised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.core.atomic import atomic_write_text, split_url
from corpus.core.errors import UserError
from corpus.mix.config import MixSettings


def input_files(folders: list[str]) -> list[str]:
    """All `data/*.parquet` files of the given stage folders, in a fixed order."""
    files: list[str] = []
    for folder in folders:
        root = folder.rstrip("/") + "/data"
        fs, p = split_url(root)
        if not fs.exists(p):
            continue
        protocol = folder.split("://", 1)[0] + "://" if "://" in folder else ""
        files.extend(sorted(protocol + f for f in fs.glob(p + "/*.parquet")))
    return files


def freeze_inputs(folders: list[str], path: str) -> list[str]:
    """Record the input files and their sizes once, for every later mix stage to use.

    The count and shard stages address documents by (file index, row); globbing the folders again
    in each task would shift every index if a file appeared or vanished in between, and a task
    would then read the wrong documents without noticing.
    """
    files = input_files(folders)
    entries = []
    for f in files:
        fs, p = split_url(f)
        entries.append({"path": f, "bytes": int(fs.size(p))})
    atomic_write_text(path, json.dumps(entries, indent=1))
    return files


def frozen_inputs(path: str) -> list[str]:
    """The recorded input files; a file that vanished or changed size is a clear error."""
    fs, p = split_url(path)
    with fs.open(p, "rb") as f:
        entries = json.loads(f.read())
    for e in entries:
        efs, ep = split_url(e["path"])
        if not efs.exists(ep):
            raise UserError(
                f"{e['path']}: input file vanished since the mix listed it; delete the mix/ folder and rebuild"
            )
        size = int(efs.size(ep))
        if size != e["bytes"]:
            raise UserError(
                f"{e['path']}: input file changed since the mix listed it ({e['bytes']} -> {size} bytes); "
                "delete the mix/ folder and rebuild"
            )
    return [e["path"] for e in entries]


#: Bytes of a column chunk read from the file at a time. Without it Arrow reads a row group's
#: whole column chunk (every text of the row group, compressed) before decoding the first page.
READ_BUFFER_BYTES = 1 << 20

#: Rows per read when only a few rows' texts may be held at once (see `RowStream`).
TEXT_BATCH_ROWS = 32


def iter_batches(path: str, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of `batch_rows` rows (the last one shorter), read through a bounded buffer."""
    fs, p = split_url(path)
    with fs.open(p, "rb") as fh:
        pf = pq.ParquetFile(fh, buffer_size=READ_BUFFER_BYTES)
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)


class RowStream:
    """The rows of one file, handed out in runs of any length, read a few rows at a time.

    The mix keeps the row groups of its own Parquet files the size `batch_documents` gives them
    (the files' bytes depend on it), but only the numbers of such a batch need to be held at
    once: its texts are taken from a second reader over the same file, run by run, so a task
    holds the texts of `TEXT_BATCH_ROWS` documents plus what it is tokenizing.
    """

    def __init__(self, path: str, columns: list[str], batch_rows: int = TEXT_BATCH_ROWS) -> None:
        self._batches = iter_batches(path, columns, batch_rows)
        self._left: pa.RecordBatch | None = None

    def take(self, n: int) -> Iterator[pa.RecordBatch]:
        """The next `n` rows, as consecutive record batches of at most `batch_rows` rows."""
        while n > 0:
            batch = self._left if self._left is not None else next(self._batches, None)
            self._left = None
            if batch is None:
                raise ValueError(f"file ended {n} rows early")
            if batch.num_rows > n:
                self._left = batch.slice(n)
                batch = batch.slice(0, n)
            n -= batch.num_rows
            yield batch

    def close(self) -> None:
        self._batches.close()
        self._left = None


class GroupAssigner:
    """Maps a document's (group, source, language) to its mix group: the first that matches."""

    def __init__(self, settings: MixSettings) -> None:
        self._rules = [(name, g.matcher(name)) for name, g in settings.groups.items()]
        self._cache: dict[tuple[str | None, str | None, str | None], str | None] = {}

    def __call__(self, group: str | None, source: str | None, language: str | None) -> str | None:
        key = (group, source, language)
        hit = self._cache.get(key, "")
        if hit != "":
            return hit
        found = next((name for name, m in self._rules if m.matches(group, source, language)), None)
        self._cache[key] = found
        return found
