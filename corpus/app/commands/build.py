"""Corpus commands: `coderforge build` and `coderforge inspect`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpus.app.build import build
from corpus.app.inspect import inspect_path
from corpus.app.recipe import load_recipe


def build_command(
    recipe: Annotated[Path, typer.Argument(help="recipe YAML file")],
    executor: Annotated[str | None, typer.Option(help="local or ray (overrides the recipe)")] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster address (host:port, ray://..., auto); implies --executor ray"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="tasks running at once (never changes the output)")
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="output folder or fsspec URL (overrides the recipe)")
    ] = None,
    fuse: Annotated[
        bool | None,
        typer.Option(
            "--fuse/--no-fuse",
            help="run each chain of a source's document stages as one task per rank (never changes the output)",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan, write nothing")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show datatrove's task logs")] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="inputs changed since the output was built: build it again")
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="fetch again only the repositories that failed (and re-run the stages after them)",
        ),
    ] = False,
) -> None:
    """Build a corpus from RECIPE; re-running the same command resumes an interrupted build."""

    if ray_address and executor in (None, "ray"):
        executor = "ray"
    overrides = {
        "executor.kind": executor,
        "executor.ray_address": ray_address,
        "executor.workers": workers,
        "executor.fuse": fuse,
        "output": output,
    }
    build(
        load_recipe(recipe, overrides),
        dry_run=dry_run,
        verbose=verbose,
        rebuild=rebuild,
        retry_failed=retry_failed,
    )


def inspect_command(
    path: Annotated[str, typer.Argument(help="a build output, a source folder or a stage folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print machine-readable JSON")] = False,
) -> None:
    """Summarise documents, bytes, sources, languages and drops (by stage and reason) under PATH."""

    inspect_path(path, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.command("build")(build_command)
    app.command("inspect")(inspect_command)
