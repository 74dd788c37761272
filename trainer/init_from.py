"""`coderforge train --init-from HF_DIR|CKPT`: start a run from existing weights (continued pretraining).

DeepSeek-Coder-V2 continues DeepSeek-V2's pretraining with a fresh optimizer and schedule, so the
default takes the weights only: Adam moments at zero, the LR schedule from its first warm-up step, the
data from its first sample. `--init-state all` takes a trainer checkpoint whole instead (weights,
optimizer, schedule, step and data position), as a resume into a new run folder would. A Hugging
Face folder is converted once, before any rank starts, into `<checkpoint_dir>/init-from/<name>` (a
temporary folder when the recipe keeps no checkpoints). A run that already has its own checkpoint
resumes from that and ignores `--init-from`, so restarting a crashed run never re-initialises it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Literal

from corpus.core.errors import UserError
from trainer.recipe import ModelConfig, TrainRecipe

InitState = Literal["weights", "all"]
INIT_STATES: tuple[str, ...] = ("weights", "all")

#: fields that fix tensor shapes: a difference makes the checkpoint unloadable
SHAPE_FIELDS = (
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_head_dim",
    "qk_pos_emb_head_dim",
    "v_head_dim",
    "ffn_hidden_size",
    "first_dense_layers",
    "num_experts",
    "num_shared_experts",
    "moe_ffn_hidden_size",
    "vocab_size",
)
#: fields that change what the loaded weights compute: a difference is allowed, and reported
BEHAVIOUR_FIELDS = ("topk", "num_groups", "group_topk", "routed_scaling_factor", "norm_eps", "rope_theta")


@dataclass(frozen=True)
class InitFrom:
    source: str  # what the user named
    path: str  # the dist_checkpointing folder that is loaded
    state: InitState


def describe(source: str, state: str) -> str:
    """One line for `--dry-run`: what --init-from would load (reads no weights)."""
    # the trainer's torch/megatron-core modules load only when this runs
    from trainer.hf_import import is_hf_folder

    kind = "a Hugging Face folder, converted before training" if is_hf_folder(source) else "a checkpoint"
    what = (
        "weights only: fresh optimizer, LR schedule from step 0, data from the first sample"
        if state == "weights"
        else "everything: weights, optimizer moments, LR schedule, step and data position"
    )
    return f"init-from: {source} ({kind}); loads {what}"


def compare_models(recipe_model: ModelConfig, saved: dict, source: str) -> list[str]:
    """UserError for a shape difference; the list of behaviour differences (to report) otherwise."""
    for key in SHAPE_FIELDS:
        mine = getattr(recipe_model, key)
        if key in saved and mine is not None and saved[key] != mine:
            raise UserError(f"--init-from {source}: model.{key} is {saved[key]} there, {mine} in the recipe")
    return [
        f"model.{k}: {saved[k]} in the checkpoint, {getattr(recipe_model, k)} in the recipe"
        for k in BEHAVIOUR_FIELDS
        if k in saved and saved[k] != getattr(recipe_model, k)
    ]


def _converted_folder(source: str, recipe: TrainRecipe) -> str:
    name = os.path.basename(os.path.normpath(source)) or "hf"
    if recipe.training.checkpoint_dir:
        return os.path.join(recipe.training.checkpoint_dir, "init-from", name)
    return os.path.join(tempfile.mkdtemp(prefix="coderforge-init-"), name)


def prepare(source: str, state: str, recipe: TrainRecipe, log=print) -> InitFrom:
    """Check `source` against the recipe and return the checkpoint to load (converting an HF folder)."""
    # the trainer's torch/megatron-core modules load only when this runs
    from trainer.checkpoint_forward import read_common, resolve_checkpoint
    from trainer.hf_import import WEIGHTS_ONLY, import_hf, is_hf_folder

    if state not in INIT_STATES:
        raise UserError(f"--init-state {state!r}: expected one of {', '.join(INIT_STATES)}")
    if not os.path.exists(source):
        raise UserError(f"--init-from {source}: no such file or folder")
    if is_hf_folder(source):
        if state == "all":
            raise UserError(
                f"--init-from {source}: a Hugging Face folder holds weights only; use --init-state weights"
            )
        path = _converted_folder(source, recipe)
        with open(os.path.join(source, "config.json"), encoding="utf-8") as f:
            wanted = json.load(f)
        if os.path.isdir(path) and read_common(path).get("hf_config") == wanted:
            log(f"init-from: reusing {path}, converted from {source} earlier")
        else:
            if os.path.isdir(path):
                raise UserError(f"--init-from {source}: {path} holds another conversion; remove it first")
            log(f"init-from: converting {source} -> {path}")
            import_hf(source, path)
    else:
        path = resolve_checkpoint(source)
    common = read_common(path)
    if state == "all" and common.get(WEIGHTS_ONLY):
        raise UserError(
            f"--init-from {source}: an imported checkpoint holds weights only; use --init-state weights"
        )
    for line in compare_models(recipe.model, common.get("model_config") or {}, source):
        log(f"init-from: {line}")
    return InitFrom(source, path, state)  # type: ignore[arg-type]
