"""`coderforge build`: plan a recipe's stages, run them through the one runner, write the manifest.

What the build adds to the runner: a refusal to mix two different recipes in one output folder (so
a resumed run always equals an uninterrupted one), the plan printed for `--dry-run`, the summary
table, and `manifest.json` with every output file's document count and sha256.
"""

from __future__ import annotations

import hashlib
import json
import time

from rich.console import Console
from rich.table import Table

from corpus.app.manifest import write_manifest
from corpus.app.plan import StageBuilder, plan
from corpus.app.recipe import Recipe
from corpus.app.runner import RunSettings, StageResult, console_for, run_stages, summary_table
from corpus.core.atomic import atomic_write_text, split_url
from corpus.core.errors import UserError
from corpus.core.stage import Stage

#: recipe fields that change how a build runs but never what it writes
RUN_ONLY_FIELDS = {"executor": {"kind", "workers", "ray_address", "cpus_per_task", "mem_per_cpu_gb"}}


def run_settings(recipe: Recipe, verbose: bool = False) -> RunSettings:
    ex = recipe.executor
    workers = RunSettings(workers=ex.workers).workers_for(ex.tasks)  # tasks fix the split, never more at once
    return RunSettings(ex.kind, workers, ex.ray_address, ex.cpus_per_task, ex.mem_per_cpu_gb, verbose)


def recipe_fingerprint(recipe: Recipe) -> str:
    """Hash of everything in the recipe that decides the output bytes."""
    data = recipe.model_dump(mode="json", exclude={"output", "description"})
    for section, keys in RUN_ONLY_FIELDS.items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def claim_output(recipe: Recipe) -> None:
    """Record which recipe builds this folder; refuse a different one (resume must equal a clean run)."""
    fs, root = split_url(recipe.output)
    marker = f"{recipe.output.rstrip('/')}/.coderforge/build.json"
    fingerprint = recipe_fingerprint(recipe)
    _, marker_path = split_url(marker)
    if fs.exists(marker_path):
        with fs.open(marker_path, "r") as f:
            previous = json.load(f)
        if previous.get("fingerprint") != fingerprint:
            raise UserError(
                f"output: {recipe.output} holds a build of a different recipe "
                f"({previous.get('recipe', '?')}); choose another output or delete it"
            )
        return
    fs.makedirs(root, exist_ok=True)
    atomic_write_text(marker, json.dumps({"recipe": recipe.name, "fingerprint": fingerprint}, indent=2))


def print_plan(stages: list[Stage], recipe: Recipe, console: Console) -> None:
    table = Table(title=f"plan: {recipe.name} -> {recipe.output}", title_justify="left")
    for col in ("#", "stage", "tasks", "steps", "what"):
        table.add_column(col)
    for i, stage in enumerate(stages, 1):
        steps = " → ".join(type(s).__name__ for s in stage.steps)
        table.add_row(str(i), stage.label, str(stage.tasks), steps, stage.description)
    console.print(table)
    ex = recipe.executor
    where = f"ray ({ex.ray_address or 'local cluster'})" if ex.kind == "ray" else "local"
    console.print(f"executor: {where}, {ex.tasks} tasks per stage, {run_settings(recipe).workers} at once")


def build(
    recipe: Recipe,
    *,
    dry_run: bool = False,
    verbose: bool = False,
    console: Console | None = None,
    builders: list[StageBuilder] | None = None,
) -> list[StageResult]:
    """Run every stage of `recipe`; progress goes to stderr, the plan and summary to stdout.

    `builders` replaces the build's own list (`corpus.app.plan.STAGE_BUILDERS`) when a project
    adds stages of its own.
    """
    out = console or console_for(stderr=False)
    stages = plan(recipe, builders)
    if dry_run:
        print_plan(stages, recipe, out)
        return []
    claim_output(recipe)
    wall_start = time.perf_counter()
    results = run_stages(stages, run_settings(recipe, verbose), console or console_for(stderr=True))
    wall = time.perf_counter() - wall_start
    write_manifest(recipe, stages, results, wall)
    out.print(summary_table(results, f"{recipe.name}: done in {wall:.1f}s -> {recipe.output}"))
    out.print(
        f"manifest: {recipe.output.rstrip('/')}/manifest.json   inspect: coderforge inspect {recipe.output}"
    )
    return results
