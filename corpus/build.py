"""Run a recipe: its stages, in order, on datatrove's local or Ray executor.

The runner adds what datatrove leaves to its users: a refusal to mix two different recipes in one
output folder (so a resumed run always equals an uninterrupted one), a live progress display, a
summary table, and `manifest.json` with every output file's document count and sha256.
Scheduling stays datatrove's and Ray's: stages run one after another, each through its executor,
and an executor skips the ranks that already have a completion marker.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import sys
import threading
import time
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.utils.stats import PipelineStats
from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from corpus.atomic import atomic_write_text, split_url
from corpus.errors import UserError
from corpus.manifest import write_manifest
from corpus.recipe import Recipe
from corpus.stages import Stage, plan
from corpus.stats import StageStats, read_stage_stats

#: recipe fields that change how a build runs but never what it writes
RUN_ONLY_FIELDS = {"executor": {"kind", "workers", "ray_address", "cpus_per_task", "mem_per_cpu_gb"}}


def _cache_loguru_lib_dirs() -> None:
    """Compute loguru's library folders once per process instead of on every `logger.add`.

    loguru asks sysconfig for every install scheme's paths each time a sink is added (~4 ms);
    datatrove adds and removes sinks four times per task, which made logging set-up a tenth of
    a small stage. The folders only shorten paths in formatted tracebacks. Skipped quietly if a
    loguru release moves the helper.
    """
    try:
        from loguru._better_exceptions import ExceptionFormatter
    except ImportError:
        return
    helper = ExceptionFormatter.__dict__.get("_get_lib_dirs")
    if isinstance(helper, staticmethod) and not hasattr(helper.__func__, "cache_info"):
        ExceptionFormatter._get_lib_dirs = staticmethod(functools.cache(helper.__func__))


_cache_loguru_lib_dirs()


def quiet_logs(verbose: bool = False) -> None:
    """datatrove logs every task at INFO on stderr; the CLI shows progress bars instead."""
    logger.remove()
    logger.add(sys.stderr, level="INFO" if verbose else "WARNING")


class _QuietTasks:
    """Mixin: task logs go to the stage's logs/ folder only (datatrove shows rank>0 at ERROR)."""

    verbose = False

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):  # type: ignore[override]
        try:
            return super()._run_for_rank(rank, local_rank if self.verbose else local_rank + 1, node_rank)
        finally:
            quiet_logs(self.verbose)


class LocalExecutor(_QuietTasks, LocalPipelineExecutor):
    def run(self):
        """With one worker, run the ranks in this process as datatrove does, minus its Manager.

        datatrove starts a `multiprocess.Manager` (a forked server process) even when it runs the
        ranks in a plain loop; for a small stage that start and shutdown cost more wall time than
        the stage's work. Completion markers, stats and skipping finished ranks are unchanged.
        """
        if self.workers != 1 or self.depends:
            return super().run()
        self._launched = True
        ranks = self.get_incomplete_ranks(
            range(self.local_rank_offset, self.local_rank_offset + self.local_tasks)
        )
        if not ranks:
            logger.info(f"Not doing anything as all {self.local_tasks} tasks have already been completed.")
            return None
        self.save_executor_as_json()
        pipeline = self.pipeline
        stats = []
        try:
            for rank in ranks:
                self.pipeline = deepcopy(pipeline)
                stats.append(self._run_for_rank(rank, 0))
        finally:
            self.pipeline = pipeline
        total = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as statsfile:
            total.save_to_disk(statsfile)
        logger.success(total.get_repr(f"All {self.local_tasks} tasks"))
        return total


def _ray_executor_class():
    from datatrove.executor.ray import RayPipelineExecutor

    class RayExecutor(_QuietTasks, RayPipelineExecutor):
        pass

    return RayExecutor


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


def effective_workers(recipe: Recipe) -> int:
    workers = recipe.executor.workers
    if workers == -1:
        workers = os.cpu_count() or 1
    return max(1, min(workers, recipe.executor.tasks))


def stage_executor(
    stage: Stage,
    kind: str = "local",
    workers: int = -1,
    verbose: bool = False,
    skip_completed: bool = True,
    cpus_per_task: int = 1,
    mem_per_cpu_gb: float = 2.0,
):
    """The quiet datatrove executor (local or Ray) that runs `stage` in its folder."""
    common = dict(
        pipeline=stage.steps,
        tasks=stage.tasks,
        workers=stage.tasks if workers == -1 else max(1, min(workers, stage.tasks)),
        logging_dir=stage.folder,
        skip_completed=skip_completed,
    )
    if kind == "ray":
        executor = _ray_executor_class()(**common, cpus_per_task=cpus_per_task, mem_per_cpu_gb=mem_per_cpu_gb)
    else:
        executor = LocalExecutor(**common, start_method="forkserver")
    executor.verbose = verbose
    return executor


def make_executor(stage: Stage, recipe: Recipe, verbose: bool):
    ex = recipe.executor
    return stage_executor(
        stage, ex.kind, effective_workers(recipe), verbose, True, ex.cpus_per_task, ex.mem_per_cpu_gb
    )


def _probe_ray(address: str) -> None:
    """Fail in seconds on an address nobody listens at (ray.init would retry for minutes)."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"executor.ray_address: {address!r} is not host:port, ray://host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise UserError(
            f"executor.ray_address: cannot connect to Ray at {address}: {e.strerror or e}"
        ) from None


def start_ray(recipe: Recipe) -> bool:
    """Connect to the recipe's Ray cluster, or start a local one; True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    address = recipe.executor.ray_address
    if address and address != "auto":
        _probe_ray(address)
    kwargs: dict[str, Any] = dict(log_to_driver=False, ignore_reinit_error=True, logging_level="warning")
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=effective_workers(recipe), include_dashboard=False, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"executor.ray_address: cannot connect to Ray at {address}: {e}") from None
    return True


def completed_tasks(stage: Stage) -> int:
    fs, p = split_url(f"{stage.folder}/completions")
    try:
        return len(fs.ls(p, detail=False)) if fs.exists(p) else 0
    except FileNotFoundError:
        return 0


@dataclass
class StageResult:
    stage: Stage
    stats: StageStats
    seconds: float
    ran: bool
    idle: bool = False


def stage_is_idle(stage: Stage) -> bool:
    """Whether an earlier stage made this one a no-op, so that no executor need start for it.

    A step says so through an `idle()` method: a dedup component round after the components have
    settled, a recall iteration after every target stopped. Such stages are planned up front
    (a build's stage list is fixed before it runs) but would otherwise launch every task of every
    remaining round only for each to find nothing to do.
    """
    return any(callable(getattr(step, "idle", None)) and step.idle() for step in stage.steps[:1])


def _watch(progress: Progress, task_id: int, stage: Stage, stop: threading.Event) -> None:
    while not stop.wait(0.3):
        progress.update(task_id, completed=completed_tasks(stage))


def run_stage(stage: Stage, recipe: Recipe, progress: Progress, verbose: bool) -> StageResult:
    done_before = completed_tasks(stage)
    task_id = progress.add_task(stage.label, total=stage.tasks, completed=done_before)
    start = time.perf_counter()
    ran = done_before < stage.tasks
    if ran and stage_is_idle(stage):
        progress.update(task_id, description=f"{stage.label} (nothing to do)", completed=stage.tasks)
        return StageResult(stage, StageStats(), 0.0, False, idle=True)
    if ran:
        remove_stale_temporaries(stage)
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(progress, task_id, stage, stop), daemon=True)
        watcher.start()
        try:
            make_executor(stage, recipe, verbose).run()
        finally:
            stop.set()
            watcher.join()
            quiet_logs(verbose)
        missing = stage.tasks - completed_tasks(stage)
        if missing:
            raise RuntimeError(
                f"stage {stage.label}: {missing} of {stage.tasks} tasks failed; see {stage.folder}/logs/"
            )
    progress.update(task_id, completed=stage.tasks)
    return StageResult(stage, read_stage_stats(stage.folder), time.perf_counter() - start, ran)


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
    console.print(f"executor: {where}, {ex.tasks} tasks per stage, {effective_workers(recipe)} at once")


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}P"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def print_summary(results: list[StageResult], wall: float, console: Console, recipe: Recipe) -> None:
    table = Table(title=f"{recipe.name}: done in {wall:.1f}s -> {recipe.output}", title_justify="left")
    for col in ("stage", "docs in", "docs out", "dropped", "bytes in", "bytes out", "tokens", "time"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in results:
        s = r.stats
        table.add_row(
            r.stage.label,
            _human(s.documents_in),
            _human(s.documents_out),
            _human(s.dropped),
            _bytes(s.bytes_in),
            _bytes(s.bytes_out),
            _human(s.tokens) if s.tokens else "-",
            f"{r.seconds:.1f}s" if r.ran else ("nothing to do" if r.idle else "done before"),
        )
    console.print(table)
    console.print(
        f"manifest: {recipe.output.rstrip('/')}/manifest.json   inspect: coderforge inspect {recipe.output}"
    )


def _console(stderr: bool) -> Console:
    """Rich guesses 80 columns when output is not a terminal; tables need more."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=130)


def remove_stale_temporaries(stage: Stage) -> None:
    """Temporary files of tasks killed mid-write; their tasks have no completion marker and rerun."""
    fs, root = split_url(stage.folder)
    if fs.exists(root):
        for path in fs.glob(f"{root}/**/.*.tmp-*"):
            fs.rm(path)


def build(
    recipe: Recipe, *, dry_run: bool = False, verbose: bool = False, console: Console | None = None
) -> list[StageResult]:
    """Run every stage of `recipe`; progress goes to stderr, the plan and summary to stdout."""
    out = console or _console(stderr=False)
    stages = plan(recipe)
    if dry_run:
        print_plan(stages, recipe, out)
        return []
    console = console or _console(stderr=True)
    quiet_logs(verbose)
    claim_output(recipe)
    started_ray = start_ray(recipe) if recipe.executor.kind == "ray" else False
    wall_start = time.perf_counter()
    results: list[StageResult] = []
    try:
        with Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tasks"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            for stage in stages:
                results.append(run_stage(stage, recipe, progress, verbose))
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    wall = time.perf_counter() - wall_start
    write_manifest(recipe, stages, results, wall)
    print_summary(results, wall, out, recipe)
    return results
