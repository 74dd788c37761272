"""Process groups and megatron-core parallel state, the same way for one process, torchrun and Ray.

Every launcher ends up here with RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT (and LOCAL_RANK) in the
environment; a lone process without them gets a world of one on a free loopback port. NCCL is used on
GPUs and gloo on the CPU (where `cpu_compat` redirects megatron-core's CUDA calls).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from trainer import cpu_compat


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init_distributed(timeout_s: int = 600) -> DistInfo:
    """Start (or join) the default process group; idempotent."""
    on_cpu = cpu_compat.enable_cpu()
    if not on_cpu:
        cpu_compat.fix_te_less_megatron()
    if "RANK" not in os.environ:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if on_cpu:
        device = torch.device("cpu")
    else:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        device = torch.device("cuda", torch.cuda.current_device())
    if not dist.is_initialized():
        dist.init_process_group(
            backend="gloo" if on_cpu else "nccl",
            rank=rank,
            world_size=world,
            timeout=timedelta(seconds=timeout_s),
        )
    return DistInfo(rank, world, local_rank, device)


def init_model_parallel(
    tensor: int = 1, expert: int = 1, seed: int = 1234, pipeline: int = 1, virtual: int | None = None
) -> None:
    """megatron-core's parallel state and its model-parallel RNG streams.

    `pipeline` stages split the world outermost (megatron's default tp-cp-ep-dp-pp order), so each
    stage holds whole expert- and data-parallel groups; `virtual` is the interleaved schedule's model
    chunks per stage (None: plain 1F1B).
    """
    # megatron: the launcher imports this module (free_port, shutdown) and never loads megatron itself
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed

    world = dist.get_world_size()
    if world % (tensor * pipeline) or (world // pipeline) % (tensor * expert):
        raise ValueError(
            f"world size {world} does not fit tensor={tensor} x expert={expert} x pipeline={pipeline}"
        )
    if parallel_state.model_parallel_is_initialized():
        parallel_state.destroy_model_parallel()
    parallel_state.initialize_model_parallel(
        tensor_model_parallel_size=tensor,
        pipeline_model_parallel_size=pipeline,
        virtual_pipeline_model_parallel_size=virtual,
        expert_model_parallel_size=expert,
    )
    torch.manual_seed(seed)
    model_parallel_cuda_manual_seed(seed)


def shutdown() -> None:
    """Tear down megatron's parallel state and the default process group, whichever exist."""
    # megatron: the launcher imports this module (free_port, shutdown) and never loads megatron itself
    from megatron.core import parallel_state

    if parallel_state.model_parallel_is_initialized():
        parallel_state.destroy_model_parallel()
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def single_process_state(seed: int = 1234) -> Iterator[DistInfo]:
    """A world of one with megatron's parallel state, for tests and tools (meta-device builds)."""
    started = not dist.is_initialized()
    saved = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    if started:
        for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
            os.environ.pop(k, None)
    info = init_distributed()
    init_model_parallel(seed=seed)
    try:
        yield info
    finally:
        if started:
            shutdown()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
