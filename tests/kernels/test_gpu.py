"""The compiled kernels on a CUDA GPU at Lite shapes, against the references (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from trainer.kernels import grouped_swiglu_mlp, permute_plan, permute_tokens, topk_gating, unpermute_tokens

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

TOKENS, HIDDEN, EXPERTS, TOPK, FFN = 8192, 2048, 64, 6, 1408


@pytest.fixture(autouse=True)
def triton_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled kernels here, not the interpreter (overrides the package fixture)."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)


@pytest.mark.parametrize(("groups", "group_topk"), [(1, 1), (8, 3)])
def test_router_on_gpu(groups, group_topk):
    logits = torch.randn(TOKENS, EXPERTS, device="cuda")
    outs, grads = [], []
    for fused in (True, False):
        x = logits.clone().requires_grad_()
        out = topk_gating(
            x,
            TOPK,
            num_groups=groups,
            group_topk=group_topk,
            scaling_factor=16.0,
            num_sequences=4,
            fused=fused,
        )
        torch.autograd.backward(
            [out.probs, out.expert_score_sum],
            [torch.ones_like(out.probs), torch.ones_like(out.expert_score_sum)],
        )
        outs.append(out)
        grads.append(x.grad)
    assert torch.equal(outs[0].topk_indices, outs[1].topk_indices)
    assert torch.equal(outs[0].expert_token_count, outs[1].expert_token_count)
    torch.testing.assert_close(outs[0].probs, outs[1].probs)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_permute_on_gpu():
    idx = torch.rand(TOKENS, EXPERTS, device="cuda").topk(TOPK, dim=1).indices
    fused_plan = permute_plan(idx, EXPERTS)
    ref_plan = permute_plan(idx, EXPERTS, fused=False)
    assert torch.equal(fused_plan.dest_rows, ref_plan.dest_rows)
    x = torch.randn(TOKENS, HIDDEN, device="cuda", dtype=torch.bfloat16)
    probs = torch.rand(TOKENS, TOPK, device="cuda")
    results = []
    for fused in (True, False):
        xs, ps = x.clone().requires_grad_(), probs.clone().requires_grad_()
        permuted, pp = permute_tokens(xs, fused_plan.dest_rows, fused_plan.num_out_tokens, ps, fused=fused)
        y = unpermute_tokens(permuted, fused_plan.dest_rows, ps, fused=fused)
        torch.autograd.backward([y, pp], [torch.ones_like(y), torch.ones_like(pp)])
        results.append((permuted, y, xs.grad, ps.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)


def test_grouped_mlp_on_gpu():
    counts = torch.bincount(torch.randint(0, EXPERTS, (TOKENS * TOPK,)), minlength=EXPERTS)
    counts[3] = 0  # an expert without tokens
    rows = int(counts.sum())
    x = torch.randn(rows, HIDDEN, device="cuda", dtype=torch.bfloat16)
    w1 = (torch.randn(EXPERTS, HIDDEN, 2 * FFN, device="cuda") * 0.02).bfloat16()
    w2 = (torch.randn(EXPERTS, FFN, HIDDEN, device="cuda") * 0.02).bfloat16()
    probs = torch.rand(rows, device="cuda")
    g = torch.randn(rows, HIDDEN, device="cuda", dtype=torch.bfloat16)
    results = []
    for fused in (True, False):
        leaves = [t.clone().requires_grad_() for t in (x, w1, w2, probs)]
        y = grouped_swiglu_mlp(leaves[0], counts, leaves[1], leaves[2], leaves[3], fused=fused)
        y.backward(g)
        results.append([y] + [t.grad for t in leaves])
    for name, a, b in zip(["y", "dx", "dw1", "dw2", "dprobs"], *results, strict=True):
        scale = b.float().abs().max().item()
        assert (a.float() - b.float()).abs().max().item() <= 0.02 * scale + 1e-3, name
    assert torch.count_nonzero(results[0][2][3]) == 0
