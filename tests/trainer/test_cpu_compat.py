"""The CPU compatibility layer is contained: megatron-core sees a CPU `torch.cuda`, nobody else does."""

from __future__ import annotations

import sys

import pytest
import torch

from trainer import cpu_compat

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU layer is inert with CUDA")


def test_enable_cpu_redirects_only_megatron():
    assert cpu_compat.enable_cpu() is True
    assert cpu_compat.enable_cpu() is True  # idempotent
    assert cpu_compat.cpu_active()
    assert cpu_compat.default_device() == torch.device("cpu")
    router = sys.modules["megatron.core.transformer.moe.router"]
    assert router.torch is not torch
    assert router.torch.cuda.current_device() == torch.device("cpu")
    assert router.torch.zeros(2, device="cuda").device.type == "cpu"
    assert router.torch.Tensor is torch.Tensor
    # the real torch is untouched
    assert torch.cuda.is_available() is False
    with pytest.raises((RuntimeError, AssertionError)):
        torch.zeros(1, device="cuda")


def test_te_less_bugs_are_repaired():
    cpu_compat.enable_cpu()
    mla = sys.modules["megatron.core.transformer.multi_latent_attention"]
    moe_utils = sys.modules["megatron.core.transformer.moe.moe_utils"]
    assert mla.HAVE_TE is False
    assert moe_utils.te_general_gemm is None
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(5, 4, requires_grad=True)
    out = moe_utils.router_gating_linear(x, w, None, torch.float32)  # raised NameError before the fix
    out.sum().backward()
    torch.testing.assert_close(out, x @ w.t())


def test_model_parallel_rng_tracker_forks_on_cpu():
    from trainer.distributed import single_process_state

    with single_process_state(seed=7):
        from megatron.core.tensor_parallel.random import get_cuda_rng_tracker

        before = torch.get_rng_state()
        with get_cuda_rng_tracker().fork():
            a = torch.rand(3)
        assert torch.equal(torch.get_rng_state(), before)  # the default stream is restored
        with get_cuda_rng_tracker().fork():
            b = torch.rand(3)
        assert not torch.equal(a, b)  # the tracked stream advanced
