"""Grouped SwiGLU expert MLP: every expert's GEMMs in one launch each, activation fused.

Rows of `x` arrive grouped by expert (the permute kernels produce that order) with a count per
expert. One grouped-GEMM program computes one [BLOCK_M, BLOCK_N] output tile of one expert: it finds
its expert from the per-expert tile counts (an in-kernel scan of `tokens_per_expert`, so the launch
needs no host synchronisation beyond the grid size), multiplies that expert's rows by that
expert's weight, and applies an epilogue:

  MODE 0  plain               C = A @ B_e                      (fc2, and the fc1 input gradient)
  MODE 1  SwiGLU forward      gate and up accumulated side by side, C = silu(gate) * up * p,
                              the pre-activation saved for the backward
  MODE 2  SwiGLU backward     dAct = dY @ W2_e^T, then d(gate), d(up) and the per-row dot that
                              gives d(p), written as partial sums per column tile

Weight gradients are a second grouped kernel that reduces over each expert's rows
(dW_e = A_e^T @ B_e); an expert without tokens gets an exact zero gradient.

Compared with megatron-core's SequentialMLP (a Python loop of 2 x experts GEMMs plus activation
kernels per expert), this is 2 launches forward and 4 backward whatever the number of experts.
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the reference path still works; `use_fused` reports why
    triton = tl = None

from trainer.kernels.backend import interpret_mode, jit, next_pow2, use_fused
from trainer.kernels.reference import grouped_swiglu_mlp_reference


def _grouped_gemm_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    counts_ptr,
    h_ptr,
    p_ptr,
    gp_ptr,
    num_rows,
    n_out,
    k_dim,
    num_experts,
    stride_am,
    stride_ak,
    stride_be,
    stride_bk,
    stride_bn,
    stride_cm,
    stride_hm,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_E: tl.constexpr,
    MODE: tl.constexpr,
    HAS_P: tl.constexpr,
    PRECISION: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    pid = tl.program_id(0)
    num_n_tiles = tl.cdiv(n_out, BLOCK_N)
    tile_m = pid // num_n_tiles
    tile_n = pid % num_n_tiles

    # Which expert owns row tile `tile_m`: scan the per-expert tile counts.
    experts = tl.arange(0, BLOCK_E)
    counts = tl.load(counts_ptr + experts, mask=experts < num_experts, other=0)
    row_end = tl.cumsum(counts, axis=0)
    tiles = (counts + BLOCK_M - 1) // BLOCK_M
    tile_end = tl.cumsum(tiles, axis=0)
    expert = tl.sum((tile_end <= tile_m).to(tl.int32), axis=0)
    valid = expert < num_experts
    expert = tl.minimum(expert, num_experts - 1)
    mine = experts == expert
    count = tl.sum(tl.where(mine, counts, 0), axis=0)
    row_start = tl.sum(tl.where(mine, row_end - counts, 0), axis=0)
    first_tile = tl.sum(tl.where(mine, tile_end - tiles, 0), axis=0)
    local = (tile_m - first_tile) * BLOCK_M + tl.arange(0, BLOCK_M)
    count = tl.where(valid, count, 0)
    row_ok = local < count
    rows = (row_start + local).to(tl.int64)

    cols = tile_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < n_out
    offs_k = tl.arange(0, BLOCK_K)
    a_base = a_ptr + rows[:, None] * stride_am
    b_base = b_ptr + expert.to(tl.int64) * stride_be + cols[None, :] * stride_bn

    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    if MODE == 1:
        acc_up = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    k_hi = tl.where(valid, k_dim, 0)
    for k0 in range(0, k_hi, BLOCK_K):
        kk = k0 + offs_k
        k_ok = kk < k_dim
        a = tl.load(a_base + kk[None, :] * stride_ak, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        b_ptrs = b_base + kk[:, None] * stride_bk
        b_ok = k_ok[:, None] & col_ok[None, :]
        b = tl.load(b_ptrs, mask=b_ok, other=0.0)
        if DOT_FP32:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
        if MODE == 1:
            b_up = tl.load(b_ptrs + n_out * stride_bn, mask=b_ok, other=0.0)
            if DOT_FP32:
                b_up = b_up.to(tl.float32)
            acc_up = tl.dot(a, b_up, acc_up, input_precision=PRECISION)

    ok = row_ok[:, None] & col_ok[None, :]
    c_ptrs = c_ptr + rows[:, None] * stride_cm + cols[None, :]
    h_ptrs = h_ptr + rows[:, None] * stride_hm + cols[None, :]
    if MODE == 0:
        tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=ok)
    if MODE == 1:
        # Round the pre-activation to the storage dtype first, so the backward (which reads the
        # stored values) differentiates exactly what the forward used.
        gate = acc.to(h_ptr.dtype.element_ty)
        up = acc_up.to(h_ptr.dtype.element_ty)
        tl.store(h_ptrs, gate, mask=ok)
        tl.store(h_ptrs + n_out, up, mask=ok)
        gate = gate.to(tl.float32)
        act = gate * tl.sigmoid(gate) * up.to(tl.float32)
        if HAS_P:
            p = tl.load(p_ptr + rows, mask=row_ok, other=0.0).to(tl.float32)
            act = act * p[:, None]
        tl.store(c_ptrs, act.to(c_ptr.dtype.element_ty), mask=ok)
    if MODE == 2:
        gate = tl.load(h_ptrs, mask=ok, other=0.0).to(tl.float32)
        up = tl.load(h_ptrs + n_out, mask=ok, other=0.0).to(tl.float32)
        sig = tl.sigmoid(gate)
        silu = gate * sig
        g_act = acc
        if HAS_P:
            p = tl.load(p_ptr + rows, mask=row_ok, other=0.0).to(tl.float32)
            g_act = acc * p[:, None]
            g_p = tl.sum(tl.where(ok, acc * silu * up, 0.0), axis=1)
            tl.store(gp_ptr + tile_n.to(tl.int64) * num_rows + rows, g_p, mask=row_ok)
        g_up = g_act * silu
        g_gate = g_act * up * sig * (1.0 + gate * (1.0 - sig))
        tl.store(c_ptrs, g_gate.to(c_ptr.dtype.element_ty), mask=ok)
        tl.store(c_ptrs + n_out, g_up.to(c_ptr.dtype.element_ty), mask=ok)


def _grouped_wgrad_kernel(
    a_ptr,
    b_ptr,
    out_ptr,
    counts_ptr,
    m1,
    m2,
    num_experts,
    stride_a,
    stride_b,
    BLOCK_M1: tl.constexpr,
    BLOCK_M2: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_E: tl.constexpr,
    PRECISION: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    """out[e] = A[rows of e]^T @ B[rows of e], reducing over the expert's tokens."""
    pid = tl.program_id(0)
    tiles_1 = tl.cdiv(m1, BLOCK_M1)
    tiles_2 = tl.cdiv(m2, BLOCK_M2)
    expert = pid // (tiles_1 * tiles_2)
    rest = pid % (tiles_1 * tiles_2)
    t1 = rest // tiles_2
    t2 = rest % tiles_2

    experts = tl.arange(0, BLOCK_E)
    counts = tl.load(counts_ptr + experts, mask=experts < num_experts, other=0)
    row_end = tl.cumsum(counts, axis=0)
    mine = experts == expert
    count = tl.sum(tl.where(mine, counts, 0), axis=0)
    row_start = tl.sum(tl.where(mine, row_end - counts, 0), axis=0)

    i1 = t1 * BLOCK_M1 + tl.arange(0, BLOCK_M1)
    i2 = t2 * BLOCK_M2 + tl.arange(0, BLOCK_M2)
    ok1 = i1 < m1
    ok2 = i2 < m2
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M1, BLOCK_M2), tl.float32)
    for k0 in range(0, count, BLOCK_K):
        kk = k0 + offs_k
        k_ok = kk < count
        rows = (row_start + kk).to(tl.int64)
        a_t = tl.load(
            a_ptr + rows[None, :] * stride_a + i1[:, None], mask=ok1[:, None] & k_ok[None, :], other=0.0
        )
        b = tl.load(
            b_ptr + rows[:, None] * stride_b + i2[None, :], mask=k_ok[:, None] & ok2[None, :], other=0.0
        )
        if DOT_FP32:
            a_t = a_t.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a_t, b, acc, input_precision=PRECISION)
    out = out_ptr + expert.to(tl.int64) * m1 * m2 + i1[:, None].to(tl.int64) * m2 + i2[None, :]
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=ok1[:, None] & ok2[None, :])


# GPU tile shapes (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) the autotuner tries, per epilogue. All
# of them compile for sm_90 without register spills (tests/kernels/test_compile_sm90.py checks that
# with the ptxas shipped in the triton wheel); the SwiGLU backward epilogue holds the saved gate/up
# tiles as well as the accumulator, so it gets narrower tiles. The interpreter uses one small
# shape: it runs every program in Python, and tests use tiny sizes.
GEMM_CONFIGS: dict[int, list[tuple[int, int, int, int, int]]] = {
    0: [
        (128, 128, 64, 8, 3),
        (128, 256, 64, 8, 3),
        (256, 128, 64, 8, 3),
        (128, 64, 64, 8, 4),
        (64, 128, 64, 4, 4),
    ],
    1: [(128, 128, 64, 8, 3), (128, 64, 64, 8, 4), (64, 128, 64, 4, 4), (64, 64, 64, 4, 3)],
    2: [(128, 64, 64, 8, 4), (64, 64, 64, 4, 3), (64, 64, 64, 4, 4)],
}
WGRAD_CONFIGS: list[tuple[int, int, int, int, int]] = [
    (128, 128, 64, 8, 3),
    (128, 256, 64, 8, 3),
    (256, 128, 64, 8, 3),
    (128, 64, 64, 8, 4),
]
_INTERPRET_TILE = 16
_autotuned: dict[object, object] = {}


def _gemm_kernel(mode: int):
    if interpret_mode():
        return jit(_grouped_gemm_kernel), {
            "BLOCK_M": _INTERPRET_TILE,
            "BLOCK_N": _INTERPRET_TILE,
            "BLOCK_K": _INTERPRET_TILE,
        }
    kernel = _autotuned.get(("gemm", mode))
    if kernel is None:
        configs = [
            triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k}, num_warps=w, num_stages=s)
            for m, n, k, w, s in GEMM_CONFIGS[mode]
        ]
        # The backward's per-tile partial sums depend on BLOCK_N: restore them between trials.
        kernel = triton.autotune(configs, key=["n_out", "k_dim"], restore_value=["gp_ptr"])(
            jit(_grouped_gemm_kernel)
        )
        _autotuned[("gemm", mode)] = kernel
    return kernel, {}


def _wgrad_kernel():
    if interpret_mode():
        return jit(_grouped_wgrad_kernel), {
            "BLOCK_M1": _INTERPRET_TILE,
            "BLOCK_M2": _INTERPRET_TILE,
            "BLOCK_K": _INTERPRET_TILE,
        }
    kernel = _autotuned.get("wgrad")
    if kernel is None:
        configs = [
            triton.Config({"BLOCK_M1": m, "BLOCK_M2": n, "BLOCK_K": k}, num_warps=w, num_stages=s)
            for m, n, k, w, s in WGRAD_CONFIGS
        ]
        kernel = triton.autotune(configs, key=["m1", "m2"])(jit(_grouped_wgrad_kernel))
        _autotuned["wgrad"] = kernel
    return kernel, {}


def _precision(dtype: torch.dtype) -> str:
    # fp32 inputs get true fp32 products, matching torch's default matmul precision.
    return "ieee" if dtype == torch.float32 else "tf32"


def _dot_fp32(dtype: torch.dtype) -> bool:
    # Triton 3.9's interpreter multiplies bf16 tiles as raw 16-bit integers; widen them there.
    return interpret_mode() and dtype == torch.bfloat16


def _smallest_block_n() -> int:
    return _INTERPRET_TILE if interpret_mode() else min(c[1] for c in GEMM_CONFIGS[2])


def grouped_gemm(
    a: torch.Tensor,
    b: torch.Tensor,
    counts: torch.Tensor,
    n_out: int,
    out: torch.Tensor,
    *,
    mode: int = 0,
    b_strides: tuple[int, int, int] | None = None,
    h: torch.Tensor | None = None,
    probs: torch.Tensor | None = None,
    gp_partial: torch.Tensor | None = None,
) -> torch.Tensor:
    """Launch one grouped GEMM over all experts; `b_strides` (expert, k, n) allow transposed weights."""
    num_rows, k_dim = a.shape
    num_experts = counts.numel()
    be, bk, bn = b_strides if b_strides is not None else b.stride()
    kernel, fixed = _gemm_kernel(mode)
    if num_rows == 0:
        return out

    def grid(meta):
        m_tiles = triton.cdiv(num_rows, meta["BLOCK_M"]) + num_experts
        return (m_tiles * triton.cdiv(n_out, meta["BLOCK_N"]),)

    kernel[grid](
        a,
        b,
        out,
        counts,
        h if h is not None else out,
        probs if probs is not None else out,
        gp_partial if gp_partial is not None else out,
        num_rows,
        n_out,
        k_dim,
        num_experts,
        a.stride(0),
        a.stride(1),
        be,
        bk,
        bn,
        out.stride(0),
        h.stride(0) if h is not None else 0,
        BLOCK_E=next_pow2(num_experts),
        MODE=mode,
        HAS_P=probs is not None,
        PRECISION=_precision(a.dtype),
        DOT_FP32=_dot_fp32(a.dtype),
        **fixed,
    )
    return out


def grouped_wgrad(a: torch.Tensor, b: torch.Tensor, counts: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out[e] = a[rows of e]^T @ b[rows of e] for every expert e (zero for experts without rows)."""
    num_experts, m1, m2 = out.shape
    kernel, fixed = _wgrad_kernel()

    def grid(meta):
        return (num_experts * triton.cdiv(m1, meta["BLOCK_M1"]) * triton.cdiv(m2, meta["BLOCK_M2"]),)

    kernel[grid](
        a,
        b,
        out,
        counts,
        m1,
        m2,
        num_experts,
        a.stride(0),
        b.stride(0),
        BLOCK_E=next_pow2(num_experts),
        PRECISION=_precision(a.dtype),
        DOT_FP32=_dot_fp32(a.dtype),
        **fixed,
    )
    return out


class _FusedGroupedSwiGLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, counts, w1, w2, probs):
        x = x.contiguous()
        w1 = w1.contiguous()
        w2 = w2.contiguous()
        probs_c = probs.contiguous() if probs is not None else None
        num_rows = x.shape[0]
        ffn = w2.shape[1]
        hidden = w2.shape[2]
        h = torch.empty(num_rows, 2 * ffn, dtype=x.dtype, device=x.device)
        act = torch.empty(num_rows, ffn, dtype=x.dtype, device=x.device)
        y = torch.empty(num_rows, hidden, dtype=x.dtype, device=x.device)
        grouped_gemm(x, w1, counts, ffn, act, mode=1, h=h, probs=probs_c)
        grouped_gemm(act, w2, counts, hidden, y, mode=0)
        ctx.save_for_backward(x, counts, w1, w2, probs_c, h, act)
        return y

    @staticmethod
    def backward(ctx, g_y):
        x, counts, w1, w2, probs, h, act = ctx.saved_tensors
        g_y = g_y.contiguous()
        num_rows, hidden = x.shape
        ffn = w2.shape[1]
        g_h = torch.empty(num_rows, 2 * ffn, dtype=x.dtype, device=x.device)
        gp_partial = None
        if probs is not None:
            tiles = triton.cdiv(ffn, _smallest_block_n())
            gp_partial = torch.zeros(tiles, num_rows, dtype=torch.float32, device=x.device)
        # dAct = dY @ W2_e^T: read W2 [E, F, H] as [E, k=H, n=F].
        grouped_gemm(
            g_y,
            w2,
            counts,
            ffn,
            g_h,
            mode=2,
            b_strides=(w2.stride(0), w2.stride(2), w2.stride(1)),
            h=h,
            probs=probs,
            gp_partial=gp_partial,
        )
        g_x = torch.empty_like(x)
        # dX = dH @ W1_e^T: read W1 [E, H, 2F] as [E, k=2F, n=H].
        grouped_gemm(
            g_h, w1, counts, hidden, g_x, mode=0, b_strides=(w1.stride(0), w1.stride(2), w1.stride(1))
        )
        g_w1 = grouped_wgrad(x, g_h, counts, torch.empty_like(w1))
        g_w2 = grouped_wgrad(act, g_y, counts, torch.empty_like(w2))
        g_p = gp_partial.sum(dim=0).to(probs.dtype) if probs is not None else None
        return g_x, None, g_w1, g_w2, g_p


def grouped_swiglu_mlp(
    x: torch.Tensor,
    tokens_per_expert: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    probs: torch.Tensor | None = None,
    *,
    fused: bool = True,
) -> torch.Tensor:
    """Every expert's SwiGLU MLP over its rows of `x`; see `trainer.kernels` for shapes."""
    if w1.dim() != 3 or w2.dim() != 3:
        raise ValueError(
            f"expert weights must be [E, H, 2F] and [E, F, H], got {tuple(w1.shape)}, {tuple(w2.shape)}"
        )
    num_experts, hidden, two_ffn = w1.shape
    if w2.shape != (num_experts, two_ffn // 2, hidden) or two_ffn % 2:
        raise ValueError(
            f"w2 {tuple(w2.shape)} does not match w1 {tuple(w1.shape)} (want [E, F, H], w1 [E, H, 2F])"
        )
    if not (x.dtype == w1.dtype == w2.dtype):
        raise ValueError(f"x, w1 and w2 must share a dtype, got {x.dtype}, {w1.dtype}, {w2.dtype}")
    if x.dim() != 2 or x.shape[1] != hidden:
        raise ValueError(f"x {tuple(x.shape)} must be [rows, {hidden}]")
    if tokens_per_expert.numel() != num_experts:
        raise ValueError(
            f"tokens_per_expert has {tokens_per_expert.numel()} entries for {num_experts} experts"
        )
    if probs is not None and probs.shape != (x.shape[0],):
        raise ValueError(f"probs {tuple(probs.shape)} must be [rows] = [{x.shape[0]}]")
    if tokens_per_expert.device.type == "cpu" and int(tokens_per_expert.sum()) != x.shape[0]:
        raise ValueError(f"tokens_per_expert sums to {int(tokens_per_expert.sum())}, x has {x.shape[0]} rows")
    if not use_fused(fused, "grouped expert MLP", x.device):
        return grouped_swiglu_mlp_reference(x, tokens_per_expert, w1, w2, probs)
    counts = tokens_per_expert.to(device=x.device, dtype=torch.int32)
    return _FusedGroupedSwiGLU.apply(x, counts, w1, w2, probs)
