"""Closed-form parameter and FLOP counts of a DeepSeek-V2 shape.

They serve two purposes: the MFU estimate (FLOPs per token of the ACTIVE path, which a sharded model
cannot count by itself) and an independent check of the built megatron-core model's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainer.recipe import ModelConfig


@dataclass(frozen=True)
class ShapeCounts:
    attention: int  # per layer, including the MLA latent norms
    dense_mlp: int  # per dense layer
    routed_expert: int  # one routed expert
    shared_experts: int  # all shared experts of one layer
    router: int  # per MoE layer
    norms: int  # per layer: input and pre-MLP RMSNorm
    embedding: int
    output_head: int
    final_norm: int
    total: int
    active: int  # without input embedding, with output head


def shape_counts(m: ModelConfig) -> ShapeCounts:
    h, heads = m.hidden_size, m.num_attention_heads
    qk = m.qk_head_dim + m.qk_pos_emb_head_dim
    if m.q_lora_rank is None:
        q = h * heads * qk
    else:
        q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * heads * qk
    kv = h * (m.kv_lora_rank + m.qk_pos_emb_head_dim) + m.kv_lora_rank
    kv += m.kv_lora_rank * heads * (m.qk_head_dim + m.v_head_dim)
    attention = q + kv + heads * m.v_head_dim * h
    dense = 3 * h * m.ffn_hidden_size
    expert = 3 * h * m.moe_ffn_hidden_size
    shared = m.num_shared_experts * expert
    router = m.num_experts * h
    norms = 2 * h
    emb = head = (m.vocab_size or 0) * h  # null: taken from the manifest at training time
    moe_layer_total = router + m.num_experts * expert + shared
    moe_layer_active = router + m.topk * expert + shared
    per_layer = attention + norms
    total = (
        m.num_layers * per_layer
        + m.first_dense_layers * dense
        + m.num_moe_layers * moe_layer_total
        + emb
        + head
        + h
    )
    active = m.num_layers * per_layer + m.first_dense_layers * dense + m.num_moe_layers * moe_layer_active
    active += head + h
    return ShapeCounts(attention, dense, expert, shared, router, norms, emb, head, h, total, active)


def train_flops_per_token(m: ModelConfig, seq_length: int) -> float:
    """Forward+backward FLOPs per token: 6 x active matmul weights + causal attention (QK^T and AV).

    Norms and the router softmax are ignored (a fraction of a percent); the attention term counts
    the causal half of the score matrix, i.e. an average context of seq_length / 2.
    """
    c = shape_counts(m)
    matmul = c.active - m.num_layers * c.norms - c.final_norm
    qk = m.qk_head_dim + m.qk_pos_emb_head_dim
    attn = 2 * m.num_attention_heads * (qk + m.v_head_dim) * (seq_length / 2) * m.num_layers
    return 3.0 * (2.0 * matmul + attn)
