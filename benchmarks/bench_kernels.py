"""Fused MoE kernels vs their PyTorch references and megatron-core's unfused path, at Lite shapes.

Lite (DeepSeek-Coder-V2-Lite) MoE layer: 8,192 tokens, hidden 2048, 64 routed experts, top-6, expert
FFN 1408, two shared experts (2816), bf16. Every row is forward + backward unless it says otherwise.

  router            ours: one kernel (softmax, top-k, scaling, per-sequence statistics) and one backward
                    megatron: moe_utils.topk_routing_with_score_function + compute_routing_scores_for_aux_loss
                    + the per-sequence sums its seq_aux_loss takes
  permute+unpermute ours: plan + permute (with probabilities) + unpermute
                    megatron: moe_utils.permute (with probabilities) + moe_utils.unpermute
  router+permute    the two above together (goal: >= 2x megatron)
  expert MLP        ours: grouped SwiGLU kernel; megatron: SequentialMLP (a GEMM loop over experts);
                    also as TFLOP/s and % of the bf16 matmul roofline (goal: >= 60%), the roofline
                    being torch.matmul on a large square bf16 GEMM on the same GPU (and the nominal
                    dense bf16 peak where the GPU is known)
  MoE layer         megatron-core MoELayer (TopKRouter, --dispatcher all-gather or all-to-all,
                    SequentialMLP, shared experts) vs FusedMoELayer (DeepSeek-V2 router with the fused
                    gating kernel, fused dispatcher, FusedGroupedMLP)

Run on a CUDA machine:  .venv/bin/python benchmarks/bench_kernels.py [--tokens 8192 ...]
Without CUDA it says so and exits 0. `--smoke` runs every row at tiny shapes on the CPU (Triton
interpreter) to check the script itself; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NOMINAL_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0, "B200": 2250.0}


@dataclass
class Shapes:
    tokens: int
    hidden: int
    experts: int
    topk: int
    ffn: int
    shared_ffn: int
    groups: int
    group_topk: int
    scaling: float
    batch: int
    dispatcher: str = "allgather"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--experts", type=int, default=64)
    p.add_argument("--topk", type=int, default=6)
    p.add_argument("--ffn", type=int, default=1408)
    p.add_argument("--shared-ffn", type=int, default=2816)
    p.add_argument("--groups", type=int, default=1, help="routing groups (Lite: 1 = no group limit)")
    p.add_argument("--group-topk", type=int, default=1)
    p.add_argument("--scaling", type=float, default=1.0, help="routed scaling factor (Lite 1.0, 236B 16.0)")
    p.add_argument("--batch", type=int, default=2, help="sequences in the batch (tokens = seq x batch)")
    p.add_argument("--rep-ms", type=int, default=300, help="time budget per measurement")
    p.add_argument(
        "--dispatcher", choices=["allgather", "alltoall"], default="allgather", help="MoE layer row"
    )
    p.add_argument("--skip-layer", action="store_true", help="skip the whole-layer row")
    p.add_argument(
        "--smoke", action="store_true", help="tiny shapes on the CPU interpreter (checks the script)"
    )
    return p.parse_args(argv)


def make_timer(cuda: bool, rep_ms: int) -> Callable[[Callable[[], object]], float]:
    if cuda:
        from triton.testing import do_bench

        return lambda fn: float(do_bench(fn, warmup=25, rep=rep_ms, return_mode="median"))

    def cpu_timer(fn: Callable[[], object]) -> float:
        fn()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)

    return cpu_timer


def matmul_roofline_tflops(torch, device, timer) -> float:
    """Achieved bf16 TFLOP/s of a large square torch.matmul: what a perfect GEMM here reaches."""
    n = 8192 if device.type == "cuda" else 256
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    ms = timer(lambda: a @ b)
    return 2 * n**3 / (ms * 1e-3) / 1e12


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(
        self, name: str, ours: float, reference: float | None, megatron: float | None, note: str = ""
    ) -> None:
        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:9.3f}"

        def ratio(x: float | None) -> str:
            return "-" if x is None else f"{x / ours:6.2f}x"

        self.rows.append(
            (name, fmt(ours), fmt(reference), fmt(megatron), ratio(megatron), ratio(reference), note)
        )
        print(f"  measured {name}: ours {ours:.3f} ms", flush=True)

    def print(self) -> None:
        head = ("", "ours ms", "reference ms", "megatron ms", "vs megatron", "vs reference", "")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(len(head))]
        for row in [head, *self.rows]:
            print(
                "  ".join(
                    cell.rjust(w) if i else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )


def random_routing(torch, shapes: Shapes, device, seed: int = 0):
    """Router logits with a mild per-expert bias, so experts get uneven (realistic) loads."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    bias = torch.randn(shapes.experts, generator=gen) * 0.5
    logits = torch.randn(shapes.tokens, shapes.experts, generator=gen) + bias
    return logits.to(device=device, dtype=torch.bfloat16)


def bench_router_and_permute(torch, shapes: Shapes, device, timer, table: Table) -> None:
    from megatron.core.transformer.moe import moe_utils

    from trainer.kernels import permute_plan, permute_tokens, topk_gating, unpermute_tokens

    s = shapes
    logits0 = random_routing(torch, s, device)
    x0 = torch.randn(s.tokens, s.hidden, device=device, dtype=torch.bfloat16)
    g_probs = torch.randn(s.tokens, s.experts, device=device)
    g_sum = torch.randn(s.batch, s.experts, device=device)
    g_x = torch.randn(s.tokens, s.hidden, device=device, dtype=torch.bfloat16)
    group_kw = dict(num_groups=s.groups, group_topk=s.group_topk) if s.groups > 1 else {}
    mg_groups = dict(num_groups=s.groups, group_topk=s.group_topk) if s.groups > 1 else {}

    def ours_router(fused: bool):
        logits = logits0.detach().requires_grad_()
        out = topk_gating(
            logits, s.topk, scaling_factor=s.scaling, num_sequences=s.batch, fused=fused, **group_kw
        )
        return logits, out

    def run_ours_router(fused: bool) -> None:
        _, out = ours_router(fused)
        torch.autograd.backward([out.probs, out.expert_score_sum], [g_probs, g_sum])

    def megatron_router():
        logits = logits0.detach().requires_grad_()
        probs, routing_map = moe_utils.topk_routing_with_score_function(
            logits, s.topk, use_pre_softmax=True, scaling_factor=s.scaling or None, **mg_groups
        )
        _, scores = moe_utils.compute_routing_scores_for_aux_loss(logits, s.topk, "softmax")
        score_sum = scores.view(-1, s.batch, s.experts).sum(dim=0)
        counts = routing_map.view(-1, s.batch, s.experts).sum(dim=0)
        return probs, routing_map, score_sum, counts

    def run_megatron_router() -> None:
        probs, _, score_sum, _ = megatron_router()
        torch.autograd.backward([probs, score_sum], [g_probs.to(probs.dtype), g_sum])

    # Correctness at these shapes before timing (no group limit: megatron scores groups differently).
    _, ours = ours_router(True)
    _, ref = ours_router(False)
    same = torch.equal(ours.topk_indices, ref.topk_indices)
    print(
        f"  router: fused == reference top-k: {same}; max |probs diff| {(ours.probs - ref.probs).abs().max():.2e}"
    )

    table.add(
        "router",
        timer(lambda: run_ours_router(True)),
        timer(lambda: run_ours_router(False)),
        timer(run_megatron_router),
    )

    routed = ours_router(True)[1]
    topk_idx, topk_probs = routed.topk_indices, routed.topk_probs.detach()
    dense_probs, routing_map = routed.probs.detach(), routed.routing_map
    g_pp = torch.randn(s.tokens * s.topk, device=device)

    def run_ours_permute(fused: bool) -> None:
        x = x0.detach().requires_grad_()
        p = topk_probs.detach().requires_grad_()
        plan = permute_plan(topk_idx, s.experts, fused=fused)
        permuted, pp = permute_tokens(x, plan.dest_rows, plan.num_out_tokens, p, fused=fused)
        y = unpermute_tokens(permuted, plan.dest_rows, None, fused=fused)
        torch.autograd.backward([y, pp], [g_x, g_pp[: pp.numel()]])

    def run_megatron_permute() -> None:
        x = x0.detach().requires_grad_()
        p = dense_probs.detach().requires_grad_()
        permuted, pp, sorted_idx = moe_utils.permute(x, routing_map, probs=p)
        y = moe_utils.unpermute(permuted, sorted_idx, restore_shape=x.shape, routing_map=routing_map)
        torch.autograd.backward([y, pp], [g_x, g_pp[: pp.numel()]])

    table.add(
        "permute+unpermute",
        timer(lambda: run_ours_permute(True)),
        timer(lambda: run_ours_permute(False)),
        timer(run_megatron_permute),
    )

    def run_ours_both(fused: bool) -> None:
        logits = logits0.detach().requires_grad_()
        x = x0.detach().requires_grad_()
        out = topk_gating(
            logits, s.topk, scaling_factor=s.scaling, num_sequences=s.batch, fused=fused, **group_kw
        )
        plan = permute_plan(out.topk_indices, s.experts, fused=fused)
        permuted, pp = permute_tokens(x, plan.dest_rows, plan.num_out_tokens, out.topk_probs, fused=fused)
        y = unpermute_tokens(
            permuted * pp.unsqueeze(-1).to(permuted.dtype), plan.dest_rows, None, fused=fused
        )
        torch.autograd.backward([y, out.expert_score_sum], [g_x, g_sum])

    def run_megatron_both() -> None:
        x = x0.detach().requires_grad_()
        probs, routing_map_m, score_sum, _ = megatron_router()
        permuted, pp, sorted_idx = moe_utils.permute(x, routing_map_m, probs=probs)
        y = moe_utils.unpermute(
            permuted * pp.unsqueeze(-1).to(permuted.dtype),
            sorted_idx,
            restore_shape=x.shape,
            routing_map=routing_map_m,
        )
        torch.autograd.backward([y, score_sum], [g_x, g_sum])

    table.add(
        "router+permute",
        timer(lambda: run_ours_both(True)),
        timer(lambda: run_ours_both(False)),
        timer(run_megatron_both),
        "goal: >= 2x megatron",
    )


def expert_counts(torch, shapes: Shapes, device):
    from trainer.kernels import topk_gating

    out = topk_gating(random_routing(torch, shapes, device), shapes.topk, fused=False)
    return out.expert_token_count.sum(dim=0).cpu()


def megatron_config(torch, shapes: Shapes, **overrides):
    import torch.nn.functional as F
    from megatron.core.transformer.transformer_config import TransformerConfig

    kw = dict(
        num_layers=1,
        hidden_size=shapes.hidden,
        num_attention_heads=16,
        num_moe_experts=shapes.experts,
        moe_ffn_hidden_size=shapes.ffn,
        ffn_hidden_size=shapes.ffn,
        moe_router_topk=shapes.topk,
        gated_linear_unit=True,
        activation_func=F.silu,
        add_bias_linear=False,
        bias_activation_fusion=False,
        gradient_accumulation_fusion=False,
        bf16=True,
        params_dtype=torch.bfloat16,
        moe_router_pre_softmax=True,
        moe_token_dispatcher_type="allgather",
    )
    kw.update(overrides)
    return TransformerConfig(**kw)


def bench_expert_mlp(
    torch, shapes: Shapes, device, timer, table: Table, roofline: float, nominal: float | None
) -> None:
    from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear
    from megatron.core.transformer.mlp import MLPSubmodules
    from megatron.core.transformer.moe.experts import SequentialMLP

    from trainer.kernels import grouped_swiglu_mlp

    s = shapes
    counts = expert_counts(torch, s, device)
    rows = int(counts.sum())
    gen = torch.Generator(device="cpu").manual_seed(1)
    x0 = torch.randn(rows, s.hidden, generator=gen).to(device=device, dtype=torch.bfloat16)
    probs0 = torch.rand(rows, generator=gen).to(device)
    w1 = (torch.randn(s.experts, s.hidden, 2 * s.ffn, generator=gen) * 0.02).to(
        device=device, dtype=torch.bfloat16
    )
    w2 = (torch.randn(s.experts, s.ffn, s.hidden, generator=gen) * 0.02).to(
        device=device, dtype=torch.bfloat16
    )
    w1.requires_grad_()
    w2.requires_grad_()
    g_y = torch.randn(rows, s.hidden, device=device, dtype=torch.bfloat16)

    def run_ours(fused: bool, backward: bool = True) -> None:
        x = x0.detach().requires_grad_()
        p = probs0.detach().requires_grad_()
        y = grouped_swiglu_mlp(x, counts, w1, w2, p, fused=fused)
        if backward:
            y.backward(g_y)

    config = megatron_config(torch, s)
    sequential = SequentialMLP(
        s.experts,
        config,
        submodules=MLPSubmodules(linear_fc1=ColumnParallelLinear, linear_fc2=RowParallelLinear),
        pg_collection=_pg_collection(),
    ).to(device)

    def run_megatron(backward: bool = True) -> None:
        x = x0.detach().requires_grad_()
        p = probs0.detach().requires_grad_()
        y, _ = sequential(x, counts, p)
        if backward:
            y.backward(g_y)

    with torch.no_grad():
        diff = grouped_swiglu_mlp(x0, counts, w1, w2, probs0) - grouped_swiglu_mlp(
            x0, counts, w1, w2, probs0, fused=False
        )
    print(f"  expert MLP: max |fused - reference| {diff.abs().max():.2e} (bf16)")

    flops_fwd = 6.0 * rows * s.hidden * s.ffn
    for label, backward, flops in (
        ("expert MLP forward", False, flops_fwd),
        ("expert MLP", True, 3 * flops_fwd),
    ):
        ms = timer(lambda b=backward: run_ours(True, b))
        tflops = flops / (ms * 1e-3) / 1e12
        note = f"{tflops:.0f} TFLOP/s = {100 * tflops / roofline:.0f}% of matmul roofline ({roofline:.0f})"
        if nominal:
            note += f", {100 * tflops / nominal:.0f}% of nominal peak ({nominal:.0f})"
        if backward:
            note += "; goal >= 60%"
        table.add(
            label,
            ms,
            timer(lambda b=backward: run_ours(False, b)),
            timer(lambda b=backward: run_megatron(b)),
            note,
        )


def _pg_collection():
    from megatron.core.transformer.moe.moe_utils import get_default_pg_collection

    return get_default_pg_collection()


def bench_moe_layer(torch, shapes: Shapes, device, timer, table: Table) -> None:
    from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear
    from megatron.core.transformer.mlp import MLPSubmodules
    from megatron.core.transformer.moe.experts import SequentialMLP
    from megatron.core.transformer.moe.moe_layer import MoELayer, MoESubmodules
    from megatron.core.transformer.moe.shared_experts import SharedExpertMLP
    from megatron.core.transformer.spec_utils import ModuleSpec, build_module

    from trainer.kernels.spec import apply_fused_kernels
    from trainer.model.router import DeepSeekV2Router, RouterSettings

    s = shapes
    linears = MLPSubmodules(linear_fc1=ColumnParallelLinear, linear_fc2=RowParallelLinear)
    config = megatron_config(
        torch,
        s,
        moe_shared_expert_intermediate_size=s.shared_ffn,
        moe_router_load_balancing_type="seq_aux_loss",
        moe_aux_loss_coeff=0.001,
        moe_router_topk_scaling_factor=s.scaling if s.scaling != 1.0 else None,
        moe_token_dispatcher_type=s.dispatcher,
    )
    spec = ModuleSpec(
        module=MoELayer,
        submodules=MoESubmodules(
            experts=ModuleSpec(module=SequentialMLP, submodules=linears),
            shared_experts=ModuleSpec(module=SharedExpertMLP, submodules=linears),
        ),
    )
    fused_spec = apply_fused_kernels(spec)
    fused_spec.submodules.router = DeepSeekV2Router.builder(
        RouterSettings(
            topk=s.topk,
            num_groups=s.groups,
            group_topk=s.group_topk,
            scaling_factor=s.scaling,
            expert_coeff=0.001,
            fused=True,
        )
    )
    unfused = build_module(spec, config=config).to(device)
    fused = build_module(fused_spec, config=config).to(device)
    unfused.train()
    fused.train()
    hidden0 = torch.randn(s.tokens // s.batch, s.batch, s.hidden, device=device, dtype=torch.bfloat16)
    g_out = torch.randn_like(hidden0)

    def run(layer) -> None:
        h = hidden0.detach().requires_grad_()
        out, _ = layer(h)
        out.backward(g_out)

    table.add(
        f"Lite MoE layer ({s.dispatcher})",
        timer(lambda: run(fused)),
        None,
        timer(lambda: run(unfused)),
        "ours: DeepSeek-V2 router with the fused gating kernel",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke:
        os.environ["TRITON_INTERPRET"] = "1"
        args.tokens, args.hidden, args.experts, args.topk, args.ffn, args.shared_ffn = 64, 32, 8, 2, 16, 32
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        print(
            "bench_kernels: no CUDA device here; run it on a GPU machine (the GPU figures are still to be taken)."
        )
        return 0
    try:
        import triton  # noqa: F401
    except ImportError:
        print("bench_kernels: triton is not installed; `pip install triton` (the train extra) first.")
        return 0

    from trainer.distributed import single_process_state

    shapes = Shapes(
        args.tokens,
        args.hidden,
        args.experts,
        args.topk,
        args.ffn,
        args.shared_ffn,
        args.groups,
        args.group_topk,
        args.scaling,
        args.batch,
        args.dispatcher,
    )
    timer = make_timer(cuda, args.rep_ms)
    with single_process_state(seed=0) as info:
        device = info.device
        name = torch.cuda.get_device_name() if cuda else "CPU (Triton interpreter; timings are meaningless)"
        nominal = next((v for k, v in NOMINAL_BF16_TFLOPS.items() if k in name), None) if cuda else None
        print(f"device: {name}")
        print(
            f"shapes: {shapes.tokens} tokens, hidden {shapes.hidden}, {shapes.experts} experts, top-{shapes.topk}, "
            f"expert FFN {shapes.ffn}, shared FFN {shapes.shared_ffn}, groups {shapes.groups}/{shapes.group_topk}, bf16"
        )
        roofline = matmul_roofline_tflops(torch, device, timer)
        print(f"bf16 matmul roofline (torch.matmul, square): {roofline:.0f} TFLOP/s")
        table = Table()
        bench_router_and_permute(torch, shapes, device, timer, table)
        bench_expert_mlp(torch, shapes, device, timer, table, roofline, nominal)
        if not args.skip_layer:
            bench_moe_layer(torch, shapes, device, timer, table)
        print()
        print(
            "forward + backward unless marked; ratios are the other path's time over ours (> 1: ours faster)"
        )
        table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
