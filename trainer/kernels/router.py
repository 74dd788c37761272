"""Fused DeepSeek-V2 router: softmax, group-limited top-k, scaling and balance statistics.

The unfused path (megatron-core's `topk_routing_with_score_function` plus the aux-loss scoring)
launches a dozen kernels over the [tokens, experts] matrix: softmax, a group view, topk of groups,
a scatter for the group mask, masked_fill, topk, two scatters for the dense map, and again for the
aux-loss scores. Here one program holds a block of token rows in registers and does all of it; the
backward recomputes the softmax from the logits instead of saving the [T, E] scores.

Statistics are written as per-block partial sums and reduced with `torch.sum`, not with atomics,
so that the same inputs give bit-identical statistics run after run.
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the reference path still works; `use_fused` reports why
    triton = tl = None

from trainer.kernels.backend import jit, next_pow2, use_fused
from trainer.kernels.reference import GatingOutput, topk_gating_reference


def _router_fwd_kernel(
    logits_ptr,
    probs_ptr,
    map_ptr,
    topk_probs_ptr,
    topk_idx_ptr,
    part_sum_ptr,
    part_cnt_ptr,
    part_grp_ptr,
    num_tokens,
    num_experts,
    num_sequences,
    group_size,
    scaling,
    stride_logits,
    BLOCK_T: tl.constexpr,
    BLOCK_E: tl.constexpr,
    TOPK: tl.constexpr,
    NUM_GROUPS: tl.constexpr,
    GROUP_TOPK: tl.constexpr,
    BLOCK_G: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_E)
    row_ok = rows < num_tokens
    col_ok = cols < num_experts
    ok = row_ok[:, None] & col_ok[None, :]
    rows64 = rows.to(tl.int64)

    x = tl.load(logits_ptr + rows64[:, None] * stride_logits + cols[None, :], mask=ok, other=float("-inf"))
    x = tl.where(row_ok[:, None], x.to(tl.float32), 0.0)
    x_max = tl.max(x, axis=1)
    e = tl.where(col_ok[None, :], tl.exp(x - x_max[:, None]), 0.0)
    scores = e / tl.sum(e, axis=1)[:, None]

    # Scores are >= 0, so -1 marks "not eligible" and -2 "already taken".
    gid = cols // group_size
    garange = tl.arange(0, BLOCK_G)
    if NUM_GROUPS > 1:
        gscore = tl.full((BLOCK_T, BLOCK_G), -2.0, tl.float32)
        for g in tl.static_range(NUM_GROUPS):
            gmax = tl.max(tl.where((gid[None, :] == g) & col_ok[None, :], scores, -1.0), axis=1)
            gscore = tl.where(garange[None, :] == g, gmax[:, None], gscore)
        gsel = tl.zeros((BLOCK_T, BLOCK_G), tl.int32)
        for _ in tl.static_range(GROUP_TOPK):
            gbest = tl.max(gscore, axis=1)
            gpick = tl.min(tl.where(gscore == gbest[:, None], garange[None, :], BLOCK_G), axis=1)
            ghit = garange[None, :] == gpick[:, None]
            gsel = tl.where(ghit, 1, gsel)
            gscore = tl.where(ghit, -3.0, gscore)
        allowed = tl.zeros((BLOCK_T, BLOCK_E), tl.int32)
        for g in tl.static_range(NUM_GROUPS):
            g_on = tl.max(tl.where(garange[None, :] == g, gsel, 0), axis=1)
            allowed = tl.where((gid[None, :] == g) & (g_on[:, None] > 0), 1, allowed)
        masked = tl.where((allowed > 0) & col_ok[None, :], scores, -1.0)
    else:
        masked = tl.where(col_ok[None, :], scores, -1.0)

    selected = tl.zeros((BLOCK_T, BLOCK_E), tl.int32)
    for k in tl.static_range(TOPK):
        best = tl.max(masked, axis=1)
        pick = tl.min(tl.where(masked == best[:, None], cols[None, :], BLOCK_E), axis=1)
        tl.store(topk_probs_ptr + rows64 * TOPK + k, best * scaling, mask=row_ok)
        tl.store(topk_idx_ptr + rows64 * TOPK + k, pick.to(tl.int64), mask=row_ok)
        hit = cols[None, :] == pick[:, None]
        selected = tl.where(hit, 1, selected)
        masked = tl.where(hit, -2.0, masked)

    out_off = rows64[:, None] * num_experts + cols[None, :]
    tl.store(probs_ptr + out_off, tl.where(selected > 0, scores * scaling, 0.0), mask=ok)
    tl.store(map_ptr + out_off, selected.to(tl.int8), mask=ok)

    # Which groups each token reached (the communication balance loss counts these).
    ghits = tl.zeros((BLOCK_T, BLOCK_G), tl.int32)
    for g in tl.static_range(NUM_GROUPS):
        reached = tl.max(tl.where(gid[None, :] == g, selected, 0), axis=1)
        ghits = tl.where(garange[None, :] == g, reached[:, None], ghits)

    seq = rows % num_sequences
    for s in range(0, num_sequences):
        mine = (seq == s) & row_ok
        base = (pid * num_sequences + s).to(tl.int64)
        ssum = tl.sum(tl.where(mine[:, None], scores, 0.0), axis=0)
        scnt = tl.sum(tl.where(mine[:, None], selected, 0), axis=0)
        gcnt = tl.sum(tl.where(mine[:, None], ghits, 0), axis=0)
        tl.store(part_sum_ptr + base * num_experts + cols, ssum, mask=col_ok)
        tl.store(part_cnt_ptr + base * num_experts + cols, scnt, mask=col_ok)
        tl.store(part_grp_ptr + base * NUM_GROUPS + garange, gcnt, mask=garange < NUM_GROUPS)


def _router_bwd_kernel(
    logits_ptr,
    topk_idx_ptr,
    g_probs_ptr,
    g_topk_ptr,
    g_sum_ptr,
    g_logits_ptr,
    num_tokens,
    num_experts,
    num_sequences,
    scaling,
    stride_logits,
    BLOCK_T: tl.constexpr,
    BLOCK_E: tl.constexpr,
    TOPK: tl.constexpr,
    HAS_G_PROBS: tl.constexpr,
    HAS_G_TOPK: tl.constexpr,
    HAS_G_SUM: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_E)
    row_ok = rows < num_tokens
    col_ok = cols < num_experts
    ok = row_ok[:, None] & col_ok[None, :]
    rows64 = rows.to(tl.int64)

    x = tl.load(logits_ptr + rows64[:, None] * stride_logits + cols[None, :], mask=ok, other=float("-inf"))
    x = tl.where(row_ok[:, None], x.to(tl.float32), 0.0)
    x_max = tl.max(x, axis=1)
    e = tl.where(col_ok[None, :], tl.exp(x - x_max[:, None]), 0.0)
    scores = e / tl.sum(e, axis=1)[:, None]

    g_scores = tl.zeros((BLOCK_T, BLOCK_E), tl.float32)
    if HAS_G_PROBS:
        g_dense = tl.load(g_probs_ptr + rows64[:, None] * num_experts + cols[None, :], mask=ok, other=0.0)
    for k in tl.static_range(TOPK):
        idx = tl.load(topk_idx_ptr + rows64 * TOPK + k, mask=row_ok, other=-1)
        hit = cols[None, :] == idx[:, None]
        if HAS_G_PROBS:
            g_scores += tl.where(hit, g_dense.to(tl.float32), 0.0) * scaling
        if HAS_G_TOPK:
            gk = tl.load(g_topk_ptr + rows64 * TOPK + k, mask=row_ok, other=0.0).to(tl.float32)
            g_scores += tl.where(hit, gk[:, None], 0.0) * scaling
    if HAS_G_SUM:
        seq = (rows % num_sequences).to(tl.int64)
        g_scores += tl.load(g_sum_ptr + seq[:, None] * num_experts + cols[None, :], mask=ok, other=0.0)

    dot = tl.sum(g_scores * scores, axis=1)
    g_logits = scores * (g_scores - dot[:, None])
    tl.store(g_logits_ptr + rows64[:, None] * num_experts + cols[None, :], g_logits, mask=ok)


def _block_rows(num_experts: int) -> int:
    """Rows per program: the [rows, experts] tiles stay in registers, and a Lite batch still spreads
    over the GPU (8,192 tokens x 64 experts: 32 rows, 256 programs, ~130 registers on sm_90 with
    group limits; 64 rows needed ~195)."""
    return max(1, min(64, 2048 // next_pow2(num_experts)))


class _FusedTopKGating(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, topk, num_groups, group_topk, scaling_factor, num_sequences):
        logits = logits if logits.stride(1) == 1 else logits.contiguous()
        num_tokens, num_experts = logits.shape
        dev = logits.device
        block_t = _block_rows(num_experts)
        num_blocks = triton.cdiv(num_tokens, block_t)
        probs = torch.empty(num_tokens, num_experts, dtype=torch.float32, device=dev)
        routing_map = torch.empty(num_tokens, num_experts, dtype=torch.int8, device=dev)
        topk_probs = torch.empty(num_tokens, topk, dtype=torch.float32, device=dev)
        topk_idx = torch.empty(num_tokens, topk, dtype=torch.int64, device=dev)
        part_sum = torch.zeros(num_blocks, num_sequences, num_experts, dtype=torch.float32, device=dev)
        part_cnt = torch.zeros(num_blocks, num_sequences, num_experts, dtype=torch.int32, device=dev)
        part_grp = torch.zeros(num_blocks, num_sequences, num_groups, dtype=torch.int32, device=dev)
        if num_blocks:
            jit(_router_fwd_kernel)[(num_blocks,)](
                logits,
                probs,
                routing_map,
                topk_probs,
                topk_idx,
                part_sum,
                part_cnt,
                part_grp,
                num_tokens,
                num_experts,
                num_sequences,
                num_experts // num_groups,
                float(scaling_factor),
                logits.stride(0),
                BLOCK_T=block_t,
                BLOCK_E=next_pow2(num_experts),
                TOPK=topk,
                NUM_GROUPS=num_groups,
                GROUP_TOPK=group_topk,
                BLOCK_G=next_pow2(num_groups),
                num_warps=4,
            )
        score_sum = part_sum.sum(dim=0)
        token_count = part_cnt.sum(dim=0, dtype=torch.int64)
        group_count = part_grp.sum(dim=0, dtype=torch.int64)
        routing_map = routing_map.view(torch.bool)
        ctx.save_for_backward(logits, topk_idx)
        ctx.scaling = float(scaling_factor)
        ctx.num_sequences = num_sequences
        ctx.mark_non_differentiable(routing_map, topk_idx, token_count, group_count)
        return probs, routing_map, topk_probs, topk_idx, score_sum, token_count, group_count

    @staticmethod
    def backward(ctx, g_probs, _g_map, g_topk, _g_idx, g_sum, _g_cnt, _g_grp):
        logits, topk_idx = ctx.saved_tensors
        num_tokens, num_experts = logits.shape
        topk = topk_idx.shape[1]
        g_logits = torch.empty(num_tokens, num_experts, dtype=torch.float32, device=logits.device)
        block_t = _block_rows(num_experts)
        num_blocks = triton.cdiv(num_tokens, block_t)
        dummy = g_logits
        if num_blocks:
            jit(_router_bwd_kernel)[(num_blocks,)](
                logits,
                topk_idx,
                g_probs.contiguous() if g_probs is not None else dummy,
                g_topk.contiguous() if g_topk is not None else dummy,
                g_sum.contiguous() if g_sum is not None else dummy,
                g_logits,
                num_tokens,
                num_experts,
                ctx.num_sequences,
                ctx.scaling,
                logits.stride(0),
                BLOCK_T=block_t,
                BLOCK_E=next_pow2(num_experts),
                TOPK=topk,
                HAS_G_PROBS=g_probs is not None,
                HAS_G_TOPK=g_topk is not None,
                HAS_G_SUM=g_sum is not None,
                num_warps=4,
            )
        return g_logits.to(logits.dtype), None, None, None, None, None


def _check_gating_args(logits: torch.Tensor, topk: int, num_groups: int, group_topk: int) -> None:
    """Reject routing settings that cannot select `topk` experts, before any kernel runs."""
    if logits.dim() != 2:
        raise ValueError(f"router logits must be [tokens, experts], got shape {tuple(logits.shape)}")
    num_experts = logits.shape[1]
    if not 1 <= topk <= num_experts:
        raise ValueError(f"topk={topk} must be between 1 and the number of experts ({num_experts})")
    if num_groups < 1 or num_experts % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the number of experts ({num_experts})")
    if not 1 <= group_topk <= num_groups:
        raise ValueError(f"group_topk={group_topk} must be between 1 and num_groups ({num_groups})")
    if group_topk * (num_experts // num_groups) < topk:
        raise ValueError(
            f"group_topk={group_topk} groups of {num_experts // num_groups} experts hold fewer than topk={topk}"
        )


def topk_gating(
    logits: torch.Tensor,
    topk: int,
    *,
    num_groups: int = 1,
    group_topk: int = 1,
    scaling_factor: float = 1.0,
    num_sequences: int = 1,
    fused: bool = True,
) -> GatingOutput:
    """DeepSeek-V2 routing of `logits` [tokens, experts]; see `trainer.kernels` for the outputs.

    The one gating function of the trainer: the router calls it with its `fused` switch, and
    `fused=False` (plain PyTorch, `topk_gating_reference`) is the reference the kernel is tested and
    benchmarked against.
    """
    _check_gating_args(logits, topk, num_groups, group_topk)
    if num_sequences < 1:
        raise ValueError(f"num_sequences={num_sequences} must be at least 1")
    if num_groups == 1:
        group_topk = 1
    if not use_fused(fused, "router", logits.device):
        return topk_gating_reference(
            logits,
            topk,
            num_groups=num_groups,
            group_topk=group_topk,
            scaling_factor=scaling_factor,
            num_sequences=num_sequences,
        )
    return GatingOutput(
        *_FusedTopKGating.apply(logits, topk, num_groups, group_topk, scaling_factor, num_sequences)
    )
