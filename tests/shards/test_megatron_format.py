"""Our .bin/.idx writer against megatron-core's own builder and reader."""

from __future__ import annotations

import os

import numpy as np
import pytest

from corpus.shards.megatron import MegatronShardReader, MegatronShardWriter

os.environ.setdefault("OMP_NUM_THREADS", "1")
indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
torch = pytest.importorskip("torch")


def _documents(n: int, vocab: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    docs = [rng.integers(0, vocab - 1, size=int(rng.integers(1, 300))).tolist() for _ in range(n)]
    return [[*d, vocab - 1] for d in docs]  # each ends with EOS


@pytest.mark.parametrize("dtype, vocab", [(np.uint16, 3_000), (np.int32, 102_400)])
def test_bytes_equal_megatron_builder(tmp_path, dtype, vocab):
    docs = _documents(257, vocab)
    ours = MegatronShardWriter(str(tmp_path / "ours"), dtype)
    ours.add_documents(docs[:100])
    ours.add_documents([])
    ours.add_documents(docs[100:])
    ours.close()

    ref = indexed.IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=dtype)
    for d in docs:
        ref.add_item(torch.tensor(d))
        ref.end_document()
    ref.finalize(str(tmp_path / "ref.idx"))

    for ext in (".bin", ".idx"):
        assert (tmp_path / f"ours{ext}").read_bytes() == (tmp_path / f"ref{ext}").read_bytes(), ext
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]

    ds = indexed.IndexedDataset(str(tmp_path / "ours"))
    assert len(ds) == len(docs)
    assert ds.index.dtype == dtype
    for i in (0, 1, 99, 100, 256):
        assert ds[i].tolist() == docs[i]
    reader = MegatronShardReader(str(tmp_path / "ours"))
    assert len(reader) == len(docs) and reader.tokens == sum(map(len, docs))
    assert reader[200].tolist() == docs[200]


def test_an_empty_shard_is_not_written(tmp_path):
    # megatron-core cannot memory-map an empty .bin, so a shard without documents must not appear
    w = MegatronShardWriter(str(tmp_path / "empty"), np.uint16)
    assert w.close() is False
    assert os.listdir(tmp_path) == []


def test_ids_beyond_the_dtype_are_refused(tmp_path):
    w = MegatronShardWriter(str(tmp_path / "x"), np.uint16)
    with pytest.raises(ValueError, match="out of range"):
        w.add_documents([[1, 2, 70_000]])
    w.abort()
    assert os.listdir(tmp_path) == []  # nothing half-written is left behind


def test_a_bad_index_is_reported(tmp_path):
    (tmp_path / "x.idx").write_bytes(b"NOTANIDX" * 8)
    with pytest.raises(ValueError, match="bad magic"):
        MegatronShardReader(str(tmp_path / "x"))
