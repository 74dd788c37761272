"""DeepSeek-V2 gating and balance losses in plain PyTorch.

This is the reference semantics of our router; the fused Triton kernel in `trainer.kernels` computes
the same `GatingOutput` and the router switches between the two. Where DeepSeek-V2 differs from
megatron-core 0.16.1's TopKRouter:

* a group (device) is scored by the MAX affinity of its experts (megatron sums the top-2, as in V3);
* the top-k affinities are scaled, never renormalised;
* besides the expert-level loss there are the device-level and communication balance losses, all
  three computed per sequence (T = tokens of one sequence) and averaged over the sequences;
* optional device-level token dropping: each device group keeps at most its share of the batch's
  token-expert assignments (times a capacity factor), dropping the lowest-affinity ones.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from trainer.kernels import GatingOutput

__all__ = ["BalanceLossValues", "GatingOutput", "balance_losses", "device_token_dropping", "v2_gating"]


def v2_gating(
    logits: torch.Tensor,
    topk: int,
    *,
    num_groups: int = 1,
    group_topk: int = 1,
    scaling_factor: float = 1.0,
    num_sequences: int = 1,
) -> GatingOutput:
    """Route `logits` [T, E]; token t belongs to sequence t % num_sequences ([seq, batch] flattening)."""
    num_tokens, num_experts = logits.shape
    scores = torch.softmax(logits.float(), dim=-1)
    candidates = scores
    if num_groups > 1:
        per_group = num_experts // num_groups
        group_score = scores.detach().view(num_tokens, num_groups, per_group).max(dim=-1).values
        keep_groups = torch.topk(group_score, group_topk, dim=-1).indices
        allowed = torch.zeros(num_tokens, num_groups, dtype=torch.bool, device=logits.device)
        allowed.scatter_(1, keep_groups, True)
        allowed = allowed.unsqueeze(-1).expand(-1, -1, per_group).reshape(num_tokens, num_experts)
        candidates = scores.masked_fill(~allowed, float("-inf"))
    top_vals, top_idx = torch.topk(candidates, topk, dim=-1)
    topk_probs = top_vals * scaling_factor
    routing_map = torch.zeros(num_tokens, num_experts, dtype=torch.bool, device=logits.device)
    routing_map.scatter_(1, top_idx, True)
    probs = torch.zeros_like(scores).scatter(1, top_idx, topk_probs)

    seq_of_token = torch.arange(num_tokens, device=logits.device) % num_sequences
    score_sum = scores.new_zeros(num_sequences, num_experts).index_add(0, seq_of_token, scores)
    token_count = torch.zeros(num_sequences, num_experts, dtype=torch.int64, device=logits.device)
    token_count.index_add_(0, seq_of_token, routing_map.long())
    reached = routing_map.view(num_tokens, num_groups, -1).any(dim=-1).long()
    group_count = torch.zeros(num_sequences, num_groups, dtype=torch.int64, device=logits.device)
    group_count.index_add_(0, seq_of_token, reached)
    return GatingOutput(probs, routing_map, topk_probs, top_idx, score_sum, token_count, group_count)


class BalanceLossValues(NamedTuple):
    """Unweighted losses (each already averaged over sequences); multiply by alpha_1..3 to train."""

    expert: torch.Tensor
    device: torch.Tensor
    communication: torch.Tensor


def balance_losses(
    out: GatingOutput, topk: int, num_groups: int, group_topk: int, tokens_per_sequence: int
) -> BalanceLossValues:
    """DeepSeek-V2 eqs. 12-20 from the per-sequence statistics of one routing decision.

    f_i = N/(K T) * count_i and P_i = (1/T) * sum of softmax scores; devices are the `num_groups`
    contiguous blocks of experts; f''_d = D/(M T) * tokens that reach device d.
    """
    num_seq, num_experts = out.expert_score_sum.shape
    t = float(tokens_per_sequence)
    f = out.expert_token_count.float() * (num_experts / (topk * t))
    p = out.expert_score_sum / t
    expert = (f * p).sum(dim=-1).mean()
    per_group = num_experts // num_groups
    p_dev = p.view(num_seq, num_groups, per_group).sum(dim=-1)
    f_dev = f.view(num_seq, num_groups, per_group).mean(dim=-1)
    device = (f_dev * p_dev).sum(dim=-1).mean()
    m = group_topk if num_groups > 1 else 1
    f_comm = out.group_token_count.float() * (num_groups / (m * t))
    communication = (f_comm * p_dev).sum(dim=-1).mean()
    return BalanceLossValues(expert, device, communication)


def device_token_dropping(
    probs: torch.Tensor,
    routing_map: torch.Tensor,
    topk: int,
    num_groups: int,
    capacity_factor: float,
    protected: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the lowest-affinity assignments on each device beyond its budget.

    A device's budget is capacity_factor x (assignments in the batch) / devices, the average load; the
    assignments it keeps are its highest-probability ones, so a token loses its weakest experts first.
    Tokens flagged in `protected` [T] are kept before any other (the report keeps ~10% of training
    sequences free of dropping); they can still drop if they alone exceed a device's budget.
    """
    num_tokens, num_experts = probs.shape
    per_group = num_experts // num_groups
    capacity = math.ceil(capacity_factor * num_tokens * topk / num_groups)
    grouped_probs = probs.detach().view(num_tokens, num_groups, per_group).permute(1, 0, 2)
    grouped_probs = grouped_probs.reshape(num_groups, -1)
    grouped_map = routing_map.view(num_tokens, num_groups, per_group).permute(1, 0, 2).reshape(num_groups, -1)
    if capacity >= grouped_map.shape[1]:
        return probs, routing_map
    if protected is not None:
        # affinities are at most the routed scaling factor; lift protected tokens above all of them
        lift = protected.to(grouped_probs.dtype).view(1, num_tokens, 1).expand(num_groups, -1, per_group)
        grouped_probs = grouped_probs + lift.reshape(num_groups, -1) * (1.0 + float(grouped_probs.max()))
    ranked = grouped_probs.masked_fill(~grouped_map, -1.0)
    keep_idx = torch.topk(ranked, capacity, dim=-1).indices
    keep = torch.zeros_like(grouped_map).scatter_(1, keep_idx, True) & grouped_map
    keep = keep.view(num_groups, num_tokens, per_group).permute(1, 0, 2).reshape(num_tokens, num_experts)
    return probs * keep, keep
