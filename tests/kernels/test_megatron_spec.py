"""The fused modules inside megatron-core's MoE layer, against megatron's own unfused layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

megatron = pytest.importorskip("megatron.core")


@pytest.fixture(scope="module")
def megatron_state():
    from trainer.distributed import single_process_state

    with single_process_state(seed=0) as info:
        yield info


def _config(dispatcher: str = "allgather"):
    from megatron.core.transformer.transformer_config import TransformerConfig

    return TransformerConfig(
        num_layers=1,
        hidden_size=32,
        num_attention_heads=4,
        num_moe_experts=8,
        moe_ffn_hidden_size=16,
        ffn_hidden_size=16,
        moe_router_topk=3,
        gated_linear_unit=True,
        activation_func=F.silu,
        add_bias_linear=False,
        bias_activation_fusion=False,
        moe_token_dispatcher_type=dispatcher,
        moe_router_pre_softmax=True,
        moe_router_load_balancing_type="none",
        moe_aux_loss_coeff=0.0,
        use_cpu_initialization=True,
        init_method_std=0.2,
    )


def _unfused_spec():
    from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear
    from megatron.core.transformer.mlp import MLPSubmodules
    from megatron.core.transformer.moe.experts import SequentialMLP
    from megatron.core.transformer.moe.moe_layer import MoELayer, MoESubmodules
    from megatron.core.transformer.spec_utils import ModuleSpec

    experts = ModuleSpec(
        module=SequentialMLP,
        submodules=MLPSubmodules(linear_fc1=ColumnParallelLinear, linear_fc2=RowParallelLinear),
    )
    return ModuleSpec(module=MoELayer, submodules=MoESubmodules(experts=experts))


def _copy_weights(unfused, fused) -> None:
    """SequentialMLP keeps [out, in] linears per expert; GroupedMLP's layout is [E, in, out] flattened."""
    experts = unfused.experts.local_experts
    with torch.no_grad():
        fused.router.weight.copy_(unfused.router.weight)
        w1 = torch.stack([e.linear_fc1.weight.t() for e in experts])
        w2 = torch.stack([e.linear_fc2.weight.t() for e in experts])
        fused.experts.weight1.copy_(w1.reshape(fused.experts.weight1.shape))
        fused.experts.weight2.copy_(w2.reshape(fused.experts.weight2.shape))


@pytest.mark.parametrize(
    ("dispatcher", "fused_kernels"),
    [("allgather", True), ("allgather", False), ("alltoall", True)],
    ids=["allgather-triton", "allgather-reference", "alltoall-triton"],
)
def test_fused_moe_layer_matches_megatron_unfused(megatron_state, dispatcher, fused_kernels):
    from megatron.core.transformer.spec_utils import build_module

    from trainer.kernels.spec import (
        FusedAllGatherTokenDispatcher,
        FusedAlltoAllTokenDispatcher,
        FusedGroupedMLP,
        FusedMoELayer,
        apply_fused_kernels,
    )

    config = _config(dispatcher)
    spec = _unfused_spec()
    unfused = build_module(spec, config=config)
    fused = build_module(apply_fused_kernels(spec, fused=fused_kernels), config=config)
    assert isinstance(fused, FusedMoELayer)
    assert isinstance(fused.experts, FusedGroupedMLP)
    expected = FusedAllGatherTokenDispatcher if dispatcher == "allgather" else FusedAlltoAllTokenDispatcher
    assert isinstance(fused.token_dispatcher, expected)
    assert spec.module.__name__ == "MoELayer"  # the input spec is left as it was
    _copy_weights(unfused, fused)

    x = torch.randn(7, 2, 32, generator=torch.Generator().manual_seed(0))
    grad = torch.randn(7, 2, 32, generator=torch.Generator().manual_seed(1))
    x_ref, x_fused = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, _ = unfused(x_ref)
    y_fused, _ = fused(x_fused)
    torch.testing.assert_close(y_fused, y_ref, rtol=1e-4, atol=1e-5)
    (y_ref * grad).sum().backward()
    (y_fused * grad).sum().backward()
    torch.testing.assert_close(x_fused.grad, x_ref.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused.router.weight.grad, unfused.router.weight.grad, rtol=1e-4, atol=1e-5)
    w1_ref = torch.stack([e.linear_fc1.weight.grad.t() for e in unfused.experts.local_experts])
    w2_ref = torch.stack([e.linear_fc2.weight.grad.t() for e in unfused.experts.local_experts])
    torch.testing.assert_close(fused.experts.weight1.grad, w1_ref.reshape(fused.experts.weight1.shape))
    torch.testing.assert_close(fused.experts.weight2.grad, w2_ref.reshape(fused.experts.weight2.shape))


def test_fused_experts_keep_grouped_mlp_state_dict_keys(megatron_state):
    from trainer.kernels.spec import FusedGroupedMLP

    experts = FusedGroupedMLP(8, _config())
    state = experts.state_dict()
    assert set(state) == {"weight1", "weight2"}
    assert state["weight1"].shape == (32, 8 * 2 * 16) and state["weight2"].shape == (8 * 16, 32)
    clone = FusedGroupedMLP(8, _config())
    clone.load_state_dict({**state, "local_experts.0.linear_fc1._extra_state": None})
    assert torch.equal(clone.weight1, experts.weight1)


def test_non_swiglu_experts_are_rejected(megatron_state):
    from trainer.kernels.spec import FusedGroupedMLP

    config = _config()
    config.gated_linear_unit = False
    with pytest.raises(ValueError, match="gated_linear_unit=True"):
        FusedGroupedMLP(8, config)


def test_apply_fused_kernels_rejects_a_dense_mlp_spec():
    from megatron.core.transformer.mlp import MLP
    from megatron.core.transformer.spec_utils import ModuleSpec

    from trainer.kernels.spec import apply_fused_kernels

    with pytest.raises(ValueError, match="expects an MoELayer spec"):
        apply_fused_kernels(ModuleSpec(module=MLP))
