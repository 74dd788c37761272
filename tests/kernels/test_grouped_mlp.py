"""Grouped SwiGLU expert MLP against the per-expert loop of matmuls: outputs and all gradients."""

from __future__ import annotations

import pytest
import torch

from trainer.kernels import grouped_swiglu_mlp


def _weights(experts: int, hidden: int, ffn: int, dtype: torch.dtype, seed: int):
    gen = torch.Generator().manual_seed(seed)
    w1 = (torch.randn(experts, hidden, 2 * ffn, generator=gen) / hidden**0.5).to(dtype)
    w2 = (torch.randn(experts, ffn, hidden, generator=gen) / ffn**0.5).to(dtype)
    return w1, w2


def _run(x, counts, w1, w2, probs, grad_out, fused):
    leaves = [t.clone().requires_grad_() for t in (x, w1, w2)]
    p = probs.clone().requires_grad_() if probs is not None else None
    y = grouped_swiglu_mlp(leaves[0], torch.tensor(counts), leaves[1], leaves[2], p, fused=fused)
    (y.float() * grad_out).sum().backward()
    grads = [t.grad for t in leaves] + ([p.grad] if p is not None else [])
    return [y, *grads]


CASES = [
    # tokens per expert, hidden, ffn, with probs
    pytest.param([5, 0, 17, 3], 24, 20, True, id="uneven-with-empty-expert"),
    pytest.param([1], 16, 16, False, id="single-token-single-expert"),
    pytest.param([0, 0, 3, 0], 32, 8, True, id="one-expert-busy"),
    pytest.param([40, 0, 0, 9], 16, 24, False, id="multi-tile-expert"),
]


@pytest.mark.parametrize(("counts", "hidden", "ffn", "with_probs"), CASES)
def test_grouped_mlp_matches_loop_fp32(counts, hidden, ffn, with_probs):
    gen = torch.Generator().manual_seed(sum(counts))
    rows = sum(counts)
    x = torch.randn(rows, hidden, generator=gen)
    probs = torch.rand(rows, generator=gen) if with_probs else None
    w1, w2 = _weights(len(counts), hidden, ffn, torch.float32, rows)
    grad_out = torch.randn(rows, hidden, generator=gen)
    fused = _run(x, counts, w1, w2, probs, grad_out, True)
    ref = _run(x, counts, w1, w2, probs, grad_out, False)
    for name, a, b in zip(["y", "dx", "dw1", "dw2", "dprobs"], fused, ref, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_expert_without_tokens_gets_zero_weight_gradient():
    counts = [4, 0, 2]
    x = torch.randn(6, 16)
    w1, w2 = _weights(3, 16, 16, torch.float32, 0)
    _, _, dw1, dw2 = _run(x, counts, w1, w2, None, torch.ones(6, 16), True)
    assert torch.count_nonzero(dw1[1]) == 0 and torch.count_nonzero(dw2[1]) == 0
    assert torch.count_nonzero(dw1[0]) > 0 and torch.count_nonzero(dw2[2]) > 0


def test_no_tokens_at_all():
    w1, w2 = _weights(2, 16, 16, torch.float32, 1)
    x = torch.zeros(0, 16, requires_grad=True)
    w1 = w1.requires_grad_()
    y = grouped_swiglu_mlp(x, torch.tensor([0, 0]), w1, w2)
    assert y.shape == (0, 16)
    y.sum().backward()
    assert torch.count_nonzero(w1.grad) == 0


def test_bf16_close_to_fp32_reference():
    counts = [7, 0, 12]
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(19, 32, generator=gen)
    probs = torch.rand(19, generator=gen)
    w1, w2 = _weights(3, 32, 16, torch.float32, 4)
    grad_out = torch.randn(19, 32, generator=gen)
    fused = _run(x.bfloat16(), counts, w1.bfloat16(), w2.bfloat16(), probs, grad_out, True)
    exact = _run(
        x.bfloat16().float(), counts, w1.bfloat16().float(), w2.bfloat16().float(), probs, grad_out, False
    )
    for name, a, b in zip(["y", "dx", "dw1", "dw2", "dprobs"], fused, exact, strict=True):
        scale = b.abs().max().item()
        assert (a.float() - b).abs().max().item() <= 0.02 * scale + 1e-3, name


@pytest.mark.parametrize(
    ("counts", "w1_shape", "w2_shape", "message"),
    [
        ([3], (1, 16, 32), (1, 16, 16), "sums to 3"),
        ([2, 2], (1, 16, 32), (1, 16, 16), "2 entries for 1 experts"),
        ([4], (1, 16, 32), (1, 8, 16), "does not match w1"),
    ],
)
def test_shape_mistakes_are_rejected(counts, w1_shape, w2_shape, message):
    with pytest.raises(ValueError, match=message):
        grouped_swiglu_mlp(
            torch.zeros(4, 16), torch.tensor(counts), torch.zeros(w1_shape), torch.zeros(w2_shape)
        )


def test_fused_path_is_bitwise_deterministic():
    counts = [9, 0, 20, 4]
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(33, 16, generator=gen)
    probs = torch.rand(33, generator=gen)
    w1, w2 = _weights(4, 16, 16, torch.float32, 2)
    grad_out = torch.randn(33, 16, generator=gen)
    first = _run(x, counts, w1, w2, probs, grad_out, True)
    second = _run(x, counts, w1, w2, probs, grad_out, True)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_mixed_dtypes_are_rejected():
    w1, w2 = _weights(1, 16, 16, torch.float32, 0)
    with pytest.raises(ValueError, match="share a dtype"):
        grouped_swiglu_mlp(torch.zeros(2, 16, dtype=torch.bfloat16), torch.tensor([2]), w1, w2)
