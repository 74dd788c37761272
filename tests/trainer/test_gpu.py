"""The GPU path: bf16 training of the tiny model, with and without the fused kernels.

Skipped where CUDA is absent (the CPU path is covered by test_training.py).
"""

from __future__ import annotations

import pytest
import torch

from tests.trainer.conftest import save_recipe, tiny_recipe, train_cli

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("fused", [False, True])
def test_tiny_bf16_trains_on_gpu(manifest, tmp_path, fused):
    recipe = tiny_recipe(
        manifest,
        model={"fused": fused},
        parallel={"dispatcher": "allgather" if fused else "alltoall"},
        training={"steps": 50, "precision": "bf16"},
    )
    result = train_cli(save_recipe(tmp_path / "tiny.yaml", recipe), tmp_path / "r.json")
    losses = result["losses"]
    assert losses[0] > 5.0
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0
    assert result["steps"][-1]["tokens_per_s"] > 0


def test_cpu_compat_stays_off_with_cuda():
    from trainer import cpu_compat

    assert cpu_compat.enable_cpu() is False
    assert not cpu_compat.cpu_active()
    assert cpu_compat.default_device().type == "cuda"
