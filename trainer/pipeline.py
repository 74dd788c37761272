"""Pipeline stages: which decoder layers each stage builds, and the values only one stage knows.

Under pipeline parallelism the first stage holds the embedding, the last the final norm, output head
and loss, and each stage a contiguous run of decoder layers (`parallel.layers_per_stage`, uneven
allowed: DeepSeek-V2's first layer is dense and cheaper). megatron-core takes the split as a
`pipeline_model_parallel_layout` and numbers every layer globally, so parameter names in sharded
checkpoints do not depend on the split and a checkpoint loads into any other one.

The loss and the routers' expert counts exist on some stages only; the helpers here share them with
every rank of the pipeline so that logging and metrics read the same on all ranks.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from trainer.memory_plan import even_layers
from trainer.recipe import ModelConfig, ParallelConfig


def stage_layers(model: ModelConfig, parallel: ParallelConfig) -> list[int]:
    """Decoder layers per pipeline stage: the recipe's split, or the planner's even one."""
    if parallel.layers_per_stage is not None:
        return list(parallel.layers_per_stage)
    return list(even_layers(model.num_layers, parallel.pipeline))


def megatron_layout(model: ModelConfig, parallel: ParallelConfig) -> list[list[str]] | None:
    """The split as megatron's `pipeline_model_parallel_layout` (None without a pipeline)."""
    if parallel.pipeline == 1:
        return None
    counts = stage_layers(model, parallel)
    layout = [["decoder"] * n for n in counts]
    layout[0].insert(0, "embedding")
    layout[-1].append("loss")
    return layout


def is_first_stage() -> bool:
    # torch and megatron-core (the `train` extra) load only when this runs
    from megatron.core import parallel_state

    return parallel_state.is_pipeline_first_stage(ignore_virtual=True)


def is_last_stage() -> bool:
    # torch and megatron-core (the `train` extra) load only when this runs
    from megatron.core import parallel_state

    return parallel_state.is_pipeline_last_stage(ignore_virtual=True)


def from_last_stage(value: torch.Tensor) -> torch.Tensor:
    """`value` as the last stage computed it, on every stage of this rank's pipeline.

    Other stages pass a tensor of the same shape (its content is ignored). A sum over the pipeline
    group with zeros elsewhere, rather than a broadcast, so the source needs no global-rank lookup.
    """
    # torch and megatron-core (the `train` extra) load only when this runs
    from megatron.core import parallel_state

    if parallel_state.get_pipeline_model_parallel_world_size() == 1:
        return value
    out = value.clone() if is_last_stage() else torch.zeros_like(value)
    dist.all_reduce(out, group=parallel_state.get_pipeline_model_parallel_group())
    return out
