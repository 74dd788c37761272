"""Our router against a from-the-paper PyTorch reference of DeepSeek-V2 gating.

The reference below is written token by token from the DeepSeek-V2 report (eqs. 7-20): softmax over
all experts, device groups scored by their best expert, top-k inside the kept groups, affinities
scaled and not renormalised, and the expert-, device- and communication-level balance losses per
sequence. The router under test runs inside megatron-core's MoE machinery (TopKRouter subclass,
MoEAuxLossAutoScaler), so outputs AND gradients through the attached losses are compared.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")

from megatron.core.transformer.enums import AttnMaskType
from megatron.core.transformer.moe.moe_utils import MoEAuxLossAutoScaler, get_default_pg_collection
from megatron.core.transformer.transformer_config import TransformerConfig

from trainer.distributed import single_process_state
from trainer.kernels import topk_gating
from trainer.model.builder import router_settings, transformer_config
from trainer.model.gating import balance_losses, device_token_dropping
from trainer.model.router import DeepSeekV2Router
from trainer.model.sdpa_attention import SDPACoreAttention
from trainer.recipe import BalanceLosses, ModelConfig


def reference_gating(logits, topk, num_groups, group_topk, scale):
    """Per token, in the paper's words; returns gate values g[t, i] (0 where not chosen)."""
    tokens, experts = logits.shape
    per_group = experts // num_groups
    s = torch.softmax(logits.double(), dim=-1)
    gates = torch.zeros_like(s)
    for t in range(tokens):
        allowed = list(range(experts))
        if num_groups > 1:
            best = [max(s[t, g * per_group + j].item() for j in range(per_group)) for g in range(num_groups)]
            keep = sorted(range(num_groups), key=lambda g: -best[g])[:group_topk]
            allowed = [g * per_group + j for g in keep for j in range(per_group)]
        chosen = sorted(allowed, key=lambda i: -s[t, i].item())[:topk]
        for i in chosen:
            gates[t, i] = s[t, i] * scale
    return s, gates


def reference_losses(s, gates, topk, num_groups, group_topk, num_seq):
    """alpha-free L_ExpBal, L_DevBal, L_CommBal averaged over sequences (token t in sequence t % S)."""
    tokens, experts = s.shape
    per_group = experts // num_groups
    exp, dev, comm = [], [], []
    for q in range(num_seq):
        idx = [t for t in range(tokens) if t % num_seq == q]
        T = len(idx)
        chosen = gates[idx] > 0
        f = chosen.double().sum(0) * experts / (topk * T)
        p = s[idx].sum(0) / T
        exp.append((f * p).sum())
        f_dev = torch.stack([f[g * per_group : (g + 1) * per_group].mean() for g in range(num_groups)])
        p_dev = torch.stack([p[g * per_group : (g + 1) * per_group].sum() for g in range(num_groups)])
        dev.append((f_dev * p_dev).sum())
        reach = torch.stack(
            [
                chosen[:, g * per_group : (g + 1) * per_group].any(dim=1).double().sum()
                for g in range(num_groups)
            ]
        )
        m = group_topk if num_groups > 1 else 1
        comm.append((reach * num_groups / (m * T) * p_dev).sum())
    return torch.stack(exp).mean(), torch.stack(dev).mean(), torch.stack(comm).mean()


@pytest.mark.parametrize(
    ("experts", "topk", "groups", "group_topk", "scale"),
    [(8, 2, 1, 1, 1.0), (16, 6, 4, 2, 16.0), (12, 3, 3, 1, 2.5)],
)
def test_gating_matches_reference(experts, topk, groups, group_topk, scale):
    torch.manual_seed(0)
    seq, batch = 7, 3
    logits = torch.randn(seq * batch, experts, dtype=torch.float64) * 2
    out = topk_gating(
        logits,
        topk,
        num_groups=groups,
        group_topk=group_topk,
        scaling_factor=scale,
        num_sequences=batch,
        fused=False,
    )
    _, gates = reference_gating(logits, topk, groups, group_topk, scale)
    torch.testing.assert_close(out.probs.double(), gates, rtol=1e-5, atol=1e-7)
    assert torch.equal(out.routing_map, gates > 0)
    # no renormalisation: a token's gates sum to scale x (its chosen softmax mass), below scale
    assert bool((out.probs.sum(-1) < scale).all())


def test_group_is_scored_by_its_best_expert_not_its_top2_sum():
    # group 0: one strong expert (0.5) and weak ones; group 1: two medium experts (0.3 + 0.3 > 0.5)
    probs = torch.tensor([[0.5, 0.01, 0.01, 0.01, 0.3, 0.3, 0.01, 0.01]])
    logits = probs.log()
    out = topk_gating(logits, 1, num_groups=2, group_topk=1, fused=False)
    assert out.routing_map[0, 0]  # max-scoring keeps group 0; a top-2 sum would have kept group 1
    out2 = topk_gating(logits, 2, num_groups=2, group_topk=1, fused=False)
    assert out2.routing_map[0, :4].sum() == 2 and not out2.routing_map[0, 4:].any()


def test_device_token_dropping_respects_capacity_and_keeps_strongest():
    torch.manual_seed(1)
    logits = torch.randn(40, 8)
    logits[:, 0] += 4  # everyone wants expert 0 (group 0)
    out = topk_gating(logits, 2, num_groups=4, group_topk=4, fused=False)
    probs, kept = device_token_dropping(out.probs, out.routing_map, 2, 4, 1.0)
    capacity = 40 * 2 // 4
    per_group = kept.view(40, 4, 2).sum(dim=(0, 2))
    assert int(per_group.max()) <= capacity
    assert int(kept.sum()) < int(out.routing_map.sum())  # something was dropped
    dropped = out.routing_map & ~kept
    g0 = slice(0, 2)
    if dropped[:, g0].any():
        assert out.probs[:, g0][dropped[:, g0]].max() <= out.probs[:, g0][kept[:, g0]].min()
    assert torch.equal(probs == 0, ~kept)


def _router(experts, topk, groups, group_topk, scale, coeffs):
    model = ModelConfig(
        num_layers=2,
        hidden_size=32,
        num_attention_heads=2,
        kv_lora_rank=16,
        qk_head_dim=8,
        qk_pos_emb_head_dim=4,
        v_head_dim=8,
        ffn_hidden_size=64,
        num_experts=experts,
        moe_ffn_hidden_size=16,
        topk=topk,
        num_groups=groups,
        group_topk=group_topk,
        routed_scaling_factor=scale,
        balance=BalanceLosses(**coeffs),
        vocab_size=64,
    )
    config = transformer_config(model, precision="fp32")
    router = DeepSeekV2Router(config, get_default_pg_collection(), settings=router_settings(model))
    router.set_layer_number(2)
    return router


def test_router_outputs_and_gradients_match_reference():
    experts, topk, groups, group_topk, scale = 16, 4, 4, 2, 16.0
    coeffs = {"expert": 0.003, "device": 0.05, "communication": 0.02}
    seq, batch, hidden = 6, 2, 32
    with single_process_state():
        router = _router(experts, topk, groups, group_topk, scale, coeffs)
        router.train()
        MoEAuxLossAutoScaler.set_loss_scale(torch.tensor(1.0))
        torch.manual_seed(3)
        x = torch.randn(seq, batch, hidden, requires_grad=True)
        upstream = torch.randn(seq * batch, experts)
        probs, routing_map = router(x)
        (probs * upstream).sum().backward()
        got_x, got_w = x.grad.clone(), router.weight.grad.clone()

        # the same computation by hand, from the paper, in float64
        x_ref = x.detach().double().clone().requires_grad_(True)
        w_ref = router.weight.detach().double().clone().requires_grad_(True)
        logits = x_ref.reshape(-1, hidden) @ w_ref.t()
        s, gates = reference_gating(logits, topk, groups, group_topk, scale)
        le, ld, lc = reference_losses(s, gates, topk, groups, group_topk, batch)
        total = (gates * upstream.double()).sum() + coeffs["expert"] * le + coeffs["device"] * ld
        total = total + coeffs["communication"] * lc
        total.backward()

    torch.testing.assert_close(probs.double(), gates.detach(), rtol=1e-5, atol=1e-6)
    assert torch.equal(routing_map, gates.detach() > 0)
    torch.testing.assert_close(got_x.double(), x_ref.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(got_w.double(), w_ref.grad, rtol=1e-4, atol=1e-6)
    assert int(router.take_expert_load().sum()) == seq * batch * topk


def test_balance_losses_are_one_at_perfect_balance():
    # 8 tokens, 4 experts in 2 groups, top-1, uniform scores, each expert chosen twice
    logits = torch.zeros(8, 4)
    logits[torch.arange(8), torch.arange(8) % 4] = 1e-4
    out = topk_gating(logits, 1, num_groups=2, group_topk=1, fused=False)
    values = balance_losses(out, 1, 2, 1, tokens_per_sequence=8)
    for v in values:
        assert abs(float(v) - 1.0) < 1e-3


def test_fused_switch_computes_the_same_routing():
    """`fused: true` routes through trainer.kernels.topk_gating (Triton on GPUs) - same result."""
    coeffs = {"expert": 0.003, "device": 0.05, "communication": 0.02}
    outs = []
    with single_process_state():
        for fused in (False, True):
            router = _router(16, 4, 4, 2, 16.0, coeffs)
            router.settings = type(router.settings)(**{**router.settings.__dict__, "fused": fused})
            torch.manual_seed(5)
            router.weight.data.normal_(0, 0.5)
            router.train()
            MoEAuxLossAutoScaler.set_loss_scale(torch.tensor(1.0))
            x = torch.randn(5, 3, 32, requires_grad=True)
            probs, routing_map = router(x)
            probs.pow(2).sum().backward()
            outs.append((probs.detach(), routing_map, x.grad.clone(), router.weight.grad.clone()))
    (p0, m0, gx0, gw0), (p1, m1, gx1, gw1) = outs
    assert torch.equal(m0, m1)
    torch.testing.assert_close(p0, p1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx0, gx1, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gw0, gw1, rtol=1e-4, atol=1e-6)


def test_sdpa_core_attention_matches_explicit_causal_softmax():
    """The TE-free MLA core attention: different key and value head sizes, MLA's own scale."""
    config = TransformerConfig(num_layers=1, hidden_size=32, num_attention_heads=2)
    scale = 0.37
    attn = SDPACoreAttention(config, 1, AttnMaskType.causal, "self", softmax_scale=scale).eval()
    torch.manual_seed(0)
    s, b, h, dk, dv = 9, 2, 2, 12, 8
    q, k = torch.randn(s, b, h, dk), torch.randn(s, b, h, dk)
    v = torch.randn(s, b, h, dv)
    out = attn(q, k, v, None)
    scores = torch.einsum("sbhd,tbhd->bhst", q, k) * scale
    scores = scores.masked_fill(torch.triu(torch.ones(s, s, dtype=torch.bool), 1), float("-inf"))
    expected = torch.einsum("bhst,tbhd->sbhd", scores.softmax(-1), v).reshape(s, b, h * dv)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_protected_tokens_are_never_dropped_first():
    torch.manual_seed(2)
    logits = torch.randn(40, 8)
    logits[:, 0] += 4  # overload group 0
    out = topk_gating(logits, 2, num_groups=4, group_topk=4, fused=False)
    protected = torch.zeros(40, dtype=torch.bool)
    protected[::10] = True  # 4 tokens: 8 assignments, well within a group's budget of 20
    _, kept = device_token_dropping(out.probs, out.routing_map, 2, 4, 1.0, protected)
    assert torch.equal(kept[protected], out.routing_map[protected])
    assert int(kept.sum()) < int(out.routing_map.sum())
