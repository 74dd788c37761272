"""`coderforge build`: plan a recipe's stages, run them through the one runner, write the manifest.

What the build adds to the runner: the output's claim and lock (`corpus.app.claim`: never a
user's folder, never two builds at once, never a resume over changed inputs or another recipe's
output, so a resumed run always equals an uninterrupted one), the plan printed for `--dry-run`, the
summary table, and `manifest.json` with every output file's document count and sha256.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from classifiers.decontam.report import removal_warning
from classifiers.secrets.report import secrets_warning
from corpus.app.claim import claim_output, output_lock, recipe_fingerprint, refuse_foreign
from corpus.app.fusion import chains
from corpus.app.manifest import write_manifest
from corpus.app.plan import StageBuilder, plan
from corpus.app.recipe import Recipe
from corpus.app.retry import failed_summary, finish_reopening, plan_reopening, reopen, write_failed_lists
from corpus.app.runner import (
    RunSettings,
    StageResult,
    check_ray_address,
    console_for,
    run_stages,
    summary_table,
)
from corpus.core.errors import UserError
from corpus.core.stage import Stage

#: recipe fields that change how a build runs but never what it writes
RUN_ONLY_FIELDS = {
    "executor": {"kind", "workers", "ray_address", "cpus_per_task", "mem_per_cpu_gb", "fuse"},
    # whether a build stops or warns, never what it writes
    "mix": {"allow_shrink", "min_used_share"},
    "decontam": {"warn_share"},
    "secrets": {"warn_share"},
}


def run_settings(recipe: Recipe, verbose: bool = False) -> RunSettings:
    ex = recipe.executor
    workers = RunSettings(workers=ex.workers).workers_for(ex.tasks)  # tasks fix the split, never more at once
    return RunSettings(ex.kind, workers, ex.ray_address, ex.cpus_per_task, ex.mem_per_cpu_gb, verbose)


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
    if ex.fuse:
        for chain in chains(stages):
            if len(chain.indexes) > 1:
                names = " → ".join(stages[i].label for i in chain.indexes)
                console.print(f"fused, one task per rank: {names}")


def build(
    recipe: Recipe,
    *,
    dry_run: bool = False,
    verbose: bool = False,
    console: Console | None = None,
    builders: list[StageBuilder] | None = None,
    rebuild: bool = False,
    retry_failed: bool = False,
) -> list[StageResult]:
    """Run every stage of `recipe`; progress goes to stderr, the plan and summary to stdout.

    `builders` replaces the build's own list (`corpus.app.plan.STAGE_BUILDERS`) when a project
    adds stages of its own; `rebuild` starts over an output whose inputs changed; `retry_failed`
    re-opens the fetch tasks that recorded failed repositories first (`corpus.app.retry`).
    """
    if retry_failed and rebuild:
        raise UserError("--retry-failed and --rebuild: choose one (--rebuild fetches everything again)")
    out = console or console_for(stderr=False)
    stages = plan(recipe, builders)
    if dry_run:
        print_plan(stages, recipe, out)
        if retry_failed:  # what a retry would re-open; nothing is removed
            out.print(escape(plan_reopening(stages).describe()))
        return []
    settings = run_settings(recipe, verbose)
    check_ray_address(settings)  # before anything is written: an unreachable cluster leaves no trace
    refuse_foreign(recipe.output)
    with output_lock(recipe.output):
        claim_output(recipe, recipe_fingerprint(recipe, RUN_ONLY_FIELDS), rebuild)
        finish_reopening(stages)  # a retry killed while re-opening tasks is completed first
        retried = None
        if retry_failed:
            retried = plan_reopening(stages)
            out.print(escape(retried.describe()))
            reopen(stages, retried)
        wall_start = time.perf_counter()
        results = run_stages(stages, settings, console or console_for(stderr=True), fuse=recipe.executor.fuse)
        wall = time.perf_counter() - wall_start
        write_manifest(recipe, stages, results, wall)
        failed = write_failed_lists(stages)
    out.print(summary_table(results, f"{recipe.name}: done in {wall:.1f}s -> {recipe.output}"))
    if retried is not None and retried.repos:
        still = {r.name for _, repos in failed for r in repos}
        got = sum(r.name not in still for r in retried.repos)
        total = len(retried.repos)
        out.print(
            f"retry: {got} of {total} {'repository' if total == 1 else 'repositories'} fetched this time"
        )
    if msg := failed_summary(failed):
        out.print(f"[yellow]{escape(msg)}[/]")
    if recipe.decontam is not None:  # an implausible share removed is said loudly, not only counted
        for r in results:
            if r.stage.name == "decontam" and (
                msg := removal_warning(r.stage.folder, recipe.decontam.warn_share)
            ):
                out.print(f"[bold red]{escape(msg)}[/]")
    for r in results:  # so is a share of documents with credentials that no real corpus has
        if r.stage.name == "secrets" and (
            msg := secrets_warning(r.stage.folder, r.stage.label, recipe.secrets.warn_share)
        ):
            out.print(f"[bold red]{escape(msg)}[/]")
    out.print(
        f"manifest: {recipe.output.rstrip('/')}/manifest.json   inspect: coderforge inspect {recipe.output}"
    )
    return results
