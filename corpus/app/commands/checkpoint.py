"""`coderforge checkpoint import|export|forward`: Hugging Face DeepSeek-V2 checkpoints in and out.

torch, megatron-core and safetensors load only when a command runs (the `train` and `hf` extras), so
the rest of the CLI works without them.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from typing import Annotated

import numpy as np
import typer

from corpus.core.errors import UserError

checkpoint_app = typer.Typer(
    help="Convert Hugging Face DeepSeek-V2 checkpoints to and from the trainer's, and check them.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(checkpoint_app, name="checkpoint")


def _need(*modules: str) -> None:
    extras = {"torch": "train", "megatron.core": "train", "safetensors": "hf"}
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise UserError(
                f"coderforge checkpoint needs {module}: pip install 'coderforge[{extras[module]}]'"
            )


def _size(text: str) -> int:
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "B": 1}
    t = text.strip().upper()
    for unit in sorted(units, key=len, reverse=True):
        if t.endswith(unit):
            try:
                return max(1, int(float(t[: -len(unit)]) * units[unit]))
            except ValueError:
                break
    raise UserError(f"--max-shard-size {text!r}: expected a size such as 5GB or 500MiB")


def _recipe_model(recipe: str | None):
    if recipe is None:
        return None
    from trainer.recipe import load_recipe  # the trainer loads only when a checkpoint command runs

    return load_recipe(recipe).model


@checkpoint_app.command("import")
def import_command(
    hf_dir: Annotated[str, typer.Argument(help="Hugging Face model folder (config.json + safetensors)")],
    out: Annotated[str, typer.Argument(help="new folder for the trainer checkpoint")],
) -> None:
    """Convert a DeepSeek-V2 / V2-Lite / Coder-V2 safetensors checkpoint for the trainer, tensor by tensor.

    Writes OUT (a dist_checkpointing checkpoint that loads at any expert-parallel layout) and
    OUT/model.yaml (the recipe's model section, and YaRN for the long-context stages).
    """
    _need("torch", "safetensors")
    from trainer.hf_import import RECIPE_FILE, import_hf  # the `train` and `hf` extras, loaded here

    s = import_hf(hf_dir, out)
    name, size = s.largest
    typer.echo(
        f"imported {s.tensors} tensors ({s.bytes / 2**20:,.1f} MiB, largest {name} {size / 2**20:,.1f} MiB) "
        f"in {s.seconds:.1f}s -> {s.out}\n"
        f"model section: {os.path.join(s.out, RECIPE_FILE)}  "
        f"(train with: coderforge train RECIPE --init-from {s.out})"
    )


@checkpoint_app.command("export")
def export_command(
    ckpt: Annotated[str, typer.Argument(help="checkpoint folder, or a run's checkpoint_dir (its latest)")],
    out: Annotated[str, typer.Argument(help="new folder for the Hugging Face model")],
    recipe: Annotated[
        str | None,
        typer.Option(help="training recipe whose model section the checkpoint holds (if unrecorded)"),
    ] = None,
    max_shard_size: Annotated[str, typer.Option(help="largest safetensors shard, e.g. 5GB")] = "5GB",
) -> None:
    """Write safetensors shards, their index and a config.json that transformers loads."""
    _need("torch", "megatron.core", "safetensors")
    # the `train` and `hf` extras, loaded only when the command runs
    from trainer.distributed import single_process_state
    from trainer.hf_export import export_hf

    model = _recipe_model(recipe)
    with single_process_state():
        s = export_hf(ckpt, out, model=model, max_shard_bytes=_size(max_shard_size))
    typer.echo(
        f"exported {s.tensors} tensors in {s.shards} shard(s) ({s.bytes / 2**20:,.1f} MiB) "
        f"in {s.seconds:.1f}s -> {s.out}"
    )


@checkpoint_app.command("forward")
def forward_command(
    ckpt: Annotated[str, typer.Argument(help="checkpoint folder, or a run's checkpoint_dir (its latest)")],
    tokens: Annotated[str, typer.Option(help="token ids, comma- or space-separated, e.g. '1,2,3'")],
    out: Annotated[str, typer.Option(help="where to write the logits (.npy, float32 [tokens, vocab])")],
    recipe: Annotated[
        str | None,
        typer.Option(help="training recipe whose model section the checkpoint holds (if unrecorded)"),
    ] = None,
) -> None:
    """Run one forward pass of the trainer's model on the checkpoint's weights and save the logits.

    The same token ids through transformers' DeepseekV2ForCausalLM give the same logits (to ~1e-6 in
    fp32); this is the parity check anyone can run.
    """
    _need("torch", "megatron.core")
    # torch, megatron-core and the trainer are the `train` extra: loaded only when a command runs
    import torch

    # the trainer's modules need both
    from trainer.checkpoint_forward import (
        build_and_load,
        checkpoint_model,
        logits_of,
        parse_tokens,
        resolve_checkpoint,
    )
    from trainer.distributed import single_process_state

    path = resolve_checkpoint(ckpt)
    model, yarn = checkpoint_model(path, _recipe_model(recipe))
    ids = parse_tokens(tokens, model.vocab_size)
    with single_process_state():
        gpt = build_and_load(path, model, yarn, max_sequence_length=len(ids))
        logits = logits_of(gpt, torch.tensor([ids]))[0].numpy().astype(np.float32)
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".logits-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, logits)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    typer.echo(
        f"logits {list(logits.shape)} -> {out}; next token after the last: {int(logits[-1].argmax())} "
        f"(logit {float(logits[-1].max()):.4f})"
    )
