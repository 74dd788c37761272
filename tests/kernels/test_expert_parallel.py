"""Expert parallelism: two ranks (gloo on the CPU), each holding half the experts, fused vs unfused.

Both megatron-core dispatchers are checked: all-gather (each rank permutes the gathered tokens for
its local experts, pairs routed elsewhere get row -1) and all-to-all (each rank permutes its own
tokens by global expert before the exchange).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from trainer.distributed import free_port

pytestmark = pytest.mark.slow

WORLD = 2
DISPATCHERS = ("allgather", "alltoall")


def _compare(dispatcher: str) -> dict[str, float]:
    """Unfused megatron layer vs the fused one with the same weights, on this rank's tokens."""
    from megatron.core.transformer.spec_utils import build_module

    from tests.kernels.test_megatron_spec import _config, _unfused_spec
    from trainer.kernels.spec import apply_fused_kernels

    rank = torch.distributed.get_rank()
    config = _config(dispatcher)
    config.expert_model_parallel_size = WORLD
    spec = _unfused_spec()
    unfused = build_module(spec, config=config)
    fused = build_module(apply_fused_kernels(spec), config=config)
    local = unfused.experts.local_experts
    shape1, shape2 = fused.experts.weight1.shape, fused.experts.weight2.shape
    with torch.no_grad():
        fused.router.weight.copy_(unfused.router.weight)
        fused.experts.weight1.copy_(torch.stack([e.linear_fc1.weight.t() for e in local]).reshape(shape1))
        fused.experts.weight2.copy_(torch.stack([e.linear_fc2.weight.t() for e in local]).reshape(shape2))
    x = torch.randn(6, 2, 32, generator=torch.Generator().manual_seed(10 + rank))
    grad = torch.randn(6, 2, 32, generator=torch.Generator().manual_seed(20 + rank))
    x_ref, x_fused = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, _ = unfused(x_ref)
    y_fused, _ = fused(x_fused)
    (y_ref * grad).sum().backward()
    (y_fused * grad).sum().backward()
    w1_ref = torch.stack([e.linear_fc1.weight.grad.t() for e in local]).reshape(shape1)
    return {
        "local_experts": fused.experts.num_local_experts,
        "y": (y_fused - y_ref).abs().max().item(),
        "y_scale": y_ref.abs().max().item(),
        "dx": (x_fused.grad - x_ref.grad).abs().max().item(),
        "dw1": (fused.experts.weight1.grad - w1_ref).abs().max().item(),
        "dw1_scale": w1_ref.abs().max().item(),
    }


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        TRITON_INTERPRET="1",
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)
    from trainer.distributed import init_distributed, init_model_parallel, shutdown

    init_distributed()
    init_model_parallel(expert=WORLD, seed=0)
    try:
        for dispatcher in DISPATCHERS:
            Path(out_dir, f"{dispatcher}-rank{rank}.json").write_text(json.dumps(_compare(dispatcher)))
    finally:
        shutdown()


def test_fused_layer_under_expert_parallelism(tmp_path):
    import torch.multiprocessing as mp

    repo = str(Path(__file__).resolve().parents[2])
    if repo not in sys.path:
        sys.path.insert(0, repo)
    mp.start_processes(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, start_method="spawn")
    for dispatcher in DISPATCHERS:
        for rank in range(WORLD):
            result = json.loads((tmp_path / f"{dispatcher}-rank{rank}.json").read_text())
            assert result["local_experts"] == 4
            assert result["y_scale"] > 0, (dispatcher, result)
            assert result["y"] <= 1e-5 * max(1.0, result["y_scale"]), (dispatcher, result)
            assert result["dx"] <= 1e-5, (dispatcher, result)
            assert result["dw1"] <= 1e-5 * max(1.0, result["dw1_scale"]), (dispatcher, result)
