"""`coderforge train`: one recipe, one process, N local ranks (torchrun) or a Ray cluster."""

from __future__ import annotations

import importlib.util
import json
from typing import Annotated, Any

import typer
from rich.console import Console

from corpus.app.memory_report import print_plan, refuse_if_over
from corpus.core.errors import UserError
from trainer.init_from import describe as describe_init_from
from trainer.init_from import prepare as prepare_init_from
from trainer.memory_plan import parse_memory_size, plan_memory, plan_to_json
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
    gpu_memory: Annotated[
        str | None,
        typer.Option(
            "--gpu-memory",
            help="with --dry-run: refuse a layout whose ranks need more than this (e.g. 80GB) and "
            "suggest one that fits",
        ),
    ] = None,
    gpus: Annotated[
        int | None, typer.Option("--gpus", help="with --dry-run: plan memory for this many GPUs")
    ] = None,
    init_from: Annotated[
        str | None,
        typer.Option(
            "--init-from",
            help="start from a Hugging Face DeepSeek-V2 folder or a checkpoint (when the run has none of its own)",
        ),
    ] = None,
    init_state: Annotated[
        str,
        typer.Option(
            "--init-state",
            help="with --init-from: 'weights' (fresh optimizer and schedule) or 'all' (a trainer checkpoint whole)",
        ),
    ] = "weights",
) -> None:
    """Train a DeepSeek-V2 MoE on megatron-core from a training recipe."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("megatron.core") is None:
        raise UserError("coderforge train needs torch and megatron-core: pip install 'coderforge[train]'")
    ov = list(overrides or [])
    parsed = load_recipe(recipe, dict(parse_override(o) for o in ov)).stage(stage)
    if dry_run:
        _describe(parsed, _plan_memory(parsed, recipe, gpu_memory, gpus))
        if init_from is not None:
            typer.echo(describe_init_from(init_from, init_state))
        return
    if gpu_memory is not None or gpus is not None:
        raise UserError("--gpu-memory and --gpus plan memory: use them with --dry-run")
    # torch and megatron-core are the `train` extra: the rest of the CLI (and --dry-run) runs without them
    from trainer.launch import LaunchRequest, preflight, run_in_process, run_ray, run_torchrun

    preflight(parsed)
    req = LaunchRequest(recipe, stage, ov, resume, steps, result)
    if init_from is not None:
        prepared = prepare_init_from(init_from, init_state, parsed, log=typer.echo)
        req.init_from, req.init_state = prepared.path, prepared.state
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


def _plan_memory(
    recipe: TrainRecipe, source: str, gpu_memory: str | None, gpus: int | None
) -> dict[str, Any] | None:
    """Print the per-rank memory table (stderr); refuse a layout over `--gpu-memory` in one line."""
    capacity = parse_memory_size(gpu_memory) if gpu_memory is not None else None
    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=150)  # a log file gets the whole table, not wrapped cells
    if recipe.model.vocab_size is None:
        from trainer.data import resolve_blend  # reads the corpus manifest; loaded only when needed

        try:
            vocab = resolve_blend(recipe.data).vocab_size
        except UserError as e:
            vocab = None
            reason = str(e)
        else:
            reason = "the data manifest gives no vocab_size"
        if vocab is None:
            if capacity is not None:
                raise UserError(f"{source}: model.vocab_size is null and {reason}; set model.vocab_size")
            console.print(f"memory plan skipped: model.vocab_size is null and {reason}")
            return None
        recipe = recipe.model_copy(deep=True)
        recipe.model.vocab_size = vocab
    plan = plan_memory(recipe, gpus=gpus)
    print_plan(plan, capacity, console)
    if capacity is not None:
        refuse_if_over(plan, recipe, capacity, gpus, source)
    return plan_to_json(plan)


def _layer_path() -> str:
    """Which layer implementation a launch on this machine takes (`trainer.model.builder`): found
    without importing TransformerEngine, so --dry-run stays quick."""
    if importlib.util.find_spec("transformer_engine") is not None:
        return (
            "TransformerEngine layers on CUDA (TE attention and linear layers; parallel.tensor > 1 "
            "allowed); megatron-core's local layers with SDPA attention on the CPU"
        )
    return (
        "megatron-core's local layers with SDPA attention (TransformerEngine not installed: "
        "parallel.tensor > 1 needs it or Apex)"
    )


def _describe(recipe: TrainRecipe, memory: dict[str, Any] | None = None) -> None:
    c = shape_counts(recipe.model)
    info = {
        "name": recipe.name,
        "parameters_total": c.total,
        "parameters_active": c.active,
        "parameters_active_without_output_head": c.active - c.output_head,
        "train_flops_per_token": train_flops_per_token(recipe.model, recipe.data.seq_length),
        "tokens_per_step": recipe.batch.global_batch_size * recipe.data.seq_length,
        "steps": recipe.training.steps,
        "layers": _layer_path(),
    }
    if memory is not None:
        info["memory"] = memory
    typer.echo(json.dumps(info, indent=1))
