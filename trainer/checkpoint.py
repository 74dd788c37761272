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
from megatron.core import dist_checkpointing
from megatron.core import parallel_state as ps
from megatron.core.optimizer.optimizer import FP32Optimizer

from corpus.core.atomic import atomic_write_text
from trainer.hf_import import WEIGHTS_ONLY

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


def _sharded_state(
    model, optimizer, scheduler, step, consumed, is_loading: bool, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
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
    state["layout"] = current_layout()
    # what the weights are (model shape, YaRN), so export and --init-from need no recipe
    state.update(extra or {})
    return state


def save(
    folder: str,
    step: int,
    consumed_samples: int,
    model,
    optimizer,
    scheduler,
    extra: dict[str, Any] | None = None,
) -> str:
    """Save a checkpoint collectively (every rank calls this) and return its path.

    `extra` adds plain values to the checkpoint's common part (keys must not be 'model' or 'optimizer').
    """
    final = os.path.join(folder, step_name(step))
    tmp = final + ".partial"
    rank = dist.get_rank()
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp, exist_ok=True)
    dist.barrier()
    state = _sharded_state(model, optimizer, scheduler, step, consumed_samples, is_loading=False, extra=extra)
    dist_checkpointing.save(state, tmp)
    dist.barrier()
    if rank == 0:
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_text(os.path.join(folder, "latest"), step_name(step) + "\n")
    dist.barrier()
    return final


def _sub_optimizers(optimizer) -> list[Any]:
    return list(getattr(optimizer, "chained_optimizers", None) or [optimizer])


def _reshardable(optimizer) -> bool:
    """Plain (fp32, non-distributed) megatron optimizers: their moments are keyed per parameter."""
    return all(isinstance(o, FP32Optimizer) for o in _sub_optimizers(optimizer))


def _find(tree: Any, key: str) -> Any:
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for v in tree.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _load_optimizer_across_layouts(optimizer, loaded: Any) -> None:
    """Adam moments saved under one dense/expert optimizer grouping, loaded into another.

    The moments themselves arrived as per-parameter sharded tensors in the structure we asked for;
    only the checkpoint's common part (param groups, the shared step) has the old grouping, so the
    groups come from the live optimizer and the step from wherever the checkpoint kept it. An
    optimizer without parameters (the expert one on a pipeline stage of dense layers) has nothing
    to load.
    """
    step = _find(loaded, "common_step")
    subs = _sub_optimizers(optimizer)
    parts = [loaded] if len(subs) == 1 else [loaded.get(i, {}) for i in range(len(subs))]
    for sub, part in zip(subs, parts, strict=True):
        if not any(g["params"] for g in sub.optimizer.param_groups):
            continue
        moments = {k: v for k, v in part["state"].items() if isinstance(k, int)}
        if step is not None:
            moments["common_step"] = step
        sub.load_state_dict({"state": moments, "param_groups": sub.optimizer.state_dict()["param_groups"]})


def _same_grouping_everywhere(optimizer) -> bool:
    """Whether every rank splits its parameters into the same optimizers and groups.

    The checkpoint's common part is rank 0's, so it fits another rank only then. Pipeline stages can
    differ: a stage of dense layers alone has an expert optimizer with no parameters, so no state.
    """
    shape = [[bool(g["params"]) for g in o.optimizer.param_groups] for o in _sub_optimizers(optimizer)]
    shapes: list[list[list[bool]] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(shapes, shape)
    return all(s == shape for s in shapes)


def current_layout() -> dict[str, int]:
    return {
        "world": dist.get_world_size(),
        "tensor": ps.get_tensor_model_parallel_world_size(),
        "expert": ps.get_expert_model_parallel_world_size(),
        "pipeline": ps.get_pipeline_model_parallel_world_size(),
        "data": ps.get_data_parallel_world_size(),
    }


def load(path: str, model, optimizer, scheduler, *, with_optimizer: bool = True) -> dict[str, Any]:
    """Load `path` into the (already built) model, optimizer and scheduler; returns step counters.

    Weights are sharded tensors with global shapes, so they load into any tensor/expert/data-parallel
    layout. megatron-core 0.16.1's optimizer checkpoints keep their per-optimizer grouping (dense vs
    expert parameters) in the checkpoint's common part, which does not survive a layout change: for
    the plain fp32 optimizer we rebuild that part from the live optimizer and load the per-parameter
    moments; for the others (bf16, distributed) the weights, LR schedule and counters are restored
    and Adam's moments start afresh (`optimizer_restored` says which happened).
    """
    common = dist_checkpointing.load_common_state_dict(path)
    saved_layout = common.get("layout")
    if isinstance(saved_layout, dict):
        saved_layout = {"pipeline": 1, **saved_layout}  # written before pipelines were trained
    same_layout = saved_layout == current_layout()
    if common.get(WEIGHTS_ONLY):
        # an imported checkpoint: weights and nothing else, so optimizer and schedule start afresh
        with_optimizer = False
    want_optimizer = with_optimizer and optimizer is not None
    # rank 0's optimizer structure (in the common part) applies as is only where every rank has it
    as_saved = want_optimizer and same_layout and _same_grouping_everywhere(optimizer)
    load_optimizer = want_optimizer and (as_saved or _reshardable(optimizer))
    state = _sharded_state(
        model,
        optimizer if load_optimizer else None,
        scheduler if with_optimizer else None,
        0,
        0,
        is_loading=True,
    )
    loaded = dist_checkpointing.load(state, path)
    _unwrap(model).load_state_dict(loaded["model"])
    if load_optimizer and as_saved:
        optimizer.load_state_dict(loaded["optimizer"])
    elif load_optimizer:
        _load_optimizer_across_layouts(optimizer, loaded["optimizer"])
    if with_optimizer and scheduler is not None:
        scheduler.load_state_dict(loaded["scheduler"])
    return {
        "step": int(loaded["step"]),
        "consumed_samples": int(loaded["consumed_samples"]),
        "optimizer_restored": load_optimizer,
        "saved_layout": saved_layout,
        "weights_only": bool(common.get(WEIGHTS_ONLY)),
    }
