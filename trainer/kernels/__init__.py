"""Fused Mixture-of-Experts kernels (Triton) for the DeepSeek-V2 MoE layer.

megatron-core 0.16.1 takes its fused MoE paths (router fusion, permute fusion, grouped GEMM) from
TransformerEngine, which cannot be installed everywhere we train. These kernels fill that gap in
Triton and enter megatron-core through ModuleSpecs (see `trainer.kernels.spec`).

Every kernel has a plain PyTorch reference with the same signature and semantics. Each public
function takes `fused: bool`; with `fused=True` the Triton path runs when the tensors live on a CUDA
device (or `TRITON_INTERPRET=1` is set, which runs Triton on the CPU for tests) and otherwise falls
back to the reference, logging one line the first time it does so.

Public API (signatures are stable; other trainer modules call them):

    topk_gating(logits, topk, *, num_groups=1, group_topk=1, scaling_factor=1.0,
                num_sequences=1, fused=True) -> GatingOutput
        DeepSeek-V2 routing in one kernel: softmax over ALL experts (fp32), group-limited top-k
        where a group's score is the MAX affinity inside it (num_groups=1: no group limit),
        probabilities multiplied by `scaling_factor` and NOT renormalised, plus the per-sequence
        statistics the balance losses need. Differentiable w.r.t. `logits` through `probs`,
        `topk_probs` and `expert_score_sum`. Token t belongs to sequence t % num_sequences
        (megatron-core flattens [seq, batch] hidden states, so this is the batch index).

    GatingOutput (NamedTuple):
        probs              [T, E] float32  scaled score of each chosen expert, 0 elsewhere
        routing_map        [T, E] bool     chosen experts
        topk_probs         [T, K] float32  scaled scores of the chosen experts, descending
        topk_indices       [T, K] int64    chosen experts, in the order of topk_probs
        expert_score_sum   [S, E] float32  sum over the sequence's tokens of the softmax score
        expert_token_count [S, E] int64    tokens of the sequence routed to each expert
        group_token_count  [S, G] int64    tokens of the sequence that chose >= 1 expert of group g

    permute_plan(topk_indices, num_experts, *, local_expert_start=0, num_local_experts=None,
                 fused=True) -> PermutePlan
    permute_plan_from_map(routing_map, topk, *, local_expert_start=0, num_local_experts=None,
                          fused=True) -> (PermutePlan, expert_indices [T, topk] int64, -1 padded)
        Where each (token, k) pair lands when tokens are grouped by expert: expert-major, tokens in
        ascending order inside an expert (the order megatron-core's `permute` produces). Pairs that
        route to experts outside [local_expert_start, local_expert_start + num_local_experts) get
        row -1 and are not dispatched (expert parallelism with the all-gather dispatcher).

    PermutePlan (NamedTuple):
        dest_rows          [T, K] int64    row of the permuted tensor, or -1
        tokens_per_expert  [L] int64       tokens per local expert (on the indices' device)
        num_out_tokens     int             rows of the permuted tensor (sum of tokens_per_expert)

    permute_tokens(tokens, dest_rows, num_out_tokens, probs=None, *, fused=True)
        -> (permuted [N, H], permuted_probs [N] or None)
        Gather tokens [T, H] (and their [T, K] probabilities) into expert-grouped rows.
    unpermute_tokens(permuted, dest_rows, probs=None, *, fused=True) -> [T, H]
        Sum each token's expert outputs back into place, weighted by probs [T, K] when given.
        Both are differentiable w.r.t. tokens/permuted and probs.

    grouped_swiglu_mlp(x, tokens_per_expert, w1, w2, probs=None, *, fused=True) -> [N, H]
        All experts' SwiGLU MLPs in one launch per GEMM: x [N, H] grouped by expert
        (tokens_per_expert [E] sums to N), w1 [E, H, 2F] with the gate in columns [0, F) and the
        up projection in [F, 2F) (megatron-core GroupedMLP's layout), w2 [E, F, H]. Computes
        (silu(x W1_gate) * (x W1_up) * probs) W2 per expert; probs [N] scale each row's
        activation (megatron-core's per-token scale) when given. Differentiable w.r.t. x, w1, w2
        and probs.

    fused_kernels_available(device) -> bool
        Whether the Triton path can run for tensors on `device`.

megatron-core integration (import `trainer.kernels.spec`, which needs megatron-core):
    apply_fused_kernels(moe_spec, *, fused=True) -> ModuleSpec
        Returns the MoE layer spec with the fused grouped expert MLP (`FusedGroupedMLP`) and a
        MoE layer whose token dispatcher (all-gather or all-to-all) permutes/unpermutes with the
        fused kernels. `fused=False` keeps the modules but runs the PyTorch references.

Limits (each falls back to megatron-core's own code or is refused with a clear error, never
silently approximated):
    * Capacity-based token dropping and padding (`moe_expert_capacity_factor`,
      `moe_pad_expert_input_to_capacity`, quantization padding) keep megatron-core's permutation.
    * The all-to-all dispatcher's second, chunk-level sort by local expert stays megatron-core's.
    * Only SwiGLU experts without biases; no FP8; expert tensor parallelism uses GroupedMLP's
      sharding but has not been exercised.
    * Plans and the grouped GEMM read token counts on the host (as megatron-core does), so a
      layer is not CUDA-graph capturable.
    * megatron-core's TransformerLayer logs "Unknown MLP type" once per layer for FusedMoELayer
      and lets it take the default (global) process groups, as it does for any MLP it does not
      recognise.
"""

from __future__ import annotations

from trainer.kernels.backend import fused_kernels_available
from trainer.kernels.grouped_mlp import grouped_swiglu_mlp
from trainer.kernels.permute import (
    PermutePlan,
    permute_plan,
    permute_plan_from_map,
    permute_tokens,
    unpermute_tokens,
)
from trainer.kernels.router import GatingOutput, topk_gating

__all__ = [
    "GatingOutput",
    "PermutePlan",
    "fused_kernels_available",
    "grouped_swiglu_mlp",
    "permute_plan",
    "permute_plan_from_map",
    "permute_tokens",
    "topk_gating",
    "unpermute_tokens",
]
