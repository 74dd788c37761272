"""`coderforge train`: one recipe, one process, N local ranks (torchrun) or a Ray cluster."""

from __future__ import annotations

import importlib.util
import json
from typing import Annotated

import typer

from corpus.core.errors import UserError
from trainer.model.shapes import shape_counts, train_flops_per_token
from trainer.recipe import TrainRecipe, load_recipe, parse_override


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def train_command(
    recipe: Annotated[str, typer.Argument(help="training recipe YAML (e.g. recipes/train-tiny.yaml)")],
    stage: Annotated[str, typer.Option(help="'pretrain' or a long_context stage name")] = "pretrain",
    nproc: Annotated[int, typer.Option("--nproc", help="ranks: >1 runs torchrun on this node")] = 1,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", help="Ray cluster (host:port, ray://..., auto, or local): one rank per actor"
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="override a recipe key, e.g. --set training.steps=100")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="stop after this many more steps (resumable)")] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="continue from the latest checkpoint")
    ] = True,
    result: Annotated[str | None, typer.Option(help="write losses and metrics as JSON here")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate the recipe and print sizes and FLOPs; train nothing")
    ] = False,
) -> None:
    """Train a DeepSeek-V2 MoE on megatron-core from a training recipe."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("megatron.core") is None:
        raise UserError("coderforge train needs torch and megatron-core: pip install 'coderforge[train]'")
    ov = list(overrides or [])
    parsed = load_recipe(recipe, dict(parse_override(o) for o in ov)).stage(stage)
    if dry_run:
        _describe(parsed)
        return
    # torch and megatron-core are the `train` extra: the rest of the CLI (and --dry-run) runs without them
    from trainer.launch import LaunchRequest, preflight, run_in_process, run_ray, run_torchrun

    preflight(parsed)
    req = LaunchRequest(recipe, stage, ov, resume, steps, result)
    if ray_address:
        out = run_ray(req, ray_address, nproc)
    elif nproc > 1:
        out = run_torchrun(req, nproc)
    else:
        out = run_in_process(req)
    losses = out.get("losses") or []
    if losses:
        typer.echo(
            f"{parsed.name}/{stage}: steps {out['start_step']}->{out['final_step']}, "
            f"loss {losses[0]:.4f} -> {losses[-1]:.4f}"
            + (f", checkpoint {out['checkpoint']}" if out.get("checkpoint") else "")
        )
    else:
        typer.echo(f"{parsed.name}/{stage}: nothing to do (already at step {out['final_step']})")


def _describe(recipe: TrainRecipe) -> None:
    c = shape_counts(recipe.model)
    info = {
        "name": recipe.name,
        "parameters_total": c.total,
        "parameters_active": c.active,
        "parameters_active_without_output_head": c.active - c.output_head,
        "train_flops_per_token": train_flops_per_token(recipe.model, recipe.data.seq_length),
        "tokens_per_step": recipe.batch.global_batch_size * recipe.data.seq_length,
        "steps": recipe.training.steps,
    }
    typer.echo(json.dumps(info, indent=1))
