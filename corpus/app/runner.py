"""The one stage runner: every list of stages, a whole build or a standalone command's, runs here.

It adds to datatrove's executors what they leave to their users: a stage that says it has nothing
to do is skipped without starting its tasks, one that cannot start yet stops the run with its
reason, a live progress bar per stage, stale temporaries of killed tasks cleared before a rerun, a
stage with failed tasks stops the run with one line, and a Ray instance started for the run is
shut down after it. Scheduling stays datatrove's and Ray's: stages run one after another, and an
executor skips the ranks that already have a completion marker, which is what makes a re-run resume.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import re
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, Literal

import multiprocess
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.utils.stats import PipelineStats
from loguru import logger
from loguru._better_exceptions import ExceptionFormatter
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from corpus.app.fusion import Chain, FusedStage, MemberClock, chains
from corpus.core.atomic import split_url
from corpus.core.digest import record_task_digests
from corpus.core.errors import BuildError, UserError
from corpus.core.stage import Stage
from corpus.core.stats import StageStats, read_stage_stats


def _cache_loguru_lib_dirs() -> None:
    """Compute loguru's library folders once per process instead of on every `logger.add`.

    loguru asks sysconfig for every install scheme's paths each time a sink is added (~4 ms);
    datatrove adds and removes sinks four times per task, which made logging set-up a tenth of
    a small stage. The folders only shorten paths in formatted tracebacks. Skipped quietly if a
    loguru release moves the helper.
    """
    helper = ExceptionFormatter.__dict__.get("_get_lib_dirs")
    if isinstance(helper, staticmethod) and not hasattr(helper.__func__, "cache_info"):
        ExceptionFormatter._get_lib_dirs = staticmethod(functools.cache(helper.__func__))


_cache_loguru_lib_dirs()


def quiet_logs(verbose: bool = False) -> None:
    """datatrove logs every task at INFO on stderr; the runner shows progress bars instead."""
    logger.remove()
    logger.add(sys.stderr, level="INFO" if verbose else "WARNING")


@dataclass(frozen=True)
class RunSettings:
    """How stages run; none of it changes what they write."""

    kind: Literal["local", "ray"] = "local"
    #: tasks running at once; -1 = one per CPU core (never more than a stage's tasks)
    workers: int = -1
    ray_address: str | None = None
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0
    verbose: bool = False

    def workers_for(self, tasks: int) -> int:
        workers = self.workers if self.workers != -1 else (os.cpu_count() or 1)
        return max(1, min(workers, tasks))


#: set in the environment of a build's processes: the pid of the process that runs the stages
BUILD_PID = "CODERFORGE_BUILD_PID"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere).

    A build's helper processes (datatrove's task pool and its manager, the forkserver, the
    resource tracker) otherwise outlive a main process killed with SIGKILL, and a task still
    running would write into the output while the re-run resumes it.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@functools.cache
def _guard_helper_processes() -> None:
    """Every process this one forks from now on dies with it (registered once per process)."""
    if sys.platform.startswith("linux"):
        os.register_at_fork(after_in_child=_die_with_parent)


def _in_task_process() -> bool:
    return os.environ.get(BUILD_PID) not in (None, str(os.getpid()))


class _QuietTasks:
    """Mixin: task logs go to the stage's logs/ folder only (datatrove shows rank>0 at ERROR)."""

    verbose = False
    #: the stage's folder: each task records the digests of its files there before it completes
    stage_folder: str | None = None
    #: a fused chain's stages (`corpus.app.fusion`): each one's folder and the [start, end) of its
    #: steps in the pipeline; a task writes each one's stats, digests and completion marker
    members: list[tuple[str, int, int]] | None = None

    def mark_rank_as_completed(self, rank: int) -> None:  # type: ignore[override]
        if self.stage_folder is not None:
            record_task_digests(self.stage_folder, rank)
        if self.members:
            self._complete_members(rank)
        super().mark_rank_as_completed(rank)

    def _complete_members(self, rank: int) -> None:
        """What a task of each stage of the chain leaves when it runs alone, stage by stage; the
        chain's own marker comes last, so a task killed before it runs again, whole."""
        clock = next((step.clock for step in self.pipeline if isinstance(step, MemberClock)), None)
        for i, (folder, start, end) in enumerate(self.members or ()):
            steps = self.pipeline[start:end]
            if clock is not None:
                steps[0].stat_update("fused_seconds", value=clock.seconds[i])
            fs, root = split_url(folder)
            fs.makedirs(f"{root}/stats", exist_ok=True)
            with fs.open(f"{root}/stats/{rank:05d}.json", "w") as f:
                PipelineStats(steps).save_to_disk(f)
            record_task_digests(folder, rank)
            fs.makedirs(f"{root}/completions", exist_ok=True)
            with fs.open(f"{root}/completions/{rank:05d}", "w") as f:
                f.write("")

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):  # type: ignore[override]
        if _in_task_process():
            # Ctrl-C reaches the whole process group: the main process stops the build and says
            # so once; a worker's own KeyboardInterrupt would only print tracebacks over it
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool's terminate() must end it
            _die_with_parent()  # a forkserver's child: dies with the forkserver, which dies with the build
            gc.freeze()  # the modules it was forked with, as in the build's own process
        if self.verbose:
            try:
                return super()._run_for_rank(rank, local_rank, node_rank)
            finally:
                quiet_logs(self.verbose)
        # datatrove also copies a failing task's traceback to stderr; the task log keeps it and the
        # runner reports the failure in one line, so the copy goes nowhere
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            try:
                return super()._run_for_rank(rank, local_rank + 1, node_rank)
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


@functools.cache
def _ray_executor_class() -> type:
    from datatrove.executor.ray import RayPipelineExecutor  # optional extra; imports ray (~0.5 s)

    class RayExecutor(_QuietTasks, RayPipelineExecutor):
        def run(self):
            """datatrove resubmits the tasks of an actor that died, with its node or alone; the
            dead task's half-written temporaries stay beside the finished files of the task that
            replaced it, so once every task has ended they are removed, as a re-run would."""
            result = super().run()
            if self.stage_folder is not None:  # cleared of dead tasks' temporaries
                _remove_temporaries(self.stage_folder)
            for folder, _, _ in self.members or ():
                _remove_temporaries(folder)
            return result

    return RayExecutor


def stage_executor(stage: Stage, settings: RunSettings) -> Any:
    """The quiet datatrove executor (local or Ray) that runs `stage` in its folder."""
    common: dict[str, Any] = dict(
        pipeline=stage.steps,
        tasks=stage.tasks,
        workers=settings.workers_for(stage.tasks),
        logging_dir=stage.folder,
        skip_completed=True,
    )
    executor: Any
    if settings.kind == "ray":
        executor = _ray_executor_class()(
            **common, cpus_per_task=settings.cpus_per_task, mem_per_cpu_gb=settings.mem_per_cpu_gb
        )
    else:
        executor = LocalExecutor(**common, start_method="forkserver")
    if isinstance(stage, FusedStage):
        executor.members = [(m.folder, start, end) for m, start, end in stage.spans]
    else:
        executor.stage_folder = stage.folder
    executor.verbose = settings.verbose
    return executor


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


def check_ray_address(settings: RunSettings) -> None:
    """An unreachable Ray address fails here, in seconds, before a build writes anything."""
    if settings.kind == "ray" and settings.ray_address and settings.ray_address != "auto":
        _probe_ray(settings.ray_address)


@contextmanager
def ray_session(settings: RunSettings, cpus: int) -> Iterator[None]:
    """Connect to the settings' Ray cluster, or start a local one with `cpus` CPUs, for the block;
    a Ray instance this block started is shut down when it ends, one it found is left running."""
    if settings.kind != "ray":
        yield
        return
    import ray  # optional extra (~0.5 s to import): only runs on Ray pay for it

    if ray.is_initialized():
        yield
        return
    address = settings.ray_address
    check_ray_address(settings)
    kwargs: dict[str, Any] = dict(log_to_driver=False, ignore_reinit_error=True, logging_level="warning")
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=cpus, include_dashboard=False, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"executor.ray_address: cannot connect to Ray at {address}: {e}") from None
    try:
        yield
    finally:
        ray.shutdown()


def completed_tasks(stage: Stage) -> int:
    return len(_ranks_done(stage.folder))


def remove_stale_temporaries(stage: Stage) -> None:
    """Temporary files of tasks killed mid-write; their tasks have no completion marker and rerun."""
    _remove_temporaries(stage.folder)


def _remove_temporaries(folder: str) -> None:
    fs, root = split_url(folder)
    if fs.exists(root):
        for path in sorted(fs.glob(f"{root}/**/.*.tmp-*"), key=len):  # a folder before what it holds
            if fs.exists(path):
                fs.rm(path, recursive=True)


_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b.*$", re.MULTILINE)


def task_error(stage: Stage) -> str | None:
    """The last exception line of the first task log that has one: what a user needs to see first."""
    fs, logs = split_url(f"{stage.folder}/logs")
    try:
        names = sorted(fs.glob(f"{logs}/task_*.log"))
    except FileNotFoundError:
        return None
    for name in names:
        with fs.open(name, "r", errors="replace") as f:
            found = _ERROR_LINE.findall(f.read()[-200_000:])
        if found:
            return found[-1].strip()[:300]
    return None


@dataclass
class StageResult:
    stage: Stage
    stats: StageStats
    seconds: float
    ran: bool
    idle: bool = False
    #: CPU seconds of this process and the worker processes the stage started and ended (local
    #: executor only: Ray's workers are not our children)
    cpu_seconds: float | None = None


def own_cpu_seconds() -> float:
    """CPU seconds of this process (its threads included) and of its children that have ended.

    Why: a stage of a tenth of a second is two or three samples of a process-tree sampler, whose
    CPU the neighbouring stages share; `coderforge estimate` projects such stages' growth tenfold.
    """
    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


def _watch(progress: Progress, task_id: Any, stage: Stage, stop: threading.Event) -> None:
    while not stop.wait(0.3):
        progress.update(task_id, completed=completed_tasks(stage))


def run_stage(stage: Stage, settings: RunSettings, progress: Progress) -> StageResult:
    done_before = completed_tasks(stage)
    task_id = progress.add_task(stage.label, total=stage.tasks, completed=done_before)
    start, cpu_start = time.perf_counter(), own_cpu_seconds()
    ran = done_before < stage.tasks
    if ran and stage.idle():
        progress.update(task_id, description=f"{stage.label} (nothing to do)", completed=stage.tasks)
        return StageResult(stage, StageStats(), 0.0, False, idle=True)
    if ran:
        reason = stage.blocked()
        if reason is not None:
            raise BuildError(f"stage {stage.label}: {reason}")
        remove_stale_temporaries(stage)
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(progress, task_id, stage, stop), daemon=True)
        watcher.start()
        try:
            stage_executor(stage, settings).run()
        except (UserError, BuildError, KeyboardInterrupt):
            raise  # already one line for the user
        except OSError as e:  # a full disk, a permission: the OS's words, and where
            where = e.filename or stage.folder
            raise BuildError(f"stage {stage.label}: {e.strerror or e}: {where}") from e
        except Exception as e:
            raise BuildError(
                f"stage {stage.label}: a task failed: {type(e).__name__}: {str(e)[:300]}; see {stage.folder}/logs/"
            ) from e
        finally:
            stop.set()
            watcher.join()
            quiet_logs(settings.verbose)
        missing = stage.tasks - completed_tasks(stage)
        if missing:
            error = task_error(stage)
            raise BuildError(
                f"stage {stage.label}: {missing} of {stage.tasks} tasks failed"
                + (f" ({error})" if error else "")
                + f"; see {stage.folder}/logs/"
            )
    progress.update(task_id, completed=stage.tasks)
    if ran:
        settle_heap()  # what the stage keeps (models, indexes, caches) out of later stages' passes
    cpu = own_cpu_seconds() - cpu_start if settings.kind == "local" else None
    return StageResult(
        stage, read_stage_stats(stage.folder), time.perf_counter() - start, ran, cpu_seconds=cpu
    )


def _ranks_done(folder: str) -> set[int]:
    fs, root = split_url(f"{folder}/completions")
    try:
        names = fs.ls(root, detail=False) if fs.exists(root) else []
    except FileNotFoundError:
        return set()
    return {
        int(n.rstrip("/").rsplit("/", 1)[-1]) for n in names if n.rstrip("/").rsplit("/", 1)[-1].isdigit()
    }


def align_chain_completions(fused: FusedStage) -> None:
    """A chain's rank is done only where every stage of it has that rank done: markers of ranks
    re-opened or cleared in a stage since (a retry, a removed folder) go, ranks every stage
    finished (also in a build that ran them apart) are marked."""
    done = set.intersection(*(_ranks_done(m.folder) for m in fused.members))
    have = _ranks_done(fused.folder)
    fs, root = split_url(f"{fused.folder}/completions")
    for rank in sorted(have - done):
        fs.rm(f"{root}/{rank:05d}")
    if done - have:
        fs.makedirs(root, exist_ok=True)
    for rank in sorted(done - have):
        with fs.open(f"{root}/{rank:05d}", "w") as f:
            f.write("")


def run_chain(fused: FusedStage, settings: RunSettings, progress: Progress) -> list[StageResult]:
    """Run a fused chain; one result per stage, the chain's time split by each stage's measured
    share (`corpus.app.fusion.Clock`). A stage with nothing to do or not yet able to start runs
    the chain apart, stage by stage, as without fusing."""
    members = fused.members
    if any(m.idle() or m.blocked() is not None for m in members):
        return [run_stage(m, settings, progress) for m in members]
    align_chain_completions(fused)
    for member in members:
        remove_stale_temporaries(member)
    whole = run_stage(fused, settings, progress)
    stats = [read_stage_stats(m.folder) for m in members]
    spent = [st.counters.get("fused_seconds", 0.0) for st in stats]
    shares = [s / sum(spent) for s in spent] if sum(spent) > 0 else [1 / len(members)] * len(members)
    return [
        StageResult(
            member,
            st,
            whole.seconds * share,
            whole.ran,
            cpu_seconds=None if whole.cpu_seconds is None else whole.cpu_seconds * share,
        )
        for member, st, share in zip(members, stats, shares, strict=True)
    ]


def console_for(stderr: bool) -> Console:
    """Rich guesses 80 columns when output is not a terminal; tables need more. The stream is bound
    now, so that a task's stderr redirection never swallows the progress display."""
    stream = sys.stderr if stderr else sys.stdout
    probe = Console(file=stream)
    return probe if probe.is_terminal else Console(file=stream, width=130)


def settle_heap() -> None:
    """Collect, then leave every object alive now out of the cyclic garbage collector's full
    passes: at the start of a build (modules, classes, tables: a few hundred thousand objects)
    and after each stage (what it keeps for later: models, rule sets, indexes, caches).

    Each full pass walks every tracked object; with datatrove, pyarrow, pandas and the models
    loaded that was 80-130 ms a pass, five times in a 33 MiB build, each landing in whichever
    stage's allocations set it off: 0.4 s of a 10 s build, and a large part of the differences
    between two runs of a short stage, which `coderforge estimate` multiplies by the full input's
    size over its sample's. The collector's time is about the same; it now falls at fixed points,
    and the passes inside a later stage walk only what that stage made. Nothing collectable is
    frozen (the collection comes first), and a frozen object still goes with its last reference;
    only a reference cycle made of objects frozen here lives as long as the process."""
    gc.collect()
    gc.freeze()


def freeze_imported_objects() -> None:
    """`settle_heap` at the start of a build, with pandas imported first: pyarrow imports it on
    the build's first conversion of a Python list, so its 0.2 s and its objects would otherwise
    land in the first stage."""
    with contextlib.suppress(ImportError):  # pyarrow uses it only where it is installed
        import pandas  # noqa: F401  (pyarrow would import it in the first stage; see the docstring)
    settle_heap()


def preload_worker_modules(stages: Sequence[Stage]) -> None:
    """Have the forkserver import what the stages' workers run before it forks them.

    Every stage starts its own pool, and a worker forked from a bare forkserver imports the build's
    modules again: the steps' modules, datatrove and pyarrow; pandas, which pyarrow's first
    conversion of a Python list pulls in; and the console script's `corpus.app.cli`, which every
    forked child runs again as `__mp_main__` (multiprocessing's forkserver never imports `__main__`
    itself, though it is in its default preload list). That was about a second per worker per
    stage: a 33 MiB build with two workers took three to four times as long as with one. Imported
    once in the forkserver, the modules are there in every worker it forks. Takes effect when the
    forkserver starts, at the first pool of the process."""
    steps = sorted({type(step).__module__ for s in stages for step in s.steps})
    modules = ["corpus.app.cli", "pandas", *steps]
    multiprocess.get_context("forkserver").set_forkserver_preload(modules)


def run_stages(
    stages: Sequence[Stage],
    settings: RunSettings | None = None,
    console: Console | None = None,
    fuse: bool = False,
) -> list[StageResult]:
    """Run `stages` in order; finished tasks are skipped, so a re-run resumes a killed one. With
    `fuse`, chains of document stages run as one task per rank (`corpus.app.fusion`); the results
    are still one per stage, in plan order."""
    settings = settings or RunSettings()
    console = console or console_for(stderr=True)
    quiet_logs(settings.verbose)
    os.environ[BUILD_PID] = str(os.getpid())
    _guard_helper_processes()
    # an interrupted pool leaves its semaphores to the resource tracker, which then warns about
    # them on the user's terminal after the one line that says how to resume; nothing leaked
    quiet = "ignore::UserWarning:multiprocess.resource_tracker"
    if quiet not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    most_tasks = max((s.tasks for s in stages), default=1)
    if settings.kind == "local" and settings.workers_for(most_tasks) > 1:
        preload_worker_modules(stages)
    freeze_imported_objects()
    with (
        ray_session(settings, settings.workers_for(most_tasks)),
        Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tasks"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress,
    ):
        done: dict[int, StageResult] = {}
        for chain in chains(stages) if fuse else [Chain([i]) for i in range(len(stages))]:
            if len(chain.indexes) == 1:
                done[chain.indexes[0]] = run_stage(stages[chain.indexes[0]], settings, progress)
                continue
            fused = FusedStage([stages[i] for i in chain.indexes])
            done.update(zip(chain.indexes, run_chain(fused, settings, progress), strict=True))
        results = [done[i] for i in range(len(stages))]
    return results


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


def summary_table(results: Sequence[StageResult], title: str) -> Table:
    table = Table(title=title, title_justify="left")
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
    return table
