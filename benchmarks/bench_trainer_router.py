"""Router cost, forward + backward: our DeepSeek-V2 gating vs megatron-core 0.16.1's TopKRouter math.

Both take the same router logits [tokens, experts] and return differentiable top-k probabilities plus
their balance loss; the step is forward + backward through probabilities and loss.
  anchor   megatron-core: `topk_routing_with_score_function` (pre-softmax, group-limited routing with
           V3-style top-2-sum group scores) + `compute_routing_scores_for_aux_loss` +
           `switch_load_balancing_loss_func` (one sequence-level loss)
  ours     `trainer.kernels.topk_gating(fused=False)` (max-scored groups, no renormalisation) + all THREE
           DeepSeek-V2 balance losses (expert, device, communication); on a GPU also the fused
           Triton gating kernel from trainer.kernels (`--fused`)

Shapes default to DeepSeek-V2 236B routing: 160 experts, top-6, 8 groups, 3 kept, 4096 tokens per
sequence. "anchor / ours" > 1 means ours is faster.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trainer_router.py [--tokens 8192]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch


def timed(fn: Callable[[], None], repeat: int, sync: bool) -> float:
    fn()
    if sync:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    if sync:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--sequences", type=int, default=2)
    ap.add_argument("--experts", type=int, default=160)
    ap.add_argument("--topk", type=int, default=6)
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--group-topk", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    from megatron.core.transformer.moe.moe_utils import (
        compute_routing_scores_for_aux_loss,
        switch_load_balancing_loss_func,
        topk_routing_with_score_function,
    )

    from trainer.kernels import topk_gating
    from trainer.model.gating import balance_losses

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    T, E, K, G, M, S = args.tokens, args.experts, args.topk, args.groups, args.group_topk, args.sequences
    logits = torch.randn(T, E, device=device, requires_grad=True)

    def anchor() -> None:
        probs, _ = topk_routing_with_score_function(
            logits,
            K,
            use_pre_softmax=True,
            num_groups=G,
            group_topk=M,
            scaling_factor=16.0,
            score_function="softmax",
        )
        rmap, scores = compute_routing_scores_for_aux_loss(logits, K, "softmax")
        aux = switch_load_balancing_loss_func(scores, rmap.sum(0).float(), T, K, E, 0.003)
        (probs.sum() + aux).backward()

    def ours(fused: bool = False) -> Callable[[], None]:
        def step() -> None:
            out = topk_gating(
                logits, K, num_groups=G, group_topk=M, scaling_factor=16.0, num_sequences=S, fused=fused
            )
            losses = balance_losses(out, K, G, M, T // S)
            (
                out.probs.sum() + 0.003 * losses.expert + 0.05 * losses.device + 0.02 * losses.communication
            ).backward()

        return step

    rows = [("megatron-core TopKRouter math", timed(anchor, args.repeat, on_gpu))]
    rows.append(("ours (PyTorch)", timed(ours(False), args.repeat, on_gpu)))
    if on_gpu:
        rows.append(("ours (fused Triton gating)", timed(ours(True), args.repeat, on_gpu)))
    where = torch.cuda.get_device_name() if on_gpu else f"CPU, {os.environ['OMP_NUM_THREADS']} thread(s)"
    print(f"\ntokens={T} experts={E} top-{K} groups {M}/{G}, forward+backward, {where}")
    print(f"{'path':<34}{'ms/step':>10}{'anchor / this':>15}")
    for name, t in rows:
        print(f"{name:<34}{1e3 * t:>10.2f}{rows[0][1] / t:>14.2f}x")


if __name__ == "__main__":
    main()
