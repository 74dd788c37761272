"""The training recipe: one YAML file that fixes the model, the data blend, the schedule and the layout.

The schema is strict (unknown keys are errors) so that a misspelt key never silently trains the wrong
model. Defaults follow the DeepSeek-V2 report where it publishes a number (AdamW 0.9/0.95, weight decay
0.1, clip 1.0, 2000 warm-up steps, cosine to 10% of peak); where it does not (batch ramp increments,
long-context learning rate), the field is a parameter and its description says so. Relative paths
resolve against the recipe's own folder, so a recipe can be launched from anywhere. Loading, validation
errors and `--set` overrides go through `corpus.core.strict`, so a mistake in a training recipe reads
like one in a corpus recipe: one line naming the file and the dotted key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from corpus.core.errors import UserError
from corpus.core.strict import StrictModel, load_yaml_mapping, set_dotted, validate


class BalanceLosses(StrictModel):
    """DeepSeek-V2's three balance losses; each is computed per sequence and averaged over the batch."""

    expert: float = Field(0.0, ge=0, description="alpha_1, expert-level balance factor")
    device: float = Field(0.0, ge=0, description="alpha_2, device-level balance factor")
    communication: float = Field(0.0, ge=0, description="alpha_3, communication balance factor")


class ModelConfig(StrictModel):
    """A DeepSeek-V2 shape: MLA attention, one or more dense layers, then DeepSeekMoE layers."""

    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=8)
    num_attention_heads: int = Field(ge=1)
    q_lora_rank: int | None = Field(None, ge=1, description="null: queries are projected directly (Lite)")
    kv_lora_rank: int = Field(ge=1)
    qk_head_dim: int = Field(128, ge=1, description="non-positional query/key head size")
    qk_pos_emb_head_dim: int = Field(64, ge=2, description="decoupled RoPE head size")
    v_head_dim: int = Field(128, ge=1)
    ffn_hidden_size: int = Field(ge=1, description="FFN width of the dense layers")
    first_dense_layers: int = Field(1, ge=0, description="dense layers before the first MoE layer")
    num_experts: int = Field(ge=1, description="routed experts per MoE layer")
    num_shared_experts: int = Field(2, ge=0)
    moe_ffn_hidden_size: int = Field(ge=1, description="FFN width of one expert (routed or shared)")
    topk: int = Field(6, ge=1)
    num_groups: int = Field(1, ge=1, description="device groups for group-limited routing and balance losses")
    group_topk: int = Field(1, ge=1, description="groups a token may reach (M); ignored when num_groups=1")
    routed_scaling_factor: float = Field(1.0, gt=0)
    balance: BalanceLosses = Field(default_factory=BalanceLosses)
    device_capacity_factor: float | None = Field(
        None, gt=0, description="device-level token dropping at this capacity (null: no dropping)"
    )
    never_drop_fraction: float = Field(
        0.1, ge=0, le=1, description="share of training sequences exempt from token dropping"
    )
    vocab_size: int | None = Field(
        102400, ge=2, description="padded vocabulary (embedding rows); null: the shard manifest's vocab_size"
    )
    norm_eps: float = Field(1e-6, gt=0)
    rope_theta: float = Field(10000.0, gt=0)
    init_std: float = Field(0.006, gt=0, description="normal init std (DeepSeek-V2 uses 0.006)")
    fused: bool = Field(False, description="fused Triton gating / expert kernels from trainer.kernels")
    router: Literal["deepseek-v2", "megatron"] = Field(
        "deepseek-v2",
        description="'megatron': megatron-core's stock TopKRouter (group score = sum of top-2, seq aux "
        "loss only), kept as the baseline our router is measured against",
    )

    @model_validator(mode="after")
    def _shape(self) -> ModelConfig:
        if self.topk > self.num_experts:
            raise ValueError(f"topk={self.topk} exceeds num_experts={self.num_experts}")
        if self.first_dense_layers > self.num_layers:
            raise ValueError("first_dense_layers exceeds num_layers")
        if self.num_experts % self.num_groups:
            raise ValueError(
                f"num_experts={self.num_experts} is not divisible by num_groups={self.num_groups}"
            )
        if self.num_groups == 1 and (self.balance.device > 0 or self.balance.communication > 0):
            raise ValueError("balance.device / balance.communication need num_groups > 1 (the device groups)")
        if self.num_groups > 1:
            if self.group_topk > self.num_groups:
                raise ValueError("group_topk exceeds num_groups")
            if self.group_topk * (self.num_experts // self.num_groups) < self.topk:
                raise ValueError("group_topk groups hold fewer experts than topk")
        return self

    @property
    def num_moe_layers(self) -> int:
        return self.num_layers - self.first_dense_layers


class ParallelConfig(StrictModel):
    """How the model is spread over devices; data parallelism is what the GPU count leaves over.

    `pipeline` stages run megatron-core's 1F1B schedule (the interleaved one is not wired);
    `layers_per_stage` sets each stage's decoder layers (uneven allowed), as the memory planner
    (`--dry-run`) plans them.
    """

    tensor: int = Field(1, ge=1, description="tensor_model_parallel_size")
    pipeline: int = Field(1, ge=1, description="pipeline_model_parallel_size (1F1B schedule)")
    layers_per_stage: list[int] | None = Field(
        None, description="decoder layers of each pipeline stage (null: as even as possible)"
    )
    expert: int = Field(1, ge=1, description="expert_model_parallel_size")
    dispatcher: Literal["alltoall", "allgather"] = "alltoall"
    distributed_optimizer: bool = Field(False, description="shard optimizer state over data-parallel ranks")
    recompute: Literal["none", "full"] = Field(
        "none", description="'full': keep only each layer's input and recompute the layer in backward"
    )

    @model_validator(mode="after")
    def _stages(self) -> ParallelConfig:
        if self.layers_per_stage is not None:
            if len(self.layers_per_stage) != self.pipeline:
                raise ValueError(
                    f"layers_per_stage has {len(self.layers_per_stage)} entries for pipeline={self.pipeline}"
                )
            if any(n < 1 for n in self.layers_per_stage):
                raise ValueError("layers_per_stage entries must be at least 1")
        return self


class DataConfig(StrictModel):
    """Either a shard manifest (`manifest.json` with a "megatron" section) or an explicit blend."""

    manifest: str | None = Field(None, description="path to manifest.json or to its folder")
    data_path: list[float | str] | None = Field(
        None, description="Megatron-style blend: [weight, prefix, weight, prefix, ...] or [prefix, ...]"
    )
    eos_id: int | None = Field(None, ge=0, description="end-of-document id (the manifest's when null)")
    split: str = Field("98,2,0", description="train,validation,test split of each prefix's documents")
    seq_length: int = Field(4096, ge=8)
    cache_dir: str | None = Field(None, description="where GPTDataset keeps its index caches (null: none)")
    num_workers: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _source(self) -> DataConfig:
        if (self.manifest is None) == (self.data_path is None):
            raise ValueError("give exactly one of data.manifest or data.data_path")
        return self

    @field_validator("split")
    @classmethod
    def _split(cls, v: str) -> str:
        parts = v.split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"split {v!r} must be comma-separated numbers, e.g. '98,2,0'") from None
        if len(values) != 3 or any(x < 0 for x in values) or sum(values) <= 0:
            raise ValueError(f"split {v!r} must be three non-negative numbers, e.g. '98,2,0'")
        return v


class OptimizerConfig(StrictModel):
    lr: float = Field(gt=0, description="peak learning rate")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine decays to this share of the peak")
    warmup_steps: int = Field(2000, ge=0)
    decay_steps: int | None = Field(None, ge=1, description="cosine length (null: the training steps)")
    beta1: float = Field(0.9, gt=0, lt=1)
    beta2: float = Field(0.95, gt=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    clip_grad: float = Field(1.0, ge=0)


class BatchConfig(StrictModel):
    global_batch_size: int = Field(ge=1, description="sequences per optimizer step")
    micro_batch_size: int = Field(1, ge=1, description="sequences per forward pass on one rank")
    rampup: list[int] | None = Field(
        None,
        description="[start, increment, ramp samples] (megatron-core's rampup_batch_size); "
        "the report gives only the end points, so increments are ours",
    )

    @field_validator("rampup")
    @classmethod
    def _rampup(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 3 or any(x < 1 for x in v)):
            raise ValueError("rampup must be [start_batch, increment, ramp_samples], all positive")
        return v


class TrainingConfig(StrictModel):
    steps: int = Field(ge=1, description="optimizer steps")
    seed: int = 1234
    precision: Literal["bf16", "fp32"] = "bf16"
    log_interval: int = Field(10, ge=1)
    eval_interval: int = Field(0, ge=0, description="0: no periodic evaluation")
    eval_steps: int = Field(2, ge=1, description="batches per evaluation")
    save_interval: int = Field(0, ge=0, description="0: save only at the end")
    checkpoint_dir: str | None = Field(None, description="dist_checkpointing folder (null: no checkpoints)")
    peak_tflops: float | None = Field(
        None, gt=0, description="per-device dense peak for the MFU estimate (null: from the GPU name)"
    )


class YarnConfig(StrictModel):
    scaling_factor: float = Field(40.0, gt=1)
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    original_max_position_embeddings: int = Field(4096, ge=1)
    mscale: float = 0.707
    mscale_all_dim: float = 0.707


class LongContextStage(StrictModel):
    name: str
    seq_length: int = Field(ge=8)
    steps: int = Field(ge=1)
    global_batch_size: int = Field(ge=1)
    lr: float | None = Field(None, gt=0, description="constant LR (not published; null: 10% of peak)")


class LongContextConfig(StrictModel):
    yarn: YarnConfig = Field(default_factory=YarnConfig)
    stages: list[LongContextStage] = Field(default_factory=list)


class TrainRecipe(StrictModel):
    name: str
    model: ModelConfig
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)
    data: DataConfig
    optimizer: OptimizerConfig
    batch: BatchConfig
    training: TrainingConfig
    long_context: LongContextConfig = Field(default_factory=LongContextConfig)

    @model_validator(mode="after")
    def _consistent(self) -> TrainRecipe:
        if self.model.num_experts % self.parallel.expert:
            raise ValueError(
                f"model.num_experts={self.model.num_experts} is not divisible by parallel.expert={self.parallel.expert}"
            )
        if self.parallel.pipeline > self.model.num_layers:
            raise ValueError(
                f"parallel.pipeline={self.parallel.pipeline} exceeds model.num_layers={self.model.num_layers}"
            )
        stages = self.parallel.layers_per_stage
        if stages is not None and sum(stages) != self.model.num_layers:
            raise ValueError(
                f"parallel.layers_per_stage sums to {sum(stages)}, not model.num_layers={self.model.num_layers}"
            )
        if self.batch.global_batch_size % self.batch.micro_batch_size:
            raise ValueError("batch.global_batch_size must be a multiple of batch.micro_batch_size")
        names = [s.name for s in self.long_context.stages]
        if len(set(names)) != len(names) or "pretrain" in names:
            raise ValueError("long_context.stages need unique names other than 'pretrain'")
        return self

    def stage(self, name: str) -> TrainRecipe:
        """The recipe for one long-context stage: YaRN on, that stage's length, batch, steps and LR."""
        if name == "pretrain":
            return self.model_copy(deep=True)
        for st in self.long_context.stages:
            if st.name == name:
                break
        else:
            known = ", ".join(["pretrain", *(s.name for s in self.long_context.stages)])
            raise UserError(f"unknown stage {name!r} in recipe {self.name!r}; known: {known}")
        out = self.model_copy(deep=True)
        lr = st.lr if st.lr is not None else self.optimizer.lr * self.optimizer.min_lr_ratio
        out.data.seq_length = st.seq_length
        out.training.steps = st.steps
        out.batch.global_batch_size = st.global_batch_size
        out.batch.rampup = None
        out.optimizer.lr = lr
        out.optimizer.min_lr_ratio = 1.0
        out.optimizer.warmup_steps = 0
        return out

    def stage_index(self, name: str) -> int:
        names = ["pretrain", *(s.name for s in self.long_context.stages)]
        return names.index(name)


def _resolve(base: Path, path: str | None) -> str | None:
    if path is None or "://" in path or os.path.isabs(path):
        return path
    return str((base / path).resolve())


def parse_recipe(raw: Any, base_dir: Path | str = ".", source: str = "<recipe>") -> TrainRecipe:
    """Validate a loaded recipe; relative data paths resolve against `base_dir`."""
    recipe = validate(TrainRecipe, raw, source)
    base = Path(base_dir)
    recipe.data.manifest = _resolve(base, recipe.data.manifest)
    recipe.data.cache_dir = _resolve(base, recipe.data.cache_dir)
    recipe.training.checkpoint_dir = _resolve(base, recipe.training.checkpoint_dir)
    if recipe.data.data_path is not None:
        recipe.data.data_path = [
            _resolve(base, p) if isinstance(p, str) else p for p in recipe.data.data_path
        ]
    return recipe


def load_recipe(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> TrainRecipe:
    """Read and validate a training recipe; `overrides` maps dotted keys to values (CLI `--set`).

    An override of null is applied too (`--set model.vocab_size=null` takes the manifest's size).
    """
    p = Path(path)
    raw = load_yaml_mapping(p, "training recipe")
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value, str(p))
    return parse_recipe(raw, p.parent, str(p))


def parse_override(text: str) -> tuple[str, Any]:
    """`key.path=value` with the value read as YAML (numbers, booleans, null, lists)."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected KEY=VALUE, e.g. training.steps=100")
    key, value = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value
