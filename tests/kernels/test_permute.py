"""Fused permute plan, permute and unpermute against their PyTorch references."""

from __future__ import annotations

import pytest
import torch

from trainer.kernels import permute_plan, permute_tokens, unpermute_tokens
from trainer.kernels.permute import permute_plan_from_map


def _indices(tokens: int, experts: int, topk: int, seed: int) -> torch.Tensor:
    return (
        torch.rand(tokens, experts, generator=torch.Generator().manual_seed(seed)).topk(topk, dim=1).indices
    )


CASES = [
    # tokens, experts, topk, local start, local count
    pytest.param(37, 16, 4, 0, None, id="all-local"),
    pytest.param(1, 8, 2, 0, None, id="single-token"),
    pytest.param(6, 8, 8, 0, None, id="topk-equals-experts"),
    pytest.param(50, 8, 2, 2, 3, id="expert-parallel-slice"),
    pytest.param(300, 64, 6, 0, None, id="lite-routing-several-blocks"),
]


@pytest.mark.parametrize(("tokens", "experts", "topk", "start", "count"), CASES)
def test_plan_matches_stable_sort(tokens, experts, topk, start, count):
    idx = _indices(tokens, experts, topk, tokens)
    fused = permute_plan(idx, experts, local_expert_start=start, num_local_experts=count, fused=True)
    ref = permute_plan(idx, experts, local_expert_start=start, num_local_experts=count, fused=False)
    assert torch.equal(fused.dest_rows, ref.dest_rows)
    assert torch.equal(fused.tokens_per_expert, ref.tokens_per_expert)
    assert fused.num_out_tokens == ref.num_out_tokens == int(fused.tokens_per_expert.sum())


def test_plan_orders_like_megatron_permute():
    from megatron.core.transformer.moe.moe_utils import permute

    idx = _indices(40, 8, 3, 1)
    routing_map = torch.zeros(40, 8, dtype=torch.bool).scatter_(1, idx, True)
    tokens = torch.randn(40, 5)
    expected, _, _ = permute(tokens, routing_map)
    plan = permute_plan(idx, 8)
    ours, _ = permute_tokens(tokens, plan.dest_rows, plan.num_out_tokens)
    assert torch.equal(ours, expected)


def test_experts_without_tokens():
    idx = torch.tensor([[0, 5]] * 7)
    plan = permute_plan(idx, 8)
    assert plan.tokens_per_expert.tolist() == [7, 0, 0, 0, 0, 7, 0, 0]
    assert plan.dest_rows[:, 0].tolist() == list(range(7))
    assert plan.dest_rows[:, 1].tolist() == list(range(7, 14))


@pytest.mark.parametrize(("tokens", "experts", "topk", "start", "count"), CASES[:4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_permute_unpermute_forward_and_backward(tokens, experts, topk, start, count, dtype):
    gen = torch.Generator().manual_seed(11)
    idx = _indices(tokens, experts, topk, tokens + 1)
    plan = permute_plan(idx, experts, local_expert_start=start, num_local_experts=count)
    x = torch.randn(tokens, 24, generator=gen).to(dtype)
    probs = torch.rand(tokens, topk, generator=gen)
    expert_scale = torch.randn(plan.num_out_tokens, 24, generator=gen).to(dtype)
    hidden_weight = torch.randn(tokens, 24, generator=gen)
    results = []
    for fused in (True, False):
        xs = x.clone().requires_grad_()
        ps = probs.clone().requires_grad_()
        permuted, permuted_probs = permute_tokens(xs, plan.dest_rows, plan.num_out_tokens, ps, fused=fused)
        expert_out = permuted * expert_scale  # stands in for the experts
        out = unpermute_tokens(expert_out, plan.dest_rows, ps * 2.0, fused=fused)
        loss = (out.float() * hidden_weight).sum() + (permuted_probs**2).sum()
        loss.backward()
        results.append((permuted, permuted_probs, out, xs.grad, ps.grad))
    # bf16: the kernels sum a token's K contributions in fp32 and round once, where the reference's
    # index_add backward rounds after every add, so they differ by a few bf16 ulps.
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 8e-2}
    for a, b in zip(*results, strict=True):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, **tol)


def test_unpermute_without_probs_sums_expert_outputs():
    idx = torch.tensor([[0, 1], [1, 2], [2, 0]])
    plan = permute_plan(idx, 3)
    permuted = torch.arange(6, dtype=torch.float32).unsqueeze(1)
    fused = unpermute_tokens(permuted, plan.dest_rows)
    ref = unpermute_tokens(permuted, plan.dest_rows, fused=False)
    assert torch.equal(fused, ref)
    # expert 0 gets tokens 0, 2 (rows 0, 1); expert 1 tokens 0, 1 (rows 2, 3); expert 2 tokens 1, 2
    assert fused.squeeze(1).tolist() == [0 + 2, 3 + 4, 1 + 5]


@pytest.mark.parametrize(("tokens", "experts", "topk", "start", "count"), CASES)
def test_plan_from_dense_map_with_dropped_assignments(tokens, experts, topk, start, count):
    idx = _indices(tokens, experts, topk, tokens + 2)
    routing_map = torch.zeros(tokens, experts, dtype=torch.bool).scatter_(1, idx, True)
    routing_map[::3, : experts // 2] = False  # token dropping leaves some tokens short of topk
    fused, fused_experts = permute_plan_from_map(
        routing_map, topk, local_expert_start=start, num_local_experts=count, fused=True
    )
    ref, ref_experts = permute_plan_from_map(
        routing_map, topk, local_expert_start=start, num_local_experts=count, fused=False
    )
    assert torch.equal(fused.dest_rows, ref.dest_rows)
    assert torch.equal(fused_experts, ref_experts)
    assert torch.equal(fused.tokens_per_expert, ref.tokens_per_expert)
    local = routing_map[:, start : start + (count or experts - start)]
    assert fused.num_out_tokens == int(local.sum())


def test_bad_local_expert_range_is_rejected():
    with pytest.raises(ValueError, match=r"local experts \[6, 10\)"):
        permute_plan(torch.zeros(2, 2, dtype=torch.long), 8, local_expert_start=6, num_local_experts=4)


@pytest.mark.parametrize("fused", [True, False], ids=["triton", "reference"])
def test_map_with_more_than_topk_experts_per_token_is_rejected(fused):
    routing_map = torch.zeros(5, 8, dtype=torch.bool)
    routing_map[2, :4] = True  # 4 experts for a top-3 plan: no silent loss of the fourth
    with pytest.raises(ValueError, match="more than topk=3"):
        permute_plan_from_map(routing_map, 3, fused=fused)


def test_probs_of_the_wrong_shape_are_rejected():
    plan = permute_plan(torch.tensor([[0, 1], [1, 2]]), 3)
    with pytest.raises(ValueError, match="must match dest_rows"):
        permute_tokens(torch.zeros(2, 4), plan.dest_rows, plan.num_out_tokens, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="must match dest_rows"):
        unpermute_tokens(torch.zeros(4, 4), plan.dest_rows, torch.zeros(2))
