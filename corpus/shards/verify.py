"""Check a shard folder before a training run spends GPU hours on it.

Every `.idx` must parse, agree with its `.bin` size, and describe one sequence per document; every
sequence must end with EOS and hold only ids below the vocabulary; the Parquet twin, when present,
must have one row per sequence with the same token count; and the manifest's blend must name
exactly the shards on disk. With megatron-core installed, each shard is also opened with its own
`IndexedDataset`, which is what the trainer will do.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from corpus.shards.inspect import locate_shards, shard_prefixes
from corpus.shards.megatron import MegatronShardReader


def open_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def verify_shards(path: str, use_megatron: bool = True) -> dict[str, Any]:
    """Problems found (empty list when the folder is sound) and what was checked."""
    folder, _ = locate_shards(path)
    prefixes = shard_prefixes(folder)
    manifest_path = os.path.join(path, "manifest.json")
    manifest = json.loads(open_text(manifest_path)) if os.path.isfile(manifest_path) else {}
    mg = manifest.get("megatron", {})
    eos, vocab = mg.get("eos_id"), mg.get("vocab_size")
    indexed = None
    if use_megatron:
        try:
            with warnings.catch_warnings():  # megatron-core warns about absent TransformerEngine/apex
                warnings.simplefilter("ignore")
                # imported here: megatron-core is an optional heavy dependency (the train extra)
                from megatron.core.datasets import indexed_dataset as indexed
        except ImportError:
            indexed = None
    problems: list[str] = []
    sequences = tokens = 0
    for prefix in prefixes:
        name = os.path.relpath(prefix, path) if "://" not in prefix else prefix
        try:
            r = MegatronShardReader(prefix)
        except (ValueError, OSError) as e:
            problems.append(f"{name}.idx: {e}")
            continue
        itemsize = np.dtype(r.dtype).itemsize
        expected = int(r.lengths.sum(dtype=np.int64)) * itemsize
        actual = os.path.getsize(prefix + ".bin") if "://" not in prefix else expected
        if actual != expected:
            problems.append(f"{name}.bin: {actual} bytes, the index describes {expected}")
            continue
        if not np.array_equal(r.document_indices, np.arange(len(r) + 1)):
            problems.append(f"{name}.idx: not one sequence per document")
        data = r._data()
        if len(r):
            ends = (r.pointers // itemsize + r.lengths - 1).astype(np.int64)
            if eos is not None and not (data[ends] == eos).all():
                problems.append(
                    f"{name}.bin: {int((data[ends] != eos).sum())} sequences do not end with EOS {eos}"
                )
            if vocab is not None and int(data.max()) >= vocab:
                problems.append(f"{name}.bin: id {int(data.max())} is not below the vocabulary size {vocab}")
        if os.path.isfile(prefix + ".parquet"):
            twin = pq.read_table(prefix + ".parquet", columns=["tokens"]).column("tokens").to_numpy()
            if twin.size != len(r) or not np.array_equal(twin, r.lengths):
                problems.append(f"{name}.parquet: rows or token counts differ from the index")
        if indexed is not None:
            try:
                ds = indexed.IndexedDataset(prefix)
                if len(ds) != len(r):
                    problems.append(f"{name}: megatron-core reads {len(ds)} sequences, expected {len(r)}")
            except Exception as e:  # whatever megatron-core objects to is a problem to report
                problems.append(f"{name}: megatron-core cannot open it ({type(e).__name__}: {e})")
        sequences += len(r)
        tokens += r.tokens
    if mg.get("data_path"):
        named = {os.path.normpath(os.path.join(path, p)) for p in mg["data_path"][1::2]}
        on_disk = {os.path.normpath(p) for p in prefixes}
        if named != on_disk:
            problems.append(
                f"manifest.json: megatron.data_path names {len(named - on_disk)} missing shards and "
                f"leaves out {len(on_disk - named)} on disk"
            )
    return {
        "folder": folder,
        "shards": len(prefixes),
        "sequences": sequences,
        "tokens": tokens,
        "megatron_checked": indexed is not None,
        "problems": problems,
    }
