"""Load a checkpoint into the trainer's own model and run one forward pass, for parity checks.

The model is built exactly as `coderforge train` builds it (same builder, same router, same CPU
compatibility layer) and loaded through the trainer's checkpoint loader, so logits agreeing with
`transformers` says the trainer starts from the same model. YaRN is on when the checkpoint says so
(imported checkpoints carry the Hugging Face rope settings; trainer checkpoints the stage's).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from corpus.core.errors import UserError
from trainer.recipe import ModelConfig, ParallelConfig, YarnConfig


def is_checkpoint(path: str) -> bool:
    """A `dist_checkpointing` folder (as opposed to a run's checkpoint root or a Hugging Face folder)."""
    return os.path.isfile(os.path.join(path, "metadata.json")) and os.path.isfile(
        os.path.join(path, "common.pt")
    )


def resolve_checkpoint(path: str) -> str:
    """`path` itself, or the latest checkpoint under a run's checkpoint root / stage folder."""
    from trainer import checkpoint as ckpt  # megatron: only once a checkpoint is really read

    if is_checkpoint(path):
        return path
    for folder in (path, os.path.join(path, "pretrain")):
        latest = ckpt.latest(folder)
        if latest is not None:
            return latest
    raise UserError(f"{path}: not a checkpoint (no metadata.json/common.pt, and no 'latest' under it)")


def read_common(path: str) -> dict[str, Any]:
    """The checkpoint's common part (counters, and the model it holds when the writer recorded it)."""
    common = torch.load(os.path.join(path, "common.pt"), map_location="cpu", weights_only=False)
    if not isinstance(common, dict):
        raise UserError(f"{path}/common.pt: not a megatron checkpoint's common state")
    return common


def checkpoint_model(path: str, model: ModelConfig | None = None) -> tuple[ModelConfig, YarnConfig | None]:
    """The model shape (and YaRN) a checkpoint holds; `model` overrides (checkpoints without one)."""
    common = read_common(path)
    yarn = YarnConfig(**common["model_yarn"]) if common.get("model_yarn") else None
    if model is not None:
        return model, yarn
    if not common.get("model_config"):
        raise UserError(
            f"{path}: the checkpoint does not record its model; pass --recipe with the model section"
        )
    return ModelConfig(**common["model_config"]), yarn


def build_and_load(
    path: str,
    model: ModelConfig,
    yarn: YarnConfig | None,
    *,
    expert_parallel: int = 1,
    max_sequence_length: int = 4096,
    pipeline: int = 1,
    layers_per_stage: list[int] | None = None,
) -> torch.nn.Module:
    """The trainer's GPTModel (fp32, eval mode) with the checkpoint's weights; needs a parallel state
    of the same expert and pipeline sizes (then this rank's stage of the model)."""
    # the trainer's torch/megatron-core modules load only when this runs
    from trainer import checkpoint as ckpt
    from trainer.cpu_compat import default_device
    from trainer.model.builder import build_gpt_model, transformer_config

    parallel = ParallelConfig(expert=expert_parallel, pipeline=pipeline, layers_per_stage=layers_per_stage)
    config = transformer_config(model, parallel, precision="fp32", yarn=yarn)
    gpt = build_gpt_model(config, model, max_sequence_length=max_sequence_length).to(default_device())
    ckpt.load(path, gpt, None, None, with_optimizer=False)
    return gpt.eval()


@torch.no_grad()
def logits_of(gpt: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Logits [batch, seq, vocab] in fp32 for token ids [batch, seq] (positions 0..seq-1, causal)."""
    device = next(gpt.parameters()).device
    tokens = tokens.to(device)
    positions = torch.arange(tokens.shape[1], device=device).unsqueeze(0).expand_as(tokens)
    return gpt(tokens, positions, None).float().cpu()


@torch.no_grad()
def pipeline_logits(gpt: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor | None:
    """`logits_of` for one stage of a pipeline: every stage calls it with the same tokens.

    Each stage receives the previous stage's hidden states and sends its own on; only the last stage
    returns logits, the others None. Without a pipeline it is `logits_of`.
    """
    # torch and megatron-core (the `train` extra) load only when this runs
    import torch.distributed as dist
    from megatron.core import parallel_state as ps

    if ps.get_pipeline_model_parallel_world_size() == 1:
        return logits_of(gpt, tokens)
    device = next(gpt.parameters()).device
    tokens = tokens.to(device)
    positions = torch.arange(tokens.shape[1], device=device).unsqueeze(0).expand_as(tokens)
    if not ps.is_pipeline_first_stage():
        # megatron's activations between stages are [seq, batch, hidden]
        shape = (tokens.shape[1], tokens.shape[0], gpt.config.hidden_size)
        hidden = torch.empty(shape, dtype=gpt.config.params_dtype, device=device)
        dist.recv(hidden, src=ps.get_pipeline_model_parallel_prev_rank())
        gpt.set_input_tensor([hidden])
    out = gpt(tokens, positions, None)
    if not ps.is_pipeline_last_stage():
        dist.send(out.contiguous(), dst=ps.get_pipeline_model_parallel_next_rank())
        return None
    return out.float().cpu()


def parse_tokens(text: str, vocab_size: int | None) -> list[int]:
    """Token ids from "1,2,3" or "1 2 3"; one line for anything else."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise UserError("--tokens: no token ids given (e.g. --tokens '1,2,3')")
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise UserError(f"--tokens: {text!r} is not a list of integer token ids") from None
    bad = [i for i in ids if i < 0 or (vocab_size is not None and i >= vocab_size)]
    if bad:
        raise UserError(f"--tokens: id {bad[0]} is outside the vocabulary [0, {vocab_size})")
    return ids
