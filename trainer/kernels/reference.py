"""Plain PyTorch references for every fused kernel.

They define the semantics the Triton kernels must reproduce (tests compare the two, outputs and
gradients) and they are what runs where Triton or a GPU is missing. Autograd differentiates them,
so they need no hand-written backward.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class GatingOutput(NamedTuple):
    """Routing decision of one batch of tokens; shapes are documented in `trainer.kernels`."""

    probs: torch.Tensor
    routing_map: torch.Tensor
    topk_probs: torch.Tensor
    topk_indices: torch.Tensor
    expert_score_sum: torch.Tensor
    expert_token_count: torch.Tensor
    group_token_count: torch.Tensor


class PermutePlan(NamedTuple):
    """Destination rows of every (token, k) pair once tokens are grouped by expert."""

    dest_rows: torch.Tensor
    tokens_per_expert: torch.Tensor
    num_out_tokens: int


def topk_gating_reference(
    logits: torch.Tensor,
    topk: int,
    *,
    num_groups: int = 1,
    group_topk: int = 1,
    scaling_factor: float = 1.0,
    num_sequences: int = 1,
) -> GatingOutput:
    """DeepSeek-V2 routing: softmax over all experts, groups scored by their max, no renormalisation.

    The plain PyTorch path of `topk_gating(fused=False)`, which checks the arguments before it gets here.
    """
    num_tokens, num_experts = logits.shape
    scores = torch.softmax(logits.float(), dim=-1)
    if num_groups > 1:
        group_scores = scores.detach().view(num_tokens, num_groups, -1).amax(dim=-1)
        chosen_groups = group_scores.topk(group_topk, dim=-1).indices
        group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, chosen_groups, True)
        expert_mask = group_mask.repeat_interleave(num_experts // num_groups, dim=1)
        masked = scores.masked_fill(~expert_mask, float("-inf"))
    else:
        masked = scores
    top_scores, top_indices = masked.topk(topk, dim=-1)
    topk_probs = top_scores * scaling_factor
    probs = torch.zeros_like(scores).scatter(1, top_indices, topk_probs)
    routing_map = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, top_indices, True)

    seq = torch.arange(num_tokens, device=logits.device) % num_sequences
    score_sum = scores.new_zeros(num_sequences, num_experts).index_add(0, seq, scores)
    token_count = torch.zeros(num_sequences, num_experts, dtype=torch.int64, device=logits.device)
    token_count.index_add_(0, seq, routing_map.long())
    group_hit = routing_map.view(num_tokens, num_groups, -1).any(dim=-1).long()
    group_count = torch.zeros(num_sequences, num_groups, dtype=torch.int64, device=logits.device)
    group_count.index_add_(0, seq, group_hit)
    return GatingOutput(probs, routing_map, topk_probs, top_indices, score_sum, token_count, group_count)


def permute_plan_reference(
    topk_indices: torch.Tensor,
    num_experts: int,
    *,
    local_expert_start: int = 0,
    num_local_experts: int | None = None,
) -> PermutePlan:
    """Stable sort of the (token, k) pairs by expert: expert-major, tokens ascending inside."""
    num_local = num_experts - local_expert_start if num_local_experts is None else num_local_experts
    flat = topk_indices.reshape(-1).long()
    local = flat - local_expert_start
    is_local = (local >= 0) & (local < num_local)
    key = torch.where(is_local, local, torch.full_like(local, num_local))
    order = torch.sort(key, stable=True).indices
    dest = torch.empty_like(order)
    dest[order] = torch.arange(order.numel(), device=order.device)
    dest = torch.where(is_local, dest, torch.full_like(dest, -1))
    counts = torch.bincount(key[is_local], minlength=num_local)[:num_local]
    return PermutePlan(dest.view(topk_indices.shape), counts, int(is_local.sum()))


def permute_plan_from_map_reference(
    routing_map: torch.Tensor, topk: int, *, local_expert_start: int = 0, num_local_experts: int | None = None
) -> tuple[PermutePlan, torch.Tensor]:
    """Plan from a dense [T, E] routing map; also returns each pair's global expert (-1 padding).

    A token's pairs are listed by ascending expert; a token with fewer than `topk` chosen local
    experts (other ranks' experts, dropped assignments) is padded with row -1.
    """
    num_tokens, num_experts = routing_map.shape
    num_local = num_experts - local_expert_start if num_local_experts is None else num_local_experts
    local_map = routing_map[:, local_expert_start : local_expert_start + num_local].bool()
    per_token = local_map.sum(dim=1)
    if num_tokens and int(per_token.max()) > topk:
        raise ValueError(f"a token chose {int(per_token.max())} local experts, more than topk={topk}")
    tok, exp = local_map.nonzero(as_tuple=True)
    first = torch.cumsum(per_token, dim=0) - per_token
    slot = torch.arange(tok.numel(), device=routing_map.device) - first[tok]
    expert_idx = torch.full((num_tokens, topk), -1, dtype=torch.int64, device=routing_map.device)
    expert_idx[tok, slot] = exp + local_expert_start
    plan = permute_plan_reference(
        expert_idx, num_experts, local_expert_start=local_expert_start, num_local_experts=num_local
    )
    return plan, expert_idx


def permute_tokens_reference(
    tokens: torch.Tensor,
    dest_rows: torch.Tensor,
    num_out_tokens: int,
    probs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rows of `tokens` copied to their expert-grouped positions (each token once per expert)."""
    topk = dest_rows.shape[1]
    flat_dest = dest_rows.reshape(-1)
    keep = flat_dest >= 0
    src = torch.arange(tokens.shape[0], device=tokens.device).repeat_interleave(topk)[keep]
    order = torch.empty(num_out_tokens, dtype=torch.long, device=tokens.device)
    order[flat_dest[keep]] = src
    permuted = tokens.index_select(0, order)
    permuted_probs = None
    if probs is not None:
        pair = torch.arange(flat_dest.numel(), device=tokens.device)[keep]
        pair_order = torch.empty(num_out_tokens, dtype=torch.long, device=tokens.device)
        pair_order[flat_dest[keep]] = pair
        permuted_probs = probs.reshape(-1).index_select(0, pair_order)
    return permuted, permuted_probs


def unpermute_tokens_reference(
    permuted: torch.Tensor, dest_rows: torch.Tensor, probs: torch.Tensor | None = None
) -> torch.Tensor:
    """Each token's expert outputs summed back in place, weighted by its routing probabilities."""
    num_tokens, topk = dest_rows.shape
    keep = dest_rows >= 0
    gathered = permuted.index_select(0, dest_rows.clamp(min=0).reshape(-1)).view(num_tokens, topk, -1)
    weight = keep.to(torch.float32)
    if probs is not None:
        weight = weight * probs.float()
    out = (gathered.float() * weight.unsqueeze(-1)).sum(dim=1)
    return out.to(permuted.dtype)


def grouped_swiglu_mlp_reference(
    x: torch.Tensor,
    tokens_per_expert: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """One SwiGLU MLP per expert over its contiguous slice of rows, as a loop of matmuls."""
    ffn = w2.shape[1]
    counts = [int(c) for c in tokens_per_expert.tolist()]
    outputs = []
    start = 0
    for expert, count in enumerate(counts):
        rows = x[start : start + count]
        h = rows @ w1[expert]
        act = F.silu(h[:, :ffn].float()) * h[:, ffn:].float()
        if probs is not None:
            act = act * probs[start : start + count].float().unsqueeze(-1)
        outputs.append(act.to(x.dtype) @ w2[expert])
        start += count
    if not outputs:
        return x.new_zeros(0, w2.shape[2])
    return torch.cat(outputs, dim=0)
