"""Every GPU configuration of every kernel compiles for H100 (sm_90) without register spills.

No GPU is needed: Triton compiles ahead of time for a named target, and the ptxas shipped in the
triton wheel reports registers and spills. Arguments are specialised the way Triton's launcher
specialises them at Lite shapes (integers equal to 1 become constants, 16-divisible integers and
pointers carry that divisibility), so the code checked is the code a Lite run compiles.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")

from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from trainer.kernels import grouped_mlp, permute, router  # noqa: E402

pytestmark = pytest.mark.slow

SMEM_LIMIT = 232_448  # bytes of shared memory per block on H100


def _ptxas() -> Path:
    bin_dir = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
    for name in ("ptxas-blackwell", "ptxas"):
        if (bin_dir / name).exists():
            return bin_dir / name
    pytest.skip("the triton wheel ships no ptxas")


@pytest.fixture(autouse=True)
def triton_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling for the GPU: the interpreter stays off here (overrides the package fixture)."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)


def _compile(
    fn, args: dict, constexprs: dict, warps: int, stages: int, tmp_path: Path
) -> tuple[int, int, int]:
    """(registers, spill bytes, shared memory bytes) of `fn` compiled for sm_90."""
    signature, consts, attrs = {}, dict(constexprs), {}
    for index, name in enumerate(inspect.signature(fn).parameters):
        if name in constexprs:
            signature[name] = "constexpr"
            continue
        value = args[name]
        if isinstance(value, str):  # a pointer type such as "*bf16"; torch allocations are 16-aligned
            signature[name] = value
            attrs[(index,)] = [["tt.divisibility", 16]]
        elif isinstance(value, float):
            signature[name] = "fp32"
        elif value == 1:
            signature[name] = "constexpr"
            consts[name] = 1
        else:
            signature[name] = "i32"
            if value % 16 == 0:
                attrs[(index,)] = [["tt.divisibility", 16]]
    src = ASTSource(fn=triton.jit(fn), signature=signature, constexprs=consts, attrs=attrs)
    kernel = triton.compile(
        src, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps, "num_stages": stages}
    )
    ptx = tmp_path / f"{fn.__name__}.ptx"
    ptx.write_text(kernel.asm["ptx"])
    out = subprocess.run(
        [str(_ptxas()), "-v", "--gpu-name=sm_90a", str(ptx), "-o", os.devnull], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    regs = int(re.search(r"Used (\d+) registers", out.stderr).group(1))
    spills = int(re.search(r"(\d+) bytes spill stores", out.stderr).group(1))
    return regs, spills, int(kernel.metadata.shared)


# Lite: 8,192 tokens x top-6 = 49,152 expert rows, hidden 2048, 64 experts, expert FFN 1408.
ROWS, H, F, E = 49_152, 2048, 1408, 64
GEMMS = {
    "fc1+swiglu": (
        1,
        dict(
            num_rows=ROWS,
            n_out=F,
            k_dim=H,
            stride_am=H,
            stride_ak=1,
            stride_be=H * 2 * F,
            stride_bk=2 * F,
            stride_bn=1,
            stride_cm=F,
            stride_hm=2 * F,
        ),
    ),
    "fc2": (
        0,
        dict(
            num_rows=ROWS,
            n_out=H,
            k_dim=F,
            stride_am=F,
            stride_ak=1,
            stride_be=F * H,
            stride_bk=H,
            stride_bn=1,
            stride_cm=H,
            stride_hm=0,
        ),
    ),
    "fc2-dgrad+swiglu-bwd": (
        2,
        dict(
            num_rows=ROWS,
            n_out=F,
            k_dim=H,
            stride_am=H,
            stride_ak=1,
            stride_be=F * H,
            stride_bk=1,
            stride_bn=H,
            stride_cm=2 * F,
            stride_hm=2 * F,
        ),
    ),
    "fc1-dgrad": (
        0,
        dict(
            num_rows=ROWS,
            n_out=H,
            k_dim=2 * F,
            stride_am=2 * F,
            stride_ak=1,
            stride_be=H * 2 * F,
            stride_bk=1,
            stride_bn=2 * F,
            stride_cm=H,
            stride_hm=0,
        ),
    ),
}
POINTERS = dict(
    a_ptr="*bf16",
    b_ptr="*bf16",
    c_ptr="*bf16",
    counts_ptr="*i32",
    h_ptr="*bf16",
    p_ptr="*fp32",
    gp_ptr="*fp32",
)


@pytest.mark.parametrize("gemm", list(GEMMS))
def test_grouped_gemm_configs_do_not_spill(gemm, tmp_path):
    mode, ints = GEMMS[gemm]
    for block_m, block_n, block_k, warps, stages in grouped_mlp.GEMM_CONFIGS[mode]:
        consts = dict(
            BLOCK_M=block_m,
            BLOCK_N=block_n,
            BLOCK_K=block_k,
            BLOCK_E=E,
            MODE=mode,
            HAS_P=mode > 0,
            PRECISION="tf32",
            DOT_FP32=False,
        )
        regs, spills, smem = _compile(
            grouped_mlp._grouped_gemm_kernel,
            {**POINTERS, **ints, "num_experts": E},
            consts,
            warps,
            stages,
            tmp_path,
        )
        config = (block_m, block_n, block_k, warps, stages)
        assert spills == 0, f"{gemm} {config}: {spills} bytes of spills ({regs} registers)"
        assert smem <= SMEM_LIMIT, f"{gemm} {config}: {smem} bytes of shared memory"


@pytest.mark.parametrize(("m1", "m2"), [(H, 2 * F), (F, H)], ids=["dw1", "dw2"])
def test_grouped_wgrad_configs_do_not_spill(m1, m2, tmp_path):
    args = dict(
        a_ptr="*bf16",
        b_ptr="*bf16",
        out_ptr="*bf16",
        counts_ptr="*i32",
        m1=m1,
        m2=m2,
        num_experts=E,
        stride_a=m1,
        stride_b=m2,
    )
    for block_1, block_2, block_k, warps, stages in grouped_mlp.WGRAD_CONFIGS:
        consts = dict(
            BLOCK_M1=block_1, BLOCK_M2=block_2, BLOCK_K=block_k, BLOCK_E=E, PRECISION="tf32", DOT_FP32=False
        )
        regs, spills, smem = _compile(
            grouped_mlp._grouped_wgrad_kernel, args, consts, warps, stages, tmp_path
        )
        assert spills == 0 and smem <= SMEM_LIMIT, (block_1, block_2, block_k, regs, spills, smem)


@pytest.mark.parametrize(("groups", "group_topk"), [(1, 1), (8, 3)])
def test_router_kernels_compile_without_spills(groups, group_topk, tmp_path):
    tokens = 8192
    block_t = router._block_rows(E)
    fwd_args = dict(
        logits_ptr="*bf16",
        probs_ptr="*fp32",
        map_ptr="*i8",
        topk_probs_ptr="*fp32",
        topk_idx_ptr="*i64",
        part_sum_ptr="*fp32",
        part_cnt_ptr="*i32",
        part_grp_ptr="*i32",
        num_tokens=tokens,
        num_experts=E,
        num_sequences=4,
        group_size=E // groups,
        scaling=16.0,
        stride_logits=E,
    )
    consts = dict(
        BLOCK_T=block_t, BLOCK_E=E, TOPK=6, NUM_GROUPS=groups, GROUP_TOPK=group_topk, BLOCK_G=groups
    )
    regs, spills, _ = _compile(router._router_fwd_kernel, fwd_args, consts, 4, 1, tmp_path)
    assert spills == 0, (regs, spills)
    bwd_args = dict(
        logits_ptr="*bf16",
        topk_idx_ptr="*i64",
        g_probs_ptr="*fp32",
        g_topk_ptr="*fp32",
        g_sum_ptr="*fp32",
        g_logits_ptr="*fp32",
        num_tokens=tokens,
        num_experts=E,
        num_sequences=4,
        scaling=16.0,
        stride_logits=E,
    )
    consts = dict(BLOCK_T=block_t, BLOCK_E=E, TOPK=6, HAS_G_PROBS=True, HAS_G_TOPK=False, HAS_G_SUM=True)
    regs, spills, _ = _compile(router._router_bwd_kernel, bwd_args, consts, 4, 1, tmp_path)
    assert spills == 0, (regs, spills)


def test_permute_kernels_compile_without_spills(tmp_path):
    tokens = 8192
    block_t = permute._plan_block_rows(E)
    plan = dict(
        idx_ptr="*i64",
        part_ptr="*i64",
        base_ptr="*i64",
        dest_ptr="*i64",
        num_tokens=tokens,
        local_start=0,
        num_local=E,
    )
    for fn in (permute._plan_count_kernel, permute._plan_dest_kernel):
        regs, spills, _ = _compile(
            fn, plan, dict(BLOCK_T=block_t, BLOCK_L=E, TOPK=6), permute._PLAN_WARPS, 1, tmp_path
        )
        assert spills == 0, (fn.__name__, regs, spills)
    from_map = dict(
        map_ptr="*i8",
        part_ptr="*i64",
        base_ptr="*i64",
        dest_ptr="*i64",
        expert_ptr="*i64",
        over_ptr="*i32",
        num_tokens=tokens,
        num_experts=E,
        local_start=0,
        num_local=E,
    )
    for fn, consts in (
        (permute._map_count_kernel, dict(BLOCK_T=block_t, BLOCK_L=E, TOPK=6)),
        (permute._map_dest_kernel, dict(BLOCK_T=block_t, BLOCK_L=E, TOPK=6)),
    ):
        regs, spills, _ = _compile(fn, from_map, consts, permute._PLAN_WARPS, 1, tmp_path)
        assert spills == 0, (fn.__name__, regs, spills)
    rows = dict(
        x_ptr="*bf16",
        dest_ptr="*i64",
        w_ptr="*fp32",
        out_ptr="*bf16",
        src_ptr="*bf16",
        g_w_ptr="*fp32",
        p_ptr="*fp32",
        p_out_ptr="*fp32",
        p_src_ptr="*fp32",
        hidden=H,
        stride_x=H,
        stride_out=H,
        stride_src=H,
    )
    for fn, consts in (
        (permute._scatter_rows_kernel, dict(TOPK=6, BLOCK_H=1024, HAS_W=True, WITH_DOT=True, HAS_P=True)),
        (permute._gather_rows_kernel, dict(TOPK=6, BLOCK_H=1024, HAS_W=True, HAS_P=True)),
    ):
        regs, spills, _ = _compile(fn, rows, consts, 4, 1, tmp_path)
        assert spills == 0, (fn.__name__, regs, spills)
