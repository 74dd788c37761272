"""Where the dedup stages keep their intermediate files, and how documents are referenced.

A document is referenced across stages by one uint64: the signature task's rank in the high bits
and the document's position in that task's input in the low 40 bits. The filter stage re-reads the
same input with the same number of tasks, so (rank, position) finds the document again without
carrying ids through the LSH buckets.

Intermediate files are raw little-endian arrays (memory-mappable, so verification reads only the
rows it needs) and Parquet tables, each written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.core.atomic import atomic_open, split_url

RANK_SHIFT = np.uint64(40)
INDEX_MASK = np.uint64((1 << 40) - 1)

BAND_DTYPE = np.dtype([("key", "<u8"), ("ref", "<u8")])
#: one end of an edge as the component rounds store it: in the file of `key`'s hash share
ENTRY_DTYPE = np.dtype([("key", "<u8"), ("other", "<u8")])
EDGE_DTYPE = np.dtype([("a", "<u8"), ("b", "<u8"), ("sim", "<f4"), ("exact", "u1")])

DOCS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("stars", pa.int64()),
        ("created", pa.int64()),
        ("length", pa.int64()),
        ("partition", pa.string()),
        ("shingles", pa.int64()),
        ("digest_hi", pa.uint64()),
        ("digest_lo", pa.uint64()),
    ]
)

ASSIGN_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("id", pa.string()),
        ("kept_id", pa.string()),
        ("similarity", pa.float32()),
        ("exact", pa.bool_()),
        ("cluster_size", pa.int64()),
    ]
)


def make_ref(rank: int, index: np.ndarray) -> np.ndarray:
    return (np.uint64(rank) << RANK_SHIFT) | index.astype(np.uint64)


def ref_rank(ref: np.ndarray) -> np.ndarray:
    return (ref >> RANK_SHIFT).astype(np.int64)


def ref_index(ref: np.ndarray) -> np.ndarray:
    return (ref & INDEX_MASK).astype(np.int64)


class WorkLayout:
    """Paths of the intermediate stage folders `<root>/<prefix>-{signatures,buckets,clusters}/`, and
    with `cluster_rounds` also `<prefix>-roundNNN/` and `<prefix>-labels/`."""

    def __init__(self, root: str, prefix: str = "dedup") -> None:
        self.root = root.rstrip("/")
        self.prefix = prefix

    def stage(self, name: str) -> str:
        return f"{self.root}/{self.prefix}-{name}"

    def docs(self, rank: int) -> str:
        return f"{self.stage('signatures')}/docs/{rank:05d}.parquet"

    def sigs(self, rank: int) -> str:
        return f"{self.stage('signatures')}/sigs/{rank:05d}.u32"

    def shingles(self, rank: int) -> str:
        return f"{self.stage('signatures')}/shingles/{rank:05d}.u64"

    def shingle_offsets(self, rank: int) -> str:
        return f"{self.stage('signatures')}/shingles/{rank:05d}.offsets.i64"

    def band(self, unit: int, rank: int) -> str:
        return f"{self.stage('signatures')}/bands/{unit:05d}/{rank:05d}.bin"

    def edges(self, rank: int, shard: int = 0) -> str:
        suffix = f".s{shard:03d}" if shard else ""
        return f"{self.stage('buckets')}/edges/{rank:05d}{suffix}.bin"

    def bucket_report(self, rank: int) -> str:
        return f"{self.stage('buckets')}/reports/{rank:05d}.json"

    def assign(self, rank: int, shard: int = 0) -> str:
        suffix = f".s{shard:03d}" if shard else ""
        return f"{self.stage('clusters')}/assign/{rank:05d}{suffix}.parquet"

    def report(self, shard: int = 0) -> str:
        suffix = f".s{shard:03d}" if shard else ""
        return f"{self.stage('clusters')}/report{suffix}.json"

    def round_entries(self, round_: int, src: int, dst: int) -> str:
        """Edge ends written by task `src` of a component round for task `dst` of the next one."""
        return f"{self.stage(f'round{round_:03d}')}/entries/{dst:05d}/{src:05d}.bin"

    def round_changes(self, round_: int, task: int) -> str:
        return f"{self.stage(f'round{round_:03d}')}/changes/{task:05d}.json"

    def label_members(self, src: int, dst: int) -> str:
        """(document, its component's smallest ref) pairs for the clustering task `dst`."""
        return f"{self.stage('labels')}/members/{dst:05d}/{src:05d}.bin"

    def label_edges(self, src: int, dst: int) -> str:
        """Verified pairs for the clustering task `dst` that holds their component."""
        return f"{self.stage('labels')}/edges/{dst:05d}/{src:05d}.bin"

    def partitions(self, rank: int) -> str:
        return f"{self.stage('signatures')}/partitions/{rank:05d}.u64"

    def params(self) -> str:
        return f"{self.stage('signatures')}/params.json"


@contextmanager
def intermediate_open(path: str) -> Iterator[IO[bytes]]:
    """Open an intermediate file for binary writing: write-then-rename, without fsync on local disks.

    These files are dozens per task (one per band): a killed task never leaves a partial one
    under its final name (the rename is what resume relies on), while a machine crash loses the
    completion markers too, so the task is redone anyway. Skipping the per-file fsync saves a
    noticeable share of a small stage on slow disks. Elsewhere `atomic_open` (one put) is used.
    """
    if "://" in path:
        with atomic_open(path, "wb") as f:
            yield f
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_array(path: str, array: np.ndarray) -> None:
    """A raw little-endian array file (see `intermediate_open`)."""
    with intermediate_open(path) as f:
        f.write(np.ascontiguousarray(array).tobytes())


def read_array(path: str, dtype: np.dtype | str, mmap: bool = True) -> np.ndarray:
    """A raw array file; memory-mapped when local (verification touches only a few rows)."""
    fs, p = split_url(path)
    if "://" not in path and mmap:
        if os.path.getsize(p) == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(p, dtype=dtype, mode="r")
    with fs.open(p, "rb") as f:
        return np.frombuffer(f.read(), dtype=dtype)


def write_table(path: str, table: pa.Table) -> None:
    with intermediate_open(path) as f:
        pq.write_table(table, f, compression="zstd")


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    fs, p = split_url(path)
    with fs.open(p, "rb") as f:
        return pq.read_table(io.BytesIO(f.read()), columns=columns)


def write_json(path: str, data: Any) -> None:
    with intermediate_open(path) as f:
        f.write(json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))


def read_json(path: str) -> Any:
    fs, p = split_url(path)
    with fs.open(p, "r") as f:
        return json.load(f)


def exists(path: str) -> bool:
    fs, p = split_url(path)
    return fs.exists(p)
