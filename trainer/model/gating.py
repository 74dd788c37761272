"""The DeepSeek-V2 router's balance losses and device-level token dropping, in plain PyTorch.

The gating itself is `trainer.kernels.topk_gating` (`fused=False` is its plain PyTorch path, the
semantics the fused kernel reproduces); what is here works on its `GatingOutput`. Where DeepSeek-V2
differs from megatron-core 0.16.1's TopKRouter:

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

__all__ = ["BalanceLossValues", "balance_losses", "device_token_dropping"]


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
