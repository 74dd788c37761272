"""Checkpoints through megatron-core `dist_checkpointing`.

Each save is a folder `STAGE_DIR/step_NNNNNNN` holding the sharded model, the optimizer state (with
its own sharding metadata, so megatron can re-shard it when the parallel layout changes on resume),
the LR schedule and the sample counter. The folder is written under a temporary name and renamed once
every rank has finished, and `STAGE_DIR/latest` is replaced atomically afterwards, so a crash in the
middle of a save leaves the previous checkpoint as the one a resume picks up.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import torch.distributed as dist

from corpus.atomic import atomic_write_text

# Keys that do not depend on how parameters are split into optimizers (dense vs expert) or ranks, so
# a checkpoint saved with one expert/data-parallel layout loads into another.
_OPTIM_METADATA = {"chained_optim_avoid_prefix": True, "distrib_optim_sharding_type": "fully_reshardable"}


def stage_dir(root: str, stage: str) -> str:
    return os.path.join(root, stage)


def step_name(step: int) -> str:
    return f"step_{step:07d}"


def latest(folder: str) -> str | None:
    """The last completed checkpoint under `folder`, or None."""
    marker = os.path.join(folder, "latest")
    if not os.path.isfile(marker):
        return None
    with open(marker, encoding="utf-8") as f:
        name = f.read().strip()
    path = os.path.join(folder, name)
    return path if os.path.isdir(path) else None


def _unwrap(model: Any) -> Any:
    """The module that knows its sharded state (under megatron's DDP wrapper)."""
    return model.module if hasattr(model, "module") else model


def _sharded_state(model, optimizer, scheduler, step, consumed, is_loading: bool) -> dict[str, Any]:
    model_sd = _unwrap(model).sharded_state_dict()
    state: dict[str, Any] = {"model": model_sd}
    if optimizer is not None:
        state["optimizer"] = optimizer.sharded_state_dict(
            model_sd, is_loading=is_loading, metadata=_OPTIM_METADATA
        )
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    state["step"] = step
    state["consumed_samples"] = consumed
    return state


def save(folder: str, step: int, consumed_samples: int, model, optimizer, scheduler) -> str:
    """Save a checkpoint collectively (every rank calls this) and return its path."""
    from megatron.core import dist_checkpointing

    final = os.path.join(folder, step_name(step))
    tmp = final + ".partial"
    rank = dist.get_rank()
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp, exist_ok=True)
    dist.barrier()
    state = _sharded_state(model, optimizer, scheduler, step, consumed_samples, is_loading=False)
    dist_checkpointing.save(state, tmp)
    dist.barrier()
    if rank == 0:
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_text(os.path.join(folder, "latest"), step_name(step) + "\n")
    dist.barrier()
    return final


def load(path: str, model, optimizer, scheduler, *, with_optimizer: bool = True) -> dict[str, Any]:
    """Load `path` into the (already built) model, optimizer and scheduler; returns step counters."""
    from megatron.core import dist_checkpointing

    state = _sharded_state(
        model,
        optimizer if with_optimizer else None,
        scheduler if with_optimizer else None,
        0,
        0,
        is_loading=True,
    )
    loaded = dist_checkpointing.load(state, path)
    _unwrap(model).load_state_dict(loaded["model"])
    if with_optimizer and optimizer is not None:
        optimizer.load_state_dict(loaded["optimizer"])
    if with_optimizer and scheduler is not None:
        scheduler.load_state_dict(loaded["scheduler"])
    return {"step": int(loaded["step"]), "consumed_samples": int(loaded["consumed_samples"])}
