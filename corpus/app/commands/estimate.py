"""`coderforge estimate`: project a full build's core-hours, wall time, memory, disk and tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from corpus.app.estimate import EstimateOptions, run_estimate
from corpus.app.estimate_report import print_estimate
from corpus.app.runner import console_for
from corpus.app.sampling import parse_size
from corpus.core.errors import UserError


def _source_bytes(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        name, sep, size = value.partition("=")
        if not sep or not name:
            raise UserError(f"--source-bytes: {value!r} is not SOURCE=SIZE (such as github=30TiB)")
        out[name.strip()] = parse_size(size, f"--source-bytes {name}")
    return out


def estimate_command(
    recipe: Annotated[Path, typer.Argument(help="recipe YAML file")],
    sample_bytes: Annotated[
        str | None, typer.Option(help="bytes of input to build, split between the sources by size (500MB)")
    ] = None,
    sample_fraction: Annotated[
        float | None,
        typer.Option(help="share of each source's inputs to build (default 0.1; 1.0 with --stand-in)"),
    ] = None,
    cores: Annotated[
        int | None,
        typer.Option(help="cores of the cluster the wall time is for (default: the recipe's workers)"),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(help="keep the sample builds and estimate.json here (default: a temporary folder)"),
    ] = None,
    stand_in: Annotated[
        list[str] | None,
        typer.Option(
            help="RECIPE whose inputs and stage settings stand in for RECIPE's own (recipes/demo.yaml for the "
            "full-scale recipe); SOURCE=RECIPE (repeatable) takes one source from another recipe"
        ),
    ] = None,
    repos: Annotated[
        int | None,
        typer.Option(help="repositories the full GitHub source has (a search or list not counted here)"),
    ] = None,
    repo_bytes: Annotated[
        str | None,
        typer.Option(help="size of a repository that cannot be sized here (default: the sized ones' mean)"),
    ] = None,
    source_bytes: Annotated[
        list[str] | None,
        typer.Option(help="SOURCE=SIZE: a source's full size, replacing what is read or assumed"),
    ] = None,
    no_fixed_cost_build: Annotated[
        bool,
        typer.Option("--no-fixed-cost-build", help="skip the build of the smallest inputs (fixed costs 0)"),
    ] = False,
    no_warm_builds: Annotated[
        bool,
        typer.Option(
            "--no-warm-builds",
            help="skip the builds in a warm process (faster; first-use costs then count as rate)",
        ),
    ] = False,
    repeat: Annotated[
        int,
        typer.Option(
            help="build the sample and the smallest inputs this many times each; a stage's time is its "
            "least (load only adds time)"
        ),
    ] = 2,
) -> None:
    """Build a sample of RECIPE, measure it, and print what the full build will cost."""

    opts = EstimateOptions(
        sample_bytes=parse_size(sample_bytes, "--sample-bytes") if sample_bytes is not None else None,
        sample_fraction=sample_fraction,
        cores=cores,
        output=output,
        stand_in=stand_in or [],
        repos=repos,
        repo_bytes=parse_size(repo_bytes, "--repo-bytes") if repo_bytes is not None else None,
        source_bytes=_source_bytes(source_bytes or []),
        fixed_cost_build=not no_fixed_cost_build,
        warm_builds=not no_warm_builds,
        repeat=repeat,
    )
    if repeat < 1:
        raise UserError(f"--repeat: {repeat} is not a number of builds (1 or more)")
    progress = console_for(stderr=True)
    est = run_estimate(recipe, opts, progress)
    out = console_for(stderr=False)
    # ten columns of figures: wider than the 130 a pipe gets, so that no stage name is cut
    print_estimate(est, out if out.is_terminal else Console(file=sys.stdout, width=160))


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_command)
