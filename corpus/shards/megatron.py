"""Megatron `.bin`/`.idx` shards, byte for byte what megatron-core's `IndexedDatasetBuilder` writes.

We write them ourselves rather than through the builder because the builder takes one torch
tensor per document (torch is only an optional dependency of the corpus side, and the per-document
tensor round trip costs more than the tokenizer on short files) and writes straight into the final
file names. This writer takes whole batches as one numpy buffer, and both files appear under their
final names only when complete: `.bin` first, then `.idx`, so an `.idx` on disk means a whole
shard. The tests compare its bytes with `IndexedDatasetBuilder`'s and read every shard back with
`IndexedDataset`.

Layout (megatron.core.datasets.indexed_dataset, 0.16.1): `.bin` holds every sequence's ids back
to back, little-endian, no header. `.idx` holds the magic `MMIDIDX\\x00\\x00`, version 1 (uint64),
the dtype code (uint8), the sequence count (uint64), the document count (uint64, documents + 1),
int32 sequence lengths, int64 byte offsets, and int64 document boundaries starting at 0.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from itertools import chain

import fsspec
import numpy as np

from corpus.core.atomic import atomic_open

INDEX_MAGIC = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
DTYPE_CODES: dict[type, int] = {
    np.uint8: 1,
    np.int8: 2,
    np.int16: 3,
    np.int32: 4,
    np.int64: 5,
    np.float64: 6,
    np.float32: 7,
    np.uint16: 8,
}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}


class MegatronShardWriter:
    """Write one shard `PREFIX.bin` / `PREFIX.idx`, one sequence per document."""

    def __init__(self, prefix: str, dtype: type[np.number]) -> None:
        if dtype not in DTYPE_CODES:
            raise ValueError(f"unsupported token dtype {dtype}")
        self.prefix = prefix
        self.dtype = dtype
        self._limit = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else None
        self._stack = ExitStack()
        self._bin = self._stack.enter_context(atomic_open(prefix + ".bin", "wb"))
        self._lengths: list[np.ndarray] = []
        self.documents = 0
        self.tokens = 0

    def add_documents(self, docs: Sequence[Sequence[int] | np.ndarray]) -> None:
        """Append documents (id lists or arrays), each already ending with its EOS id."""
        if not docs:
            return
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        if all(isinstance(d, np.ndarray) for d in docs):
            flat = np.concatenate(docs)
        else:
            flat = np.fromiter(chain.from_iterable(docs), dtype=np.int64, count=int(lengths.sum()))
        if self._limit is not None and flat.size and (flat.max() > self._limit or flat.min() < 0):
            raise ValueError(f"{self.prefix}: token id out of range for {np.dtype(self.dtype).name}")
        self._bin.write(flat.astype(self.dtype, copy=False).tobytes(order="C"))
        self._lengths.append(lengths)
        self.documents += len(docs)
        self.tokens += int(lengths.sum())

    def close(self, allow_empty: bool = False) -> bool:
        """Finish the shard; an empty one is not written (megatron-core cannot map an empty .bin)
        unless `allow_empty` (for our own intermediate files, read by `MegatronShardReader`)."""
        if self.documents == 0 and not allow_empty:
            self.abort()
            return False
        self._stack.close()  # renames the .bin into place
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int64)
        itemsize = np.dtype(self.dtype).itemsize
        pointers = np.zeros(lengths.size, dtype=np.int64)
        if lengths.size:
            np.cumsum(lengths[:-1] * itemsize, out=pointers[1:])
        doc_index = np.arange(lengths.size + 1, dtype=np.int64)
        with atomic_open(self.prefix + ".idx", "wb") as f:
            f.write(INDEX_MAGIC)
            f.write(struct.pack("<Q", INDEX_VERSION))
            f.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            f.write(struct.pack("<Q", lengths.size))
            f.write(struct.pack("<Q", doc_index.size))
            f.write(lengths.astype(np.int32).tobytes(order="C"))
            f.write(pointers.tobytes(order="C"))
            f.write(doc_index.tobytes(order="C"))
        return True

    def abort(self) -> None:
        """Drop a half-written shard (the temporary .bin is removed, nothing appears)."""
        with suppress(RuntimeError):
            self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)


class MegatronShardReader:
    """Read a shard without torch (for `coderforge inspect` and the notebooks)."""

    def __init__(self, prefix: str) -> None:
        with fsspec.open(prefix + ".idx", "rb") as f:
            raw = f.read()
        if raw[:9] != INDEX_MAGIC:
            raise ValueError(f"{prefix}.idx: not a Megatron index (bad magic)")
        (version,) = struct.unpack_from("<Q", raw, 9)
        (code,) = struct.unpack_from("<B", raw, 17)
        seq_count, doc_count = struct.unpack_from("<QQ", raw, 18)
        if version != INDEX_VERSION or code not in CODE_DTYPES:
            raise ValueError(f"{prefix}.idx: unsupported version {version} or dtype code {code}")
        off = 34
        self.dtype = CODE_DTYPES[code]
        self.lengths = np.frombuffer(raw, dtype=np.int32, count=seq_count, offset=off)
        off += 4 * seq_count
        self.pointers = np.frombuffer(raw, dtype=np.int64, count=seq_count, offset=off)
        off += 8 * seq_count
        self.document_indices = np.frombuffer(raw, dtype=np.int64, count=doc_count, offset=off)
        self.prefix = prefix
        self._bin: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.lengths.size)

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))

    def _data(self) -> np.ndarray:
        if self._bin is None:
            if "://" in self.prefix:  # object stores cannot be memory-mapped: read the shard once
                with fsspec.open(self.prefix + ".bin", "rb") as f:
                    self._bin = np.frombuffer(f.read(), dtype=self.dtype)
            elif self.tokens == 0:
                self._bin = np.zeros(0, dtype=self.dtype)
            else:
                self._bin = np.memmap(self.prefix + ".bin", dtype=self.dtype, mode="r")
        return self._bin

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // np.dtype(self.dtype).itemsize
        return np.asarray(self._data()[start : start + int(self.lengths[i])])
