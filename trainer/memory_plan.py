"""Per-rank memory of a training layout, from the model's shapes alone: the `--dry-run` planner.

A layout is tensor x pipeline x data-parallel ranks, with expert parallelism carved out of the data
(and tensor) ranks as megatron-core does it: expert weights are split `expert` ways and their
optimizer state is sharded over the `data / expert` ranks that hold the same experts. For every
pipeline stage the planner adds up, per rank:

* weights, gradients and optimizer state, from the closed-form parameter counts of
  `trainer.model.shapes` (bf16: 2-byte weights, megatron's fp32 gradient buffer, fp32 master copy and
  two Adam moments = 2 + 4 + 12 bytes per parameter; fp32: 4 + 4 + 8). The distributed optimizer
  (ZeRO-1) divides the optimizer state by the data-parallel ranks sharing each parameter;
* activations saved for backward, per micro-batch, layer by layer (`layer_activations`), times the
  micro-batches a 1F1B pipeline keeps in flight on that stage (`min(pipeline - stage, micro-batches)`:
  the first stage holds the most); with full recompute a layer keeps only its input;
* the largest transient of a step: the logits and their float copy at the loss (last stage), the
  backward working set of one layer (all of it when it is recomputed), and the all-to-all buffers
  of the expert-parallel token dispatch;
* on GPUs a margin for the CUDA context, NCCL and cuBLAS workspaces, and allocator fragmentation.

The activation formulas count the tensors this trainer's modules save, which were enumerated with
`torch.autograd.graph.saved_tensors_hooks` on the tiny model (tests/trainer/test_memory_plan.py holds
the prediction to the measured peak): megatron's local (non-TransformerEngine) spec, torch RMSNorm
(saves its input and the normalised tensor), unfused SwiGLU (`bias_activation_fusion` is off), the
SDPA core attention of `trainer.model.sdpa_attention` (FlashAttention on GPUs in bf16, with values
zero-padded to the query width; PyTorch's math kernel on the CPU, which keeps the softmax matrix),
megatron's SequentialMLP experts (probabilities applied inside the expert) or, with `model.fused`,
the fused grouped SwiGLU kernel (saves input, pre-activation and activation only). TransformerEngine's
fused layers save less, so there the plan errs high. Tensor parallelism is approximated by dividing
everything except the MLA latents by the tensor size (sequence parallel on). Nothing here imports
torch: a plan costs microseconds, so `suggest_layout` can search thousands of layouts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from corpus.core.errors import UserError
from trainer.model.shapes import shape_counts
from trainer.recipe import ModelConfig, TrainRecipe

GiB = 1024**3

#: CUDA context, NCCL communicators and cuBLAS/cuDNN workspaces on each GPU (not measured here:
#: a CUDA context alone is ~0.5 GiB on H100-class parts and NCCL adds buffers per communicator)
GPU_CONTEXT_BYTES = 2 * GiB
#: PyTorch's caching allocator rounds and fragments: this share of the planned bytes is kept free
FRAGMENTATION = 0.05
#: without device-level token dropping, the busiest expert-parallel rank is assumed to receive this
#: many times its even share of routed tokens (the balance losses hold it near 1; with
#: `model.device_capacity_factor` the cap itself is used)
ROUTING_IMBALANCE = 1.25

Device = Literal["gpu", "cpu"]
Recompute = Literal["none", "full"]


@dataclass(frozen=True)
class Layout:
    """tensor x pipeline x data ranks; `expert` divides `data` (expert ranks come out of data ranks)."""

    tensor: int = 1
    pipeline: int = 1
    expert: int = 1
    data: int = 1
    layers_per_stage: tuple[int, ...] | None = None
    distributed_optimizer: bool = False
    recompute: Recompute = "none"

    @property
    def gpus(self) -> int:
        return self.tensor * self.pipeline * self.data

    @property
    def expert_data(self) -> int:
        """Ranks that hold the same experts (megatron's expert data-parallel group)."""
        return max(self.data // self.expert, 1)

    def describe(self) -> str:
        zero = "ZeRO-1 on" if self.distributed_optimizer else "ZeRO-1 off"
        return (
            f"{self.gpus} GPU{'' if self.gpus == 1 else 's'} = tensor {self.tensor} x pipeline {self.pipeline} x data {self.data} "
            f"(expert {self.expert}, expert-data {self.expert_data}), {zero}, recompute {self.recompute}"
        )

    def overrides(self) -> str:
        """The `--set` options that put this layout into a recipe (the GPU count sets data)."""
        parts = [
            f"parallel.pipeline={self.pipeline}",
            f"parallel.expert={self.expert}",
            f"parallel.distributed_optimizer={str(self.distributed_optimizer).lower()}",
            f"parallel.recompute={self.recompute}",
        ]
        if self.tensor != 1:
            parts.insert(0, f"parallel.tensor={self.tensor}")
        return " ".join(f"--set {p}" for p in parts)


@dataclass(frozen=True)
class StagePlan:
    """One pipeline stage's rank: bytes by kind, and what they were computed from."""

    stage: int
    layers: tuple[int, int]  # first and one-past-last global layer index
    parameters: int  # held by this rank (its expert shard included)
    weights: int
    gradients: int
    optimizer: int
    activations_per_microbatch: int
    microbatches_in_flight: int
    transient: int
    dispatch: int  # the expert-parallel all-to-all buffers, part of `transient`'s candidates
    margin: int

    @property
    def activations(self) -> int:
        return self.activations_per_microbatch * self.microbatches_in_flight

    @property
    def states(self) -> int:
        return self.weights + self.gradients + self.optimizer

    @property
    def total(self) -> int:
        return self.states + self.activations + self.transient + self.margin


@dataclass(frozen=True)
class MemoryPlan:
    layout: Layout
    device: Device
    precision: str
    micro_batch: int
    seq_length: int
    num_microbatches: int
    stages: tuple[StagePlan, ...]

    @property
    def peak(self) -> StagePlan:
        return max(self.stages, key=lambda s: s.total)

    @property
    def peak_bytes(self) -> int:
        return self.peak.total

    def fits(self, capacity: int) -> bool:
        return self.peak_bytes <= capacity


# --- the layout a recipe asks for ------------------------------------------------------------------
def even_layers(num_layers: int, pipeline: int) -> tuple[int, ...]:
    """Layers per stage as even as possible; the extra layers go to middle stages first.

    The first stage also holds the embedding and the most in-flight micro-batches, the last the output
    head and the loss, so when the layers do not divide evenly those two get the smaller share.
    """
    if not 1 <= pipeline <= num_layers:
        raise UserError(f"pipeline={pipeline} must be between 1 and num_layers={num_layers}")
    base, extra = divmod(num_layers, pipeline)
    order = [*range(1, pipeline - 1), pipeline - 1, 0] if pipeline > 1 else [0]
    counts = [base] * pipeline
    for i in order[:extra]:
        counts[i] += 1
    return tuple(counts)


def recipe_layout(recipe: TrainRecipe, gpus: int | None = None) -> Layout:
    """The recipe's parallel section at `gpus` GPUs (default: the fewest its layout allows)."""
    p = recipe.parallel
    per_replica = p.tensor * p.pipeline
    if gpus is None:
        data = p.expert
    else:
        if gpus < 1 or gpus % per_replica:
            raise UserError(
                f"--gpus {gpus} is not a multiple of parallel.tensor x parallel.pipeline = {per_replica}"
            )
        data = gpus // per_replica
        if data % p.expert:
            raise UserError(
                f"--gpus {gpus} leaves {data} data-parallel ranks, not a multiple of parallel.expert={p.expert}"
            )
    stages = tuple(p.layers_per_stage) if p.layers_per_stage else None
    return Layout(p.tensor, p.pipeline, p.expert, data, stages, p.distributed_optimizer, p.recompute)


# --- activations -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerActivations:
    """Bytes one layer saves for backward for one micro-batch, and its largest transient pieces."""

    attention: int  # both norms, MLA projections, core attention
    mlp: int  # dense MLP or MoE (shared + routed experts, router and dispatch metadata)
    largest_tensor: int  # the biggest single saved tensor (its gradient is the backward peak)

    @property
    def total(self) -> int:
        return self.attention + self.mlp


def layer_activations(
    m: ModelConfig,
    *,
    dense: bool,
    micro_batch: int,
    seq_length: int,
    act_bytes: int,
    tensor: int = 1,
    flash: bool = True,
    routed_share: float = 1.0,
) -> LayerActivations:
    """Saved-for-backward bytes of one decoder layer for one micro-batch (no recompute).

    Per token, in elements of the activation dtype (h hidden, n heads, qr/kvr the MLA latent ranks,
    dq = qk_head_dim + qk_pos_emb_head_dim, dv = v_head_dim, F the FFN width, k = topk):
      norms       2 x (input + normalised) = 4h                       (torch RMSNorm)
      queries     h (down-proj input) + 2qr (latent norm) + qr (up-proj input); h without q_lora
      keys/values (kvr + rope) (down-proj output) + kvr (normalised) + kvr (up-proj input)
      core        q and k: 2 n dq; v: n dv (n dq padded for FlashAttention); FlashAttention also
                  keeps its output (n dq) and a float log-sum-exp per head; the math kernel keeps the
                  s x s softmax instead (n s per token)
      out-proj    n dv
      dense MLP   h + 5F (fc1 output 2F, SiLU output, linear half + offset, fc2 input)
      MoE         shared: h + 5F_shared; router: a float copy of its input (bf16 only) and 10E + 16k
                  + 8 bytes of scores, routing map and indices; routed: k (h + 6F) + k floats
                  (SequentialMLP scales by the probability inside the expert) or k (h + 3F) + k with
                  the fused kernel, times `routed_share` (the busiest rank's share of routed tokens)
    Tensor parallelism divides all but the latent terms by `tensor`.
    """
    t = tensor
    tokens = micro_batch * seq_length
    h, n = m.hidden_size, m.num_attention_heads
    dq, dv = m.qk_head_dim + m.qk_pos_emb_head_dim, m.v_head_dim
    kvr, rope = m.kv_lora_rank, m.qk_pos_emb_head_dim
    norms = 4 * h / t
    queries = h / t if m.q_lora_rank is None else h / t + 3 * m.q_lora_rank
    kv = (kvr + rope) + 2 * kvr
    heads = n / t
    if flash:
        core = heads * (2 * dq + dq + dq)  # q, k, padded v, padded output
        core_bytes = tokens * (core * act_bytes + heads * 4)
        largest_core = tokens * heads * dq * act_bytes
    else:
        core = heads * (2 * dq + dv)
        probs = micro_batch * heads * seq_length * seq_length * act_bytes
        core_bytes = tokens * core * act_bytes + probs
        largest_core = probs
    out_proj = heads * dv
    # two float rsqrt columns per norm (input, pre-MLP, and the latent norms)
    norm_stats = (2 + (1 if m.q_lora_rank is not None else 0) + 1) * 4
    attention = tokens * ((norms + queries + kv + out_proj) * act_bytes + norm_stats) + core_bytes
    largest = max(largest_core, tokens * max(h / t, heads * dq) * act_bytes)
    if dense:
        ffn = m.ffn_hidden_size / t
        mlp = tokens * (h / t + 5 * ffn) * act_bytes
        largest = max(largest, tokens * 2 * ffn * act_bytes)
    else:
        shared_ffn = m.num_shared_experts * m.moe_ffn_hidden_size / t
        ffn = m.moe_ffn_hidden_size / t
        k = m.topk
        shared = (h / t + 5 * shared_ffn) * act_bytes if shared_ffn else (h / t) * act_bytes
        router = (h / t * 4 if act_bytes != 4 else 0) + 10 * m.num_experts + 16 * k + 8
        per_route = (h / t + (3 if m.fused else 6) * ffn) * act_bytes + 4
        mlp = tokens * (shared + router + routed_share * k * per_route)
        largest = max(largest, tokens * routed_share * k * max(h / t, 2 * ffn) * act_bytes)
    return LayerActivations(int(attention), int(mlp), int(largest))


# --- one stage -------------------------------------------------------------------------------------
def _bytes_per_parameter(precision: str) -> tuple[int, int, int]:
    """(weight, gradient, optimizer) bytes: megatron keeps fp32 gradients and, for bf16, a master copy."""
    return (2, 4, 12) if precision == "bf16" else (4, 4, 8)


def _stage(
    m: ModelConfig,
    layout: Layout,
    stage: int,
    first: int,
    count: int,
    micro_batch: int,
    seq_length: int,
    num_microbatches: int,
    precision: str,
    device: Device,
) -> StagePlan:
    c = shape_counts(m)
    t, pp = layout.tensor, layout.pipeline
    is_first, is_last = stage == 0, stage == pp - 1
    dense_layers = max(0, min(first + count, m.first_dense_layers) - first)
    moe_layers = count - dense_layers
    # replicated over data-parallel ranks (split over tensor ranks); experts split over expert ranks
    dense_params = count * (c.attention + c.norms) / t + dense_layers * c.dense_mlp / t
    dense_params += moe_layers * (c.shared_experts / t + c.router)
    if is_first:
        dense_params += c.embedding / t
    if is_last:
        dense_params += c.output_head / t + c.final_norm
    expert_params = moe_layers * (m.num_experts // layout.expert) * c.routed_expert / t
    w_b, g_b, o_b = _bytes_per_parameter(precision)
    params = dense_params + expert_params
    dense_shard = layout.data if layout.distributed_optimizer else 1
    expert_shard = layout.expert_data if layout.distributed_optimizer else 1
    optimizer = o_b * (dense_params / dense_shard + expert_params / expert_shard)

    act_bytes = 2 if precision == "bf16" else 4
    tokens = micro_batch * seq_length
    flash = device == "gpu" and precision == "bf16" and m.qk_head_dim + m.qk_pos_emb_head_dim <= 256
    routed_share = 1.0
    if layout.expert > 1:
        routed_share = m.device_capacity_factor or ROUTING_IMBALANCE
    kw = dict(micro_batch=micro_batch, seq_length=seq_length, act_bytes=act_bytes, tensor=t, flash=flash)
    layer_dense = layer_activations(m, dense=True, **kw)
    layer_moe = layer_activations(m, dense=False, routed_share=routed_share, **kw)
    layer_input = tokens * m.hidden_size / t * act_bytes
    per_mb = 0.0
    if layout.recompute == "full":
        per_mb += count * layer_input
    else:
        per_mb += dense_layers * layer_dense.total + moe_layers * layer_moe.total
    if is_first:
        per_mb += tokens * 8  # token ids
    if is_last:
        # final norm (input + normalised), output-layer input, float softmax kept by the loss
        per_mb += tokens * (3 * m.hidden_size / t * act_bytes + (m.vocab_size or 0) / t * 4)
    in_flight = max(1, min(pp - stage, num_microbatches))

    # transients: the single largest of the step's short-lived peaks
    here = [x for x, n in ((layer_dense, dense_layers), (layer_moe, moe_layers)) if n]
    backward = 2 * layer_input + max(x.largest_tensor for x in here)
    if layout.recompute == "full":
        backward += max(x.total for x in here)
    largest_weight = max(
        (m.vocab_size or 0) * m.hidden_size / t if (is_first or is_last) else 0,
        m.ffn_hidden_size * 2 * m.hidden_size / t if dense_layers else 0,
        m.num_attention_heads * (m.qk_head_dim + m.v_head_dim) * m.kv_lora_rank / t,
    )
    backward += largest_weight * w_b  # a weight's .grad before it is added into the fp32 buffer
    loss = 0.0
    if is_last:
        vocab = (m.vocab_size or 0) / t
        loss = tokens * vocab * (4 + (act_bytes if act_bytes != 4 else 0))
    dispatch = 0.0
    if layout.expert > 1 and moe_layers:
        # permuted tokens sent, received (at the busiest rank's share) and sorted by local expert
        dispatch = tokens * m.topk * m.hidden_size / t * act_bytes * (1 + 2 * routed_share)
    transient = max(backward, loss, dispatch)
    states = params * w_b + params * g_b + optimizer
    margin = 0.0
    if device == "gpu":
        margin = GPU_CONTEXT_BYTES + FRAGMENTATION * (states + per_mb * in_flight + transient)
    return StagePlan(
        stage=stage,
        layers=(first, first + count),
        parameters=int(params),
        weights=int(params * w_b),
        gradients=int(params * g_b),
        optimizer=int(optimizer),
        activations_per_microbatch=int(per_mb),
        microbatches_in_flight=in_flight,
        transient=int(transient),
        dispatch=int(dispatch),
        margin=int(margin),
    )


def plan_memory(
    recipe: TrainRecipe, layout: Layout | None = None, *, device: Device = "gpu", gpus: int | None = None
) -> MemoryPlan:
    """Per-stage, per-rank bytes of `recipe` trained at `layout` (default: the recipe's own).

    `device="cpu"` plans what the trainer does on the CPU: fp32 whatever `training.precision` says,
    the plain optimizer, PyTorch's math attention, and no CUDA margin.
    """
    m = recipe.model
    if m.vocab_size is None:
        raise UserError(
            "model.vocab_size is null: the memory plan needs the vocabulary size; set it "
            "(e.g. --set model.vocab_size=102400)"
        )
    layout = layout or recipe_layout(recipe, gpus)
    precision = recipe.training.precision
    if device == "cpu":
        precision = "fp32"
        layout = replace(layout, distributed_optimizer=False)
    if m.num_experts % layout.expert:
        raise UserError(f"model.num_experts={m.num_experts} is not divisible by expert={layout.expert}")
    stages = layout.layers_per_stage or even_layers(m.num_layers, layout.pipeline)
    if len(stages) != layout.pipeline or sum(stages) != m.num_layers:
        raise UserError(
            f"layers per stage {list(stages)} do not split {m.num_layers} layers into {layout.pipeline}"
        )
    b = recipe.batch
    num_micro = max(1, b.global_batch_size // (b.micro_batch_size * layout.data))
    plans = []
    first = 0
    for i, count in enumerate(stages):
        plans.append(
            _stage(
                m,
                layout,
                i,
                first,
                count,
                b.micro_batch_size,
                recipe.data.seq_length,
                num_micro,
                precision,
                device,
            )
        )
        first += count
    return MemoryPlan(
        layout, device, precision, b.micro_batch_size, recipe.data.seq_length, num_micro, tuple(plans)
    )


# --- searching for a layout that fits --------------------------------------------------------------
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _pipeline_sizes(num_layers: int) -> list[int]:
    powers = [2**i for i in range(8) if 2**i <= num_layers]
    return sorted(set(powers) | {d for d in _divisors(num_layers) if d <= 64})


def _batch_allows(recipe: TrainRecipe, data: int) -> bool:
    b = recipe.batch
    sizes = [b.global_batch_size]
    if b.rampup:
        sizes += [b.rampup[0], b.rampup[1]]
    return all(s % (b.micro_batch_size * data) == 0 for s in sizes)


def _preference(plan: MemoryPlan) -> tuple:
    """Fewest GPUs, then the cheapest in time: no recompute, shallow pipelines, small expert groups."""
    lay = plan.layout
    return (
        lay.gpus,
        lay.recompute != "none",
        lay.pipeline,
        lay.expert,
        not lay.distributed_optimizer,
        plan.peak_bytes,
    )


def candidate_layouts(recipe: TrainRecipe, gpus: int | None, max_gpus: int = 4096):
    """Layouts the trainer's constraints allow: expert divides the experts and the data ranks, the
    batch (and its ramp) divides into micro-batches per data rank; exactly `gpus` GPUs when given."""
    m = recipe.model
    t = recipe.parallel.tensor
    experts = _divisors(m.num_experts)
    for pp in _pipeline_sizes(m.num_layers):
        if gpus is not None:
            if gpus % (t * pp):
                continue
            datas = [gpus // (t * pp)]
        else:
            datas = [d for d in range(1, max_gpus // (t * pp) + 1) if _batch_allows(recipe, d)]
        for data in datas:
            if not _batch_allows(recipe, data):
                continue
            for ep in experts:
                if data % ep:
                    continue
                for zero in (False, True) if data > 1 else (False,):
                    for rc in ("none", "full"):
                        yield Layout(t, pp, ep, data, None, zero, rc)


def suggest_layout(
    recipe: TrainRecipe, capacity: int, gpus: int | None = None, *, device: Device = "gpu"
) -> MemoryPlan | None:
    """The preferred layout whose every rank fits in `capacity` bytes (None when none does).

    With `gpus`, only layouts of exactly that many GPUs; otherwise the fewest GPUs that fit (up to
    4096), found by scanning data-parallel sizes upwards per (pipeline, expert, ZeRO-1, recompute).
    """
    best: MemoryPlan | None = None
    done: set[tuple] = set()
    for lay in candidate_layouts(recipe, gpus):
        key = (lay.pipeline, lay.expert, lay.distributed_optimizer, lay.recompute)
        if gpus is None and key in done:
            continue  # a smaller data size with these settings already fits
        if best is not None and lay.gpus > best.layout.gpus:
            continue
        plan = plan_memory(recipe, lay, device=device)
        if not plan.fits(capacity):
            continue
        done.add(key)
        if best is None or _preference(plan) < _preference(best):
            best = plan
    return best


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)


def parse_memory_size(text: str) -> int:
    """'80GB', '80G', '80GiB', '81920MiB' -> bytes. Binary units throughout, as GPUs are labelled
    (an "80GB" H100 has 80 GiB); a bare number is GiB."""
    mm = _SIZE.match(text)
    if not mm:
        raise UserError(f"--gpu-memory {text!r}: expected a size such as 80GB, 141GB or 81920MiB")
    value, unit = float(mm.group(1)), (mm.group(2) or "G").upper()
    size = int(value * 1024 ** ("KMGT".index(unit) + 1))
    if size <= 0:
        raise UserError(f"--gpu-memory {text!r} must be positive")
    return size


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def plan_to_json(plan: MemoryPlan) -> dict:
    """The plan as plain data (the `memory` section of `coderforge train --dry-run`)."""
    lay = plan.layout
    return {
        "layout": {
            "gpus": lay.gpus,
            "tensor": lay.tensor,
            "pipeline": lay.pipeline,
            "expert": lay.expert,
            "data": lay.data,
            "expert_data": lay.expert_data,
            "layers_per_stage": [s.layers[1] - s.layers[0] for s in plan.stages],
            "distributed_optimizer": lay.distributed_optimizer,
            "recompute": lay.recompute,
        },
        "device": plan.device,
        "precision": plan.precision,
        "micro_batch": plan.micro_batch,
        "seq_length": plan.seq_length,
        "num_microbatches": plan.num_microbatches,
        "peak_bytes": plan.peak_bytes,
        "peak_stage": plan.peak.stage,
        "stages": [
            {
                "stage": s.stage,
                "layers": list(s.layers),
                "parameters": s.parameters,
                "weights": s.weights,
                "gradients": s.gradients,
                "optimizer": s.optimizer,
                "activations": s.activations,
                "microbatches_in_flight": s.microbatches_in_flight,
                "transient": s.transient,
                "dispatch": s.dispatch,
                "margin": s.margin,
                "total": s.total,
            }
            for s in plan.stages
        ],
    }


def total_parameters(plan: MemoryPlan, recipe: TrainRecipe) -> float:
    """Parameters of the whole model re-assembled from the ranks' shards (a consistency check)."""
    m = recipe.model
    c = shape_counts(m)
    lay = plan.layout
    out = 0.0
    for s in plan.stages:
        first, last = s.layers
        moe = (last - first) - max(0, min(last, m.first_dense_layers) - first)
        expert = moe * (m.num_experts // lay.expert) * c.routed_expert / lay.tensor
        dense = s.parameters - expert
        out += dense * lay.tensor + expert * lay.expert * lay.tensor
    return out


__all__ = [
    "GiB",
    "Layout",
    "MemoryPlan",
    "StagePlan",
    "even_layers",
    "human_bytes",
    "layer_activations",
    "parse_memory_size",
    "plan_memory",
    "plan_to_json",
    "recipe_layout",
    "suggest_layout",
    "total_parameters",
]
