"""A `dist_checkpointing` checkpoint → Hugging Face `safetensors` shards, an index and a config.json.

Reads through megatron-core's own loader (the one the trainer resumes with), asking it for exactly the
slices that become the Hugging Face tensors of one output shard at a time: one routed expert's gate,
up or down projection is a slice of the stacked [E, ...] tensor, whatever layout wrote it. Peak
memory is one output shard (`max_shard_bytes`, 5 GiB by default as in `transformers`). Tensors keep
the checkpoint's dtype, so an imported checkpoint exports to the same bits it was made from.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any

import torch

from corpus.core.atomic import atomic_write_text
from corpus.core.errors import UserError
from trainer.checkpoint_forward import checkpoint_model, read_common, resolve_checkpoint
from trainer.hf_config import model_to_hf
from trainer.hf_weights import CheckpointTensor, Chunk, checkpoint_layout
from trainer.recipe import ModelConfig

DEFAULT_SHARD_BYTES = 5 * 2**30


@dataclass(frozen=True)
class ExportSummary:
    out: str
    tensors: int
    shards: int
    bytes: int
    seconds: float


def _rank_offsets(t: CheckpointTensor, c: Chunk) -> list[tuple[int, int, int]]:
    """megatron's (axis, index, fragments) description of where chunk `c` sits inside `t`."""
    out = []
    for axis, (size, full, offset) in enumerate(zip(c.shape, t.shape, c.offset, strict=True)):
        if size != full:
            out.append((axis, offset // size, full // size))
    return out


def _safetensors_save() -> Any:
    try:
        from safetensors.torch import save_file  # the [hf] extra
    except ImportError:
        raise UserError("Hugging Face checkpoints need safetensors: pip install 'coderforge[hf]'") from None
    return save_file


def _stored(path: str) -> dict[str, Any]:
    # torch and megatron-core (the `train` extra) load only when this runs
    from torch.distributed.checkpoint import FileSystemReader

    return FileSystemReader(path).read_metadata().state_dict_metadata


def export_hf(
    ckpt: str,
    out: str,
    *,
    model: ModelConfig | None = None,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = True,
) -> ExportSummary:
    """Write `out` (a new folder) from checkpoint `ckpt` (a checkpoint folder or a run's checkpoint root).

    Needs a (single-process) megatron parallel state: `trainer.distributed.single_process_state()`.
    """
    # torch and megatron-core (the `train` extra) load only when this runs
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedTensor

    t0 = time.perf_counter()
    save_file = _safetensors_save()
    path = resolve_checkpoint(ckpt)
    model, yarn = checkpoint_model(path, model)
    layout = checkpoint_layout(model)
    stored = _stored(path)
    for t in layout.tensors:
        md = stored.get(t.key)
        if md is None or not hasattr(md, "size"):
            raise UserError(f"{path}: no tensor {t.key}; does the model section match the checkpoint?")
        if tuple(md.size) != t.shape:
            raise UserError(
                f"{path}: {t.key} is {list(md.size)} in the checkpoint, the model implies {list(t.shape)}"
            )
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise UserError(f"{out}: already exists; choose a new folder for the export")

    # group the Hugging Face tensors into shards of at most max_shard_bytes, in Hugging Face order
    shards: list[list[tuple[CheckpointTensor, Chunk, torch.dtype]]] = [[]]
    size = 0
    for t in layout.tensors:
        dtype = stored[t.key].properties.dtype
        for c in t.chunks:
            nbytes = torch.Size(c.hf_shape).numel() * dtype.itemsize
            if shards[-1] and size + nbytes > max_shard_bytes:
                shards.append([])
                size = 0
            shards[-1].append((t, c, dtype))
            size += nbytes
    tmp = out.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    weight_map: dict[str, str] = {}
    total = 0
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for i, (name, shard) in enumerate(zip(names, shards, strict=True)):
        request = {
            c.hf_name: ShardedTensor.from_rank_offsets(
                t.key,
                # the chunk with its expert axis as a real axis (not megatron's prepended one): that
                # path reads any slice alone, where the prepended one wants every expert at once
                torch.empty(c.shape, dtype=dtype),
                *_rank_offsets(t, c),
            )
            for t, c, dtype in shard
        }
        # a shard asks for some slices of a tensor only: no whole-tensor coverage check
        loaded = dist_checkpointing.load(request, path, validate_access_integrity=False)
        tensors = {
            t_c[1].hf_name: loaded[t_c[1].hf_name].reshape(t_c[1].hf_shape).contiguous() for t_c in shard
        }
        part = os.path.join(tmp, name + ".partial")
        save_file(tensors, part, metadata={"format": "pt"})
        os.replace(part, os.path.join(tmp, name))
        for n, tensor in tensors.items():
            weight_map[n] = name
            total += tensor.numel() * tensor.element_size()
        del loaded, tensors, request
        if progress:
            print(f"export {path}: shard {i + 1}/{len(shards)}", flush=True)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    atomic_write_text(os.path.join(tmp, "model.safetensors.index.json"), json.dumps(index, indent=2) + "\n")
    dtypes = {stored[t.key].properties.dtype for t in layout.tensors}
    dtype_name = str(max(dtypes, key=lambda d: d.itemsize)).removeprefix("torch.")
    config = model_to_hf(model, yarn, dtype=dtype_name, base=read_common(path).get("hf_config"))
    atomic_write_text(os.path.join(tmp, "config.json"), json.dumps(config, indent=2) + "\n")
    if os.path.isdir(out):
        os.rmdir(out)
    os.replace(tmp, out)
    return ExportSummary(out, len(weight_map), len(shards), total, time.perf_counter() - t0)
