"""The fused router kernel against its PyTorch reference: outputs and gradients."""

from __future__ import annotations

import logging

import pytest
import torch

from trainer.kernels import GatingOutput, topk_gating


def _grad_weights(out: GatingOutput, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(out.probs.shape, generator=gen),
        torch.randn(out.topk_probs.shape, generator=gen),
        torch.randn(out.expert_score_sum.shape, generator=gen),
    ]


def _run(logits: torch.Tensor, fused: bool, **kwargs) -> tuple[GatingOutput, torch.Tensor]:
    x = logits.detach().clone().requires_grad_()
    out = topk_gating(x, fused=fused, **kwargs)
    w = _grad_weights(out, 7)
    loss = (out.probs * w[0]).sum() + (out.topk_probs * w[1]).sum() + (out.expert_score_sum * w[2]).sum()
    loss.backward()
    return out, x.grad


CASES = [
    # tokens, experts, topk, groups, group_topk, sequences
    pytest.param(37, 16, 4, 1, 1, 1, id="no-group-limit"),
    pytest.param(24, 16, 3, 4, 2, 3, id="group-limited-3-sequences"),
    pytest.param(1, 8, 2, 1, 1, 1, id="single-token"),
    pytest.param(6, 8, 8, 1, 1, 2, id="topk-equals-experts"),
    pytest.param(10, 12, 4, 3, 1, 1, id="one-group-of-three-non-pow2"),
    pytest.param(20, 64, 6, 8, 3, 2, id="v2-236b-routing-shape"),
]


@pytest.mark.parametrize(("tokens", "experts", "topk", "groups", "group_topk", "seqs"), CASES)
def test_fused_router_matches_reference(tokens, experts, topk, groups, group_topk, seqs):
    logits = torch.randn(tokens, experts, generator=torch.Generator().manual_seed(tokens * experts))
    kwargs = dict(
        topk=topk, num_groups=groups, group_topk=group_topk, scaling_factor=16.0, num_sequences=seqs
    )
    fused, g_fused = _run(logits, True, **kwargs)
    ref, g_ref = _run(logits, False, **kwargs)
    for name, a, b in zip(GatingOutput._fields, fused, ref, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        if a.dtype.is_floating_point:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
        else:
            assert torch.equal(a, b), name
    torch.testing.assert_close(g_fused, g_ref, rtol=1e-5, atol=1e-6)


def test_group_limit_scores_a_group_by_its_max():
    # Group 0 holds one strong expert, group 1 two medium ones whose SUM beats it (V3 would pick
    # group 1); DeepSeek-V2 scores a group by its max, so group 0 is kept.
    logits = torch.log(torch.tensor([[0.40, 0.01, 0.01, 0.01, 0.22, 0.22, 0.07, 0.06]]))
    for fused in (True, False):
        out = topk_gating(logits, 2, num_groups=2, group_topk=1, fused=fused)
        assert sorted(out.topk_indices[0].tolist()) == [0, 1]
        assert out.group_token_count.tolist() == [[1, 0]]


def test_no_renormalisation_and_scaling():
    logits = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    out = topk_gating(logits, 2, scaling_factor=2.0)
    scores = torch.softmax(logits, dim=-1)
    expected = scores.topk(2, dim=-1).values * 2.0
    torch.testing.assert_close(out.topk_probs, expected)
    assert (out.topk_probs.sum(dim=-1) < 2.0).all()  # not renormalised to the scaling factor


def test_statistics_count_every_assignment_per_sequence():
    logits = torch.randn(30, 16, generator=torch.Generator().manual_seed(5))
    out = topk_gating(logits, 4, num_groups=4, group_topk=2, num_sequences=3)
    assert out.expert_token_count.sum().item() == 30 * 4
    assert out.expert_token_count.sum(dim=1).tolist() == [40, 40, 40]
    torch.testing.assert_close(out.expert_score_sum.sum(dim=1), torch.full((3,), 10.0))
    # each token reaches 1 or 2 groups (group_topk = 2)
    per_seq = out.group_token_count.sum(dim=1)
    assert ((per_seq >= 10) & (per_seq <= 20)).all()


def test_bf16_logits_route_like_fp32():
    logits = torch.randn(16, 16, generator=torch.Generator().manual_seed(9)).bfloat16()
    fused = topk_gating(logits, 3, fused=True)
    ref = topk_gating(logits, 3, fused=False)
    assert torch.equal(fused.topk_indices, ref.topk_indices)
    torch.testing.assert_close(fused.probs, ref.probs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(topk=9), "topk=9"),
        (dict(topk=2, num_groups=3), "num_groups=3"),
        (dict(topk=2, num_groups=4, group_topk=5), "group_topk=5"),
        (dict(topk=5, num_groups=4, group_topk=2), "fewer than topk=5"),
    ],
)
def test_bad_routing_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        topk_gating(torch.zeros(4, 8), **kwargs)


def test_falls_back_to_reference_with_one_log_line(monkeypatch, caplog):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    from trainer.kernels import backend

    monkeypatch.setattr(backend, "_warned", set())
    logits = torch.randn(4, 8)
    with caplog.at_level(logging.WARNING, logger="coderforge.trainer.kernels"):
        for _ in range(3):
            out = topk_gating(logits, 2, fused=True)
    lines = [r for r in caplog.records if "router" in r.getMessage()]
    assert len(lines) == 1 and "PyTorch reference" in lines[0].getMessage()
    assert torch.equal(out.topk_indices, topk_gating(logits, 2, fused=False).topk_indices)


def test_falls_back_when_triton_is_missing(monkeypatch, caplog):
    from trainer.kernels import backend

    monkeypatch.setattr(backend, "_triton_importable", lambda: False)
    monkeypatch.setattr(backend, "_warned", set())
    logits = torch.randn(6, 8)
    with caplog.at_level(logging.WARNING, logger="coderforge.trainer.kernels"):
        out = topk_gating(logits, 2, fused=True)
    assert any("triton is not installed" in r.getMessage() for r in caplog.records)
    assert torch.equal(out.topk_indices, topk_gating(logits, 2, fused=False).topk_indices)
