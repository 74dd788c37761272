"""Fused token permutation: group tokens by expert and sum expert outputs back.

Everything here is driven by one [tokens, topk] table of destination rows (`permute_plan`), which
turns all four directions into row copies with no atomics:
  permute forward    scatter  out[dest[t, k]] = x[t]                     (and the pair's probability)
  permute backward   gather   gx[t] = sum_k g[dest[t, k]]
  unpermute forward  gather   y[t] = sum_k p[t, k] * out[dest[t, k]]     (fp32 accumulation)
  unpermute backward scatter  g_out[dest[t, k]] = p[t, k] * g[t], g_p[t, k] = <out[dest[t, k]], g[t]>
megatron-core's unfused path instead builds [experts, tokens] masks, runs masked_select, index_select,
a probability multiply that promotes to fp32, and scatter_add with its atomics.

The plan is computed with two small kernels: per-block expert counts, then a scan inside each block
(`tl.cumsum`) added to block offsets, which reproduces a stable sort by expert without sorting.
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the reference path still works; `use_fused` reports why
    triton = tl = None

from trainer.kernels.backend import jit, next_pow2, use_fused
from trainer.kernels.reference import (
    PermutePlan,
    permute_plan_from_map_reference,
    permute_plan_reference,
    permute_tokens_reference,
    unpermute_tokens_reference,
)


def _plan_count_kernel(
    idx_ptr,
    part_ptr,
    num_tokens,
    local_start,
    num_local,
    BLOCK_T: tl.constexpr,
    BLOCK_L: tl.constexpr,
    TOPK: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_T + tl.arange(0, BLOCK_T)
    row_ok = rows < num_tokens
    rows64 = rows.to(tl.int64)
    cols = tl.arange(0, BLOCK_L)
    onehot = tl.zeros((BLOCK_T, BLOCK_L), tl.int32)
    for k in tl.static_range(TOPK):
        local = tl.load(idx_ptr + rows64 * TOPK + k, mask=row_ok, other=-1) - local_start
        onehot = tl.where(cols[None, :] == local[:, None], 1, onehot)
    tl.store(part_ptr + pid * num_local + cols, tl.sum(onehot, axis=0), mask=cols < num_local)


def _plan_dest_kernel(
    idx_ptr,
    base_ptr,
    dest_ptr,
    num_tokens,
    local_start,
    num_local,
    BLOCK_T: tl.constexpr,
    BLOCK_L: tl.constexpr,
    TOPK: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_T + tl.arange(0, BLOCK_T)
    row_ok = rows < num_tokens
    rows64 = rows.to(tl.int64)
    cols = tl.arange(0, BLOCK_L)
    onehot = tl.zeros((BLOCK_T, BLOCK_L), tl.int32)
    for k in tl.static_range(TOPK):
        local = tl.load(idx_ptr + rows64 * TOPK + k, mask=row_ok, other=-1) - local_start
        onehot = tl.where(cols[None, :] == local[:, None], 1, onehot)
    base = tl.load(base_ptr + pid * num_local + cols, mask=cols < num_local, other=0)
    row_of = base[None, :] + tl.cumsum(onehot, axis=0) - 1
    for k in tl.static_range(TOPK):
        local = tl.load(idx_ptr + rows64 * TOPK + k, mask=row_ok, other=-1) - local_start
        valid = (local >= 0) & (local < num_local)
        dest = tl.sum(tl.where(cols[None, :] == local[:, None], row_of, 0), axis=1)
        tl.store(dest_ptr + rows64 * TOPK + k, tl.where(valid, dest, -1).to(tl.int64), mask=row_ok)


def _map_count_kernel(
    map_ptr,
    part_ptr,
    over_ptr,
    num_tokens,
    num_experts,
    local_start,
    num_local,
    BLOCK_T: tl.constexpr,
    BLOCK_L: tl.constexpr,
    TOPK: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_L)
    ok = (rows < num_tokens)[:, None] & (cols < num_local)[None, :]
    ptrs = map_ptr + rows.to(tl.int64)[:, None] * num_experts + local_start + cols[None, :]
    onehot = (tl.load(ptrs, mask=ok, other=0) != 0).to(tl.int32)
    tl.store(part_ptr + pid * num_local + cols, tl.sum(onehot, axis=0), mask=cols < num_local)
    # Rows with more than TOPK local experts would not fit the [T, TOPK] plan: count them.
    tl.store(over_ptr + pid, tl.sum((tl.sum(onehot, axis=1) > TOPK).to(tl.int32), axis=0))


def _map_dest_kernel(
    map_ptr,
    base_ptr,
    dest_ptr,
    expert_ptr,
    num_tokens,
    num_experts,
    local_start,
    num_local,
    BLOCK_T: tl.constexpr,
    BLOCK_L: tl.constexpr,
    TOPK: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_T + tl.arange(0, BLOCK_T)
    row_ok = rows < num_tokens
    rows64 = rows.to(tl.int64)
    cols = tl.arange(0, BLOCK_L)
    ok = row_ok[:, None] & (cols < num_local)[None, :]
    ptrs = map_ptr + rows64[:, None] * num_experts + local_start + cols[None, :]
    onehot = (tl.load(ptrs, mask=ok, other=0) != 0).to(tl.int32)
    base = tl.load(base_ptr + pid * num_local + cols, mask=cols < num_local, other=0)
    row_of = base[None, :] + tl.cumsum(onehot, axis=0) - 1
    # The k-th chosen expert of a token is the column where its running count reaches k + 1.
    slot = tl.where(onehot > 0, tl.cumsum(onehot, axis=1) - 1, -1)
    for k in tl.static_range(TOPK):
        at_k = slot == k
        found = tl.sum(at_k.to(tl.int32), axis=1) > 0
        dest = tl.sum(tl.where(at_k, row_of, 0), axis=1)
        expert = tl.sum(tl.where(at_k, cols[None, :], 0), axis=1) + local_start
        tl.store(dest_ptr + rows64 * TOPK + k, tl.where(found, dest, -1).to(tl.int64), mask=row_ok)
        tl.store(expert_ptr + rows64 * TOPK + k, tl.where(found, expert, -1).to(tl.int64), mask=row_ok)


def _scatter_rows_kernel(
    x_ptr,
    dest_ptr,
    w_ptr,
    out_ptr,
    src_ptr,
    g_w_ptr,
    p_ptr,
    p_out_ptr,
    hidden,
    stride_x,
    stride_out,
    stride_src,
    TOPK: tl.constexpr,
    BLOCK_H: tl.constexpr,
    HAS_W: tl.constexpr,
    WITH_DOT: tl.constexpr,
    HAS_P: tl.constexpr,
):
    """out[dest[t, k]] = w[t, k] * x[t]; optionally <src[dest[t, k]], x[t]> and p_out[dest] = p."""
    t = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_H)
    for k in tl.static_range(TOPK):
        dest = tl.load(dest_ptr + t * TOPK + k)
        if dest >= 0:
            if HAS_W:
                w = tl.load(w_ptr + t * TOPK + k).to(tl.float32)
            if HAS_P:
                tl.store(p_out_ptr + dest, tl.load(p_ptr + t * TOPK + k))
            dot = tl.zeros((BLOCK_H,), tl.float32)
            for h0 in range(0, hidden, BLOCK_H):
                cols = h0 + offs
                ok = cols < hidden
                xv = tl.load(x_ptr + t * stride_x + cols, mask=ok, other=0.0)
                if HAS_W:
                    yv = (xv.to(tl.float32) * w).to(out_ptr.dtype.element_ty)
                else:
                    yv = xv.to(out_ptr.dtype.element_ty)
                tl.store(out_ptr + dest * stride_out + cols, yv, mask=ok)
                if WITH_DOT:
                    sv = tl.load(src_ptr + dest * stride_src + cols, mask=ok, other=0.0)
                    dot += sv.to(tl.float32) * xv.to(tl.float32)
            if WITH_DOT:
                tl.store(g_w_ptr + t * TOPK + k, tl.sum(dot, axis=0))
        else:
            if WITH_DOT:
                tl.store(g_w_ptr + t * TOPK + k, 0.0)


def _gather_rows_kernel(
    src_ptr,
    dest_ptr,
    w_ptr,
    out_ptr,
    p_src_ptr,
    p_out_ptr,
    hidden,
    stride_src,
    stride_out,
    TOPK: tl.constexpr,
    BLOCK_H: tl.constexpr,
    HAS_W: tl.constexpr,
    HAS_P: tl.constexpr,
):
    """out[t] = sum_k w[t, k] * src[dest[t, k]] (fp32 sum); optionally p_out[t, k] = p_src[dest]."""
    t = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_H)
    if HAS_P:
        for k in tl.static_range(TOPK):
            dest = tl.load(dest_ptr + t * TOPK + k)
            pv = tl.load(p_src_ptr + tl.maximum(dest, 0))
            tl.store(p_out_ptr + t * TOPK + k, tl.where(dest >= 0, pv, 0.0))
    for h0 in range(0, hidden, BLOCK_H):
        cols = h0 + offs
        ok = cols < hidden
        acc = tl.zeros((BLOCK_H,), tl.float32)
        for k in tl.static_range(TOPK):
            dest = tl.load(dest_ptr + t * TOPK + k)
            # A pair routed off this rank (dest -1) reads nothing: its column limit is 0.
            limit = tl.where(dest >= 0, hidden, 0)
            sv = tl.load(src_ptr + tl.maximum(dest, 0) * stride_src + cols, mask=cols < limit, other=0.0)
            if HAS_W:
                acc += sv.to(tl.float32) * tl.load(w_ptr + t * TOPK + k).to(tl.float32)
            else:
                acc += sv.to(tl.float32)
        tl.store(out_ptr + t * stride_out + cols, acc.to(out_ptr.dtype.element_ty), mask=ok)


def _block_h(hidden: int) -> int:
    return min(1024, next_pow2(hidden))


def _scatter_rows(x, dest, num_out, weights=None, src=None, probs=None):
    """Launch `_scatter_rows_kernel`; returns (out, grad of weights or None, permuted probs or None)."""
    num_tokens, topk = dest.shape
    hidden = x.shape[1]
    out = torch.empty(num_out, hidden, dtype=x.dtype, device=x.device)
    g_w = torch.empty(num_tokens, topk, dtype=torch.float32, device=x.device) if src is not None else None
    p_out = torch.empty(num_out, dtype=probs.dtype, device=x.device) if probs is not None else None
    if num_tokens and hidden:
        jit(_scatter_rows_kernel)[(num_tokens,)](
            x,
            dest,
            weights if weights is not None else x,
            out,
            src if src is not None else x,
            g_w if g_w is not None else out,
            probs if probs is not None else x,
            p_out if p_out is not None else out,
            hidden,
            x.stride(0),
            out.stride(0),
            src.stride(0) if src is not None else 0,
            TOPK=topk,
            BLOCK_H=_block_h(hidden),
            HAS_W=weights is not None,
            WITH_DOT=src is not None,
            HAS_P=probs is not None,
            num_warps=4,
        )
    elif g_w is not None:
        g_w.zero_()
    return out, g_w, p_out


def _gather_rows(src, dest, weights=None, p_src=None):
    """Launch `_gather_rows_kernel`; returns (out, gathered probabilities or None)."""
    num_tokens, topk = dest.shape
    hidden = src.shape[1]
    out = torch.empty(num_tokens, hidden, dtype=src.dtype, device=src.device)
    p_out = torch.empty(num_tokens, topk, dtype=p_src.dtype, device=src.device) if p_src is not None else None
    if num_tokens:
        jit(_gather_rows_kernel)[(num_tokens,)](
            src,
            dest,
            weights if weights is not None else src,
            out,
            p_src if p_src is not None else src,
            p_out if p_out is not None else out,
            hidden,
            src.stride(0),
            out.stride(0),
            TOPK=topk,
            BLOCK_H=_block_h(max(hidden, 1)),
            HAS_W=weights is not None,
            HAS_P=p_src is not None,
            num_warps=4,
        )
    return out, p_out


class _FusedPermute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tokens, probs, dest_rows, num_out_tokens):
        tokens = tokens.contiguous()
        probs_c = probs.contiguous() if probs is not None else None
        out, _, p_out = _scatter_rows(tokens, dest_rows, num_out_tokens, probs=probs_c)
        ctx.save_for_backward(dest_rows)
        ctx.has_probs = probs is not None
        return out, p_out

    @staticmethod
    def backward(ctx, g_out, g_p_out):
        (dest_rows,) = ctx.saved_tensors
        if g_out is None:
            raise RuntimeError("permute_tokens backward needs the gradient of the permuted tokens")
        p_src = None
        if ctx.has_probs:
            p_src = g_p_out.contiguous() if g_p_out is not None else None
        g_tokens, g_probs = _gather_rows(g_out.contiguous(), dest_rows, p_src=p_src)
        return g_tokens, g_probs, None, None


class _FusedUnpermute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, permuted, probs, dest_rows):
        permuted = permuted.contiguous()
        probs_c = probs.contiguous() if probs is not None else None
        out, _ = _gather_rows(permuted, dest_rows, weights=probs_c)
        ctx.save_for_backward(permuted, probs_c, dest_rows)
        ctx.probs_dtype = probs.dtype if probs is not None else None
        return out

    @staticmethod
    def backward(ctx, g_out):
        permuted, probs, dest_rows = ctx.saved_tensors
        need_probs_grad = probs is not None and ctx.needs_input_grad[1]
        g_permuted, g_probs, _ = _scatter_rows(
            g_out.contiguous(),
            dest_rows,
            permuted.shape[0],
            weights=probs,
            src=permuted if need_probs_grad else None,
        )
        if g_probs is not None:
            g_probs = g_probs.to(ctx.probs_dtype)
        return g_permuted, g_probs, None


def _plan_block_rows(num_local: int) -> int:
    """Token rows per plan program: the [rows, local experts] one-hot and its scan stay in registers
    (2,048 entries over 8 warps compile without spills for sm_90; 8,192 spilled)."""
    return max(1, min(256, 2048 // next_pow2(num_local)))


_PLAN_WARPS = 8


def permute_plan(
    topk_indices: torch.Tensor,
    num_experts: int,
    *,
    local_expert_start: int = 0,
    num_local_experts: int | None = None,
    fused: bool = True,
) -> PermutePlan:
    """Destination row of every (token, k) pair; see `trainer.kernels` for the layout."""
    num_local = num_experts - local_expert_start if num_local_experts is None else num_local_experts
    if topk_indices.dim() != 2:
        raise ValueError(f"topk_indices must be [tokens, topk], got shape {tuple(topk_indices.shape)}")
    if not (local_expert_start >= 0 and num_local >= 1 and local_expert_start + num_local <= num_experts):
        raise ValueError(
            f"local experts [{local_expert_start}, {local_expert_start + num_local}) "
            f"do not fit in {num_experts} experts"
        )
    if not use_fused(fused, "permute", topk_indices.device):
        return permute_plan_reference(
            topk_indices, num_experts, local_expert_start=local_expert_start, num_local_experts=num_local
        )
    idx = topk_indices.to(torch.int64).contiguous()
    num_tokens, topk = idx.shape
    block_t = _plan_block_rows(num_local)
    num_blocks = max(1, triton.cdiv(num_tokens, block_t))
    part = torch.zeros(num_blocks, num_local, dtype=torch.int64, device=idx.device)
    meta = {"BLOCK_T": block_t, "BLOCK_L": next_pow2(num_local), "TOPK": topk}
    dest = torch.empty(num_tokens, topk, dtype=torch.int64, device=idx.device)
    if num_tokens:
        jit(_plan_count_kernel)[(num_blocks,)](
            idx, part, num_tokens, local_expert_start, num_local, **meta, num_warps=_PLAN_WARPS
        )
    counts = part.sum(dim=0)
    expert_start = torch.cumsum(counts, dim=0) - counts
    block_base = torch.cumsum(part, dim=0) - part + expert_start
    if num_tokens:
        jit(_plan_dest_kernel)[(num_blocks,)](
            idx, block_base, dest, num_tokens, local_expert_start, num_local, **meta, num_warps=_PLAN_WARPS
        )
    return PermutePlan(dest, counts, int(counts.sum()))


def permute_plan_from_map(
    routing_map: torch.Tensor,
    topk: int,
    *,
    local_expert_start: int = 0,
    num_local_experts: int | None = None,
    fused: bool = True,
) -> tuple[PermutePlan, torch.Tensor]:
    """`permute_plan` for callers that hold megatron-core's dense [T, E] routing map instead of indices.

    Returns the plan and each pair's global expert index [T, topk] (-1 where a token has fewer than
    `topk` local experts), with which the caller gathers the pairs' probabilities.
    """
    if routing_map.dim() != 2:
        raise ValueError(f"routing_map must be [tokens, experts], got shape {tuple(routing_map.shape)}")
    num_tokens, num_experts = routing_map.shape
    num_local = num_experts - local_expert_start if num_local_experts is None else num_local_experts
    if not (local_expert_start >= 0 and num_local >= 1 and local_expert_start + num_local <= num_experts):
        raise ValueError(
            f"local experts [{local_expert_start}, {local_expert_start + num_local}) "
            f"do not fit in {num_experts} experts"
        )
    if not use_fused(fused, "permute", routing_map.device):
        return permute_plan_from_map_reference(
            routing_map, topk, local_expert_start=local_expert_start, num_local_experts=num_local
        )
    rmap = routing_map.contiguous()
    if rmap.dtype == torch.bool:
        rmap = rmap.view(torch.uint8)
    block_t = _plan_block_rows(num_local)
    num_blocks = max(1, triton.cdiv(num_tokens, block_t))
    part = torch.zeros(num_blocks, num_local, dtype=torch.int64, device=rmap.device)
    dest = torch.empty(num_tokens, topk, dtype=torch.int64, device=rmap.device)
    expert_idx = torch.empty(num_tokens, topk, dtype=torch.int64, device=rmap.device)
    over = torch.zeros(num_blocks, dtype=torch.int32, device=rmap.device)
    meta = {"BLOCK_T": block_t, "BLOCK_L": next_pow2(num_local)}
    if num_tokens:
        jit(_map_count_kernel)[(num_blocks,)](
            rmap,
            part,
            over,
            num_tokens,
            num_experts,
            local_expert_start,
            num_local,
            **meta,
            TOPK=topk,
            num_warps=_PLAN_WARPS,
        )
    counts = part.sum(dim=0)
    num_out, overflow = torch.stack([counts.sum(), over.sum().to(counts.dtype)]).tolist()
    if overflow:
        raise ValueError(f"{overflow} tokens chose more than topk={topk} local experts in the routing map")
    expert_start = torch.cumsum(counts, dim=0) - counts
    block_base = torch.cumsum(part, dim=0) - part + expert_start
    if num_tokens:
        jit(_map_dest_kernel)[(num_blocks,)](
            rmap,
            block_base,
            dest,
            expert_idx,
            num_tokens,
            num_experts,
            local_expert_start,
            num_local,
            **meta,
            TOPK=topk,
            num_warps=_PLAN_WARPS,
        )
    return PermutePlan(dest, counts, int(num_out)), expert_idx


def _check_probs(probs: torch.Tensor | None, dest_rows: torch.Tensor) -> None:
    if probs is not None and probs.shape != dest_rows.shape:
        raise ValueError(
            f"probs {tuple(probs.shape)} must match dest_rows {tuple(dest_rows.shape)}: one per (token, k) pair"
        )


def permute_tokens(
    tokens: torch.Tensor,
    dest_rows: torch.Tensor,
    num_out_tokens: int,
    probs: torch.Tensor | None = None,
    *,
    fused: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gather `tokens` [T, H] into expert-grouped rows; `probs` [T, K] travel with them."""
    if tokens.dim() != 2 or dest_rows.dim() != 2 or dest_rows.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"tokens {tuple(tokens.shape)} and dest_rows {tuple(dest_rows.shape)} disagree on the token count"
        )
    _check_probs(probs, dest_rows)
    if not use_fused(fused, "permute", tokens.device):
        return permute_tokens_reference(tokens, dest_rows, num_out_tokens, probs)
    return _FusedPermute.apply(tokens, probs, dest_rows.to(torch.int64).contiguous(), num_out_tokens)


def unpermute_tokens(
    permuted: torch.Tensor,
    dest_rows: torch.Tensor,
    probs: torch.Tensor | None = None,
    *,
    fused: bool = True,
) -> torch.Tensor:
    """Sum each token's expert outputs back in place, weighted by `probs` [T, K] when given."""
    if permuted.dim() != 2:
        raise ValueError(f"permuted tokens must be [rows, hidden], got shape {tuple(permuted.shape)}")
    _check_probs(probs, dest_rows)
    if not use_fused(fused, "permute", permuted.device):
        return unpermute_tokens_reference(permuted, dest_rows, probs)
    return _FusedUnpermute.apply(permuted, probs, dest_rows.to(torch.int64).contiguous())
