"""Training data: megatron-core's blended GPT datasets over the corpus side's shard manifest.

The manifest (`OUTPUT/manifest.json`) carries a "megatron" section: `data_path` as
[weight, prefix, weight, prefix, ...] with prefixes relative to the manifest's folder, `vocab_size`
(the padded embedding size) and `eos_id`. A recipe may instead list prefixes itself. Either way the
blend goes to `BlendedMegatronDatasetBuilder` + `GPTDataset`, so sampling, shuffling and the
train/validation split are megatron-core's, and a given seed gives the same batches on any layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from corpus.core.errors import UserError
from trainer.recipe import DataConfig


@dataclass(frozen=True)
class Blend:
    prefixes: list[str]
    weights: list[float] | None
    vocab_size: int | None
    eos_id: int


class _ShardVocabulary:
    """The little of a tokenizer that GPTDataset reads: end-of-document id, size, no pad token."""

    def __init__(self, eod: int, vocab_size: int | None) -> None:
        self.eod = eod
        self.eos = eod
        self.vocab_size = vocab_size
        # megatron hashes this into each dataset's cache key
        self.unique_identifiers = {"class": "ShardVocabulary", "eod": eod, "vocab_size": vocab_size}


def _parse_data_path(items: list[Any], base: Path | None, where: str) -> tuple[list[str], list[float] | None]:
    if not items:
        raise UserError(f"{where}: data_path is empty")
    if all(isinstance(x, str) for x in items):
        prefixes, weights = list(items), None
    else:
        if len(items) % 2 or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and isinstance(p, str)
            for w, p in zip(items[::2], items[1::2], strict=True)
        ):
            raise UserError(f"{where}: data_path must be [weight, prefix, ...] or [prefix, ...]")
        weights = [float(w) for w in items[::2]]
        prefixes = list(items[1::2])
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise UserError(f"{where}: data_path weights must be non-negative and not all zero")
        # A zero-weight shard would make megatron divide by zero when sizing it; it is simply not used.
        kept = [(w, p) for w, p in zip(weights, prefixes, strict=True) if w > 0]
        weights, prefixes = [w for w, _ in kept], [p for _, p in kept]
    if base is not None:
        prefixes = [p if os.path.isabs(p) or "://" in p else str(base / p) for p in prefixes]
    for p in prefixes:
        for ext in (".bin", ".idx"):
            if "://" not in p and not os.path.isfile(p + ext):
                raise UserError(f"{where}: shard {p}{ext} does not exist")
        if "://" not in p:
            check_shard(p)
    return prefixes, weights


_MAGIC = b"MMIDIDX\x00\x00"
_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 8, 7: 4, 8: 2}


def check_shard(prefix: str) -> tuple[int, int]:
    """Validate a .idx/.bin pair before megatron maps it; returns (sequences, tokens).

    A truncated or foreign file would otherwise fail deep inside megatron-core (and leave a stray
    traceback from its destructor); here it is one line naming the file. Checks the header, that the
    index holds exactly its declared arrays, and that the .bin ends where the last sequence does.
    """
    idx, binf = prefix + ".idx", prefix + ".bin"
    size = os.path.getsize(idx)
    with open(idx, "rb") as f:
        head = f.read(34)
        if len(head) < 34 or head[:9] != _MAGIC:
            raise UserError(f"{idx}: not a megatron index (bad magic or truncated header)")
        version = int.from_bytes(head[9:17], "little")
        code = head[17]
        n_seq = int.from_bytes(head[18:26], "little")
        n_doc = int.from_bytes(head[26:34], "little")
        if version != 1 or code not in _ITEMSIZE:
            raise UserError(f"{idx}: unsupported index version {version} or dtype code {code}")
        expected = 34 + 4 * n_seq + 8 * n_seq + 8 * n_doc
        if size != expected:
            raise UserError(
                f"{idx}: {size} bytes, but its header describes {expected} (truncated or corrupt)"
            )
        tokens = 0
        if n_seq:
            f.seek(34 + 4 * (n_seq - 1))
            last_len = int.from_bytes(f.read(4), "little")
            f.seek(34 + 4 * n_seq + 8 * (n_seq - 1))
            last_off = int.from_bytes(f.read(8), "little")
            end = last_off + last_len * _ITEMSIZE[code]
            if os.path.getsize(binf) != end:
                raise UserError(
                    f"{binf}: {os.path.getsize(binf)} bytes, but {idx} says the tokens end at byte {end}"
                )
            tokens = end // _ITEMSIZE[code]
    return n_seq, tokens


def resolve_blend(data: DataConfig) -> Blend:
    """The prefixes, weights, vocabulary size and EOS id from the manifest or the recipe."""
    if data.manifest is not None:
        path = Path(data.manifest)
        if path.is_dir():
            path = path / "manifest.json"
        if not path.is_file():
            raise UserError(f"data.manifest: {path} does not exist")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        section = manifest.get("megatron") if isinstance(manifest, dict) else None
        if not isinstance(section, dict) or "data_path" not in section:
            raise UserError(f"{path}: no 'megatron.data_path' section (is the shard stage finished?)")
        prefixes, weights = _parse_data_path(section["data_path"], path.parent, f"{path} megatron.data_path")
        eos = data.eos_id if data.eos_id is not None else section.get("eos_id")
        if not isinstance(eos, int):
            raise UserError(f"{path}: megatron.eos_id is missing; set data.eos_id in the recipe")
        vocab = section.get("vocab_size")
        return Blend(prefixes, weights, int(vocab) if isinstance(vocab, int) else None, eos)
    prefixes, weights = _parse_data_path(list(data.data_path or []), None, "data.data_path")
    if data.eos_id is None:
        raise UserError("data.eos_id is required when the recipe lists data_path itself")
    return Blend(prefixes, weights, None, data.eos_id)


def build_datasets(
    data: DataConfig, blend: Blend, seed: int, train_samples: int, eval_samples: int
) -> tuple[Any, Any]:
    """megatron-core blended train and validation datasets of at least the requested sizes."""
    # megatron: the launcher imports this module for resolve_blend (preflight) and never loads megatron
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    config = GPTDatasetConfig(
        random_seed=seed,
        sequence_length=data.seq_length,
        blend=(blend.prefixes, blend.weights),
        split=data.split,
        path_to_cache=data.cache_dir,
        tokenizer=_ShardVocabulary(blend.eos_id, blend.vocab_size),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        create_attention_mask=False,
        mmap_bin_files=True,
    )
    split = [float(x) for x in data.split.split(",")]
    sizes = [train_samples, eval_samples if split[1] > 0 else 0, 0]
    _check_splits_not_empty(blend.prefixes, config.split_matrix, sizes, data.split)
    try:
        train, valid, _ = BlendedMegatronDatasetBuilder(GPTDataset, sizes, lambda: True, config).build()
    except (AssertionError, ValueError, IndexError) as e:
        raise UserError(f"data: megatron-core could not build datasets from the blend ({e})") from None
    if train is None:
        raise UserError("data: the train split is empty; check data.split and the shards")
    return train, valid


def _check_splits_not_empty(
    prefixes: list[str], split_matrix: list[tuple[float, float] | None], sizes: list[int], split: str
) -> None:
    """megatron-core loops forever counting epochs of a split that holds no document (a tiny
    prefix whose 2% validation share rounds to zero documents); refuse such a blend in one line."""
    # megatron: the launcher imports this module for resolve_blend (preflight) and never loads megatron
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    for prefix in prefixes:
        documents = len(IndexedDataset(prefix, mmap=True).document_indices) - 1
        for name, bounds, wanted in zip(("train", "validation", "test"), split_matrix, sizes, strict=True):
            if not wanted or bounds is None:
                continue
            begin, end = round(bounds[0] * documents), round(bounds[1] * documents)
            if end <= begin:
                raise UserError(
                    f"data: {prefix} has {documents} documents, none of them in the {name} part of "
                    f"split {split!r}; give it more data, or set data.split (e.g. --set data.split=100,0,0)"
                )


class BatchIterator:
    """Micro-batches for this data-parallel rank, resumable at any consumed-sample count.

    Megatron's pretraining sampler gives rank r the r-th slice of every global micro-batch; we do the
    same, so two ranks together see exactly the samples one rank would see alone.
    """

    def __init__(
        self, dataset: Any, micro_batch_size: int, dp_rank: int, dp_size: int, start: int = 0
    ) -> None:
        self.dataset = dataset
        self.mbs = micro_batch_size
        self.dp_rank = dp_rank
        self.dp_size = dp_size
        self.consumed = start

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        step = self.mbs * self.dp_size
        first = self.consumed + self.dp_rank * self.mbs
        idx = [(first + i) % len(self.dataset) for i in range(self.mbs)]
        self.consumed += step
        samples = [self.dataset[i] for i in idx]
        # BlendedDataset adds a scalar "dataset_id"; only the tensors form the batch
        keys = [k for k, v in samples[0].items() if isinstance(v, torch.Tensor)]
        return {k: torch.stack([s[k] for s in samples]) for k in keys}
