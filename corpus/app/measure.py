"""Time and memory of a `coderforge build` run as a child process, stage by stage.

A build's own numbers (manifest.json: seconds per stage, bytes and documents in and out) say how
long each stage took but not how much memory it held, and a task's memory lives in processes the
build forks (datatrove's pool, the forkserver), so the parent's own RSS undercounts it. Here the
whole process tree is sampled with psutil while the build runs: the sum of RSS over the tree, the
largest single process (a task's peak), and CPU seconds. A stage's window is
[end - seconds_this_run, end], where end is the newest of its completion markers and stats.json;
before the first window is start-up (imports, recipe, plan), after the last the manifest and exit.

Used by `coderforge estimate` and by benchmarks/bench_build.py, so that both measure the same way.
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MIB = 1024 * 1024


@dataclass
class Sample:
    t: float  # epoch seconds
    rss: int  # sum over the tree
    rss_max: int  # the largest single process
    cpu: float  # CPU seconds of the tree since the previous sample
    procs: int


@dataclass
class Build:
    """One measured build: its output folder, the samples taken while it ran, its manifest."""

    output: Path
    workers: int
    t0: float
    t1: float
    samples: list[Sample]
    cpu_children: float  # user+sys of every reaped descendant (getrusage)
    manifest: dict = field(default_factory=dict)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)


def sample_tree(root: psutil.Process, last_cpu: dict[int, float]) -> Sample:
    procs = [root]
    with contextlib.suppress(psutil.NoSuchProcess):
        procs += root.children(recursive=True)
    rss = rss_max = 0
    cpu = 0.0
    for p in procs:
        try:
            with p.oneshot():
                r = p.memory_info().rss
                c = p.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        rss += r
        rss_max = max(rss_max, r)
        used = c.user + c.system
        cpu += max(0.0, used - last_cpu.get(p.pid, 0.0))
        last_cpu[p.pid] = used
    return Sample(time.time(), rss, rss_max, cpu, len(procs))


def coderforge_command() -> list[str]:
    """The CLI of this very installation (the interpreter running now), as a child process."""
    return [sys.executable, "-m", "corpus.app.cli"]


def run_measured(
    cmd: list[str],
    output: Path,
    workers: int,
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    interval: float = 0.05,
) -> tuple[Build, int]:
    """Run `cmd` (a build writing into `output`), sampling its process tree every `interval`
    seconds; stdout and stderr go to `log`. Returns the measured build and the exit code (the
    manifest is read only when the build succeeded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = psutil.getloadavg()
    samples: list[Sample] = []
    last_cpu: dict[int, float] = {}
    with open(log, "w") as out:
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            root = psutil.Process(proc.pid)
            while proc.poll() is None:
                samples.append(sample_tree(root, last_cpu))
                time.sleep(interval)
        except BaseException:  # Ctrl-C while measuring: the build must not outlive us
            proc.kill()
            proc.wait()
            raise
        t1 = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    manifest = {}
    if proc.returncode == 0:
        manifest = json.loads((output / "manifest.json").read_text())
    return Build(output, workers, t0, t1, samples, cpu, manifest, load), proc.returncode


def stage_end(folder: Path) -> float:
    marks = [*folder.glob("completions/*"), folder / "stats.json"]
    return max((p.stat().st_mtime for p in marks if p.exists()), default=0.0)


def window_samples(b: Build, start: float, end: float, interval: float) -> list[Sample]:
    inside = [s for s in b.samples if start <= s.t <= end]
    if inside:
        return inside
    # shorter than one sampling interval: the sample that follows its start
    near = [s for s in b.samples if start - interval <= s.t <= end + interval]
    return near[:1]


def analyse(b: Build, fixed: dict[str, float] | None, interval: float) -> dict:
    """Per-stage rows (seconds, bytes, rates, peak RSS of the tree and of its largest process) and
    the build's totals; `fixed` (seconds per stage of a tiny build) adds rates net of it."""
    rows = []
    windows: list[tuple[float, float]] = []
    for st in b.manifest["stages"]:
        label, secs = st["stage"], float(st["seconds_this_run"])
        end = stage_end(b.output / label)
        start = end - secs
        windows.append((start, end))
        ss = window_samples(b, start, end, interval)
        # the build's own count where it has one (corpus.app.runner.own_cpu_seconds): exact for a
        # stage of a few sampling intervals, which the samples around it would share
        cpu = float(st["cpu_seconds_this_run"]) if "cpu_seconds_this_run" in st else sum(s.cpu for s in ss)
        # a sampler starved by a busy machine may miss a short stage: its peak is then the state
        # the next sample found
        held = ss or [s for s in b.samples if s.t >= start][:1] or b.samples[-1:]
        row = {
            "stage": label,
            "tasks": st["tasks"],
            "documents_in": int(st["documents_in"]),
            "documents_out": int(st["documents_out"]),
            "dropped": int(st.get("dropped", 0)),
            "bytes_in": int(st["bytes_in"]),
            "bytes_out": int(st.get("bytes_out", 0)),
            "tokens": int(st.get("tokens", 0)),
            "seconds": secs,
            "cpu_s": round(cpu, 3),
            "mib_s_per_core": st["bytes_in"] / MIB / secs / b.workers
            if secs > 0 and st["bytes_in"]
            else None,
            "mib_s_per_cpu_s": st["bytes_in"] / MIB / cpu if cpu > 0 and st["bytes_in"] else None,
            "docs_s": st["documents_in"] / secs if secs > 0 and st["documents_in"] else None,
            "peak_rss_mib": max((s.rss for s in held), default=0) / MIB,
            "peak_process_rss_mib": max((s.rss_max for s in held), default=0) / MIB,
        }
        # how far the stage itself lifted its largest process above where it found it: a process
        # that ran earlier stages on more input starts higher, which is no growth of this one's
        before = [s for s in b.samples if s.t < start][-1:] or held[:1]
        row["rise_process_rss_mib"] = max(0.0, row["peak_process_rss_mib"] - before[0].rss_max / MIB)
        if fixed is not None:
            f = fixed.get(label, 0.0)
            row["fixed_s"] = f
            net = secs - f
            row["mib_s_per_core_net"] = (
                st["bytes_in"] / MIB / net / b.workers if net > 0.05 and st["bytes_in"] else None
            )
        rows.append(row)
    first = min((w[0] for w in windows), default=b.t1)
    last = max((w[1] for w in windows), default=b.t0)
    startup = [s for s in b.samples if s.t < first]
    tail = [s for s in b.samples if s.t > last]
    return {
        "stages": rows,
        "startup_s": first - b.t0,
        "startup_peak_rss_mib": max((s.rss for s in startup), default=0) / MIB,
        "startup_peak_process_rss_mib": max((s.rss_max for s in startup), default=0) / MIB,
        "startup_cpu_s": sum(s.cpu for s in startup),
        "manifest_exit_s": b.t1 - last,
        "manifest_exit_peak_rss_mib": max((s.rss for s in tail), default=0) / MIB,
        "manifest_exit_peak_process_rss_mib": max((s.rss_max for s in tail), default=0) / MIB,
        "manifest_exit_cpu_s": sum(s.cpu for s in tail),
        "wall_s": b.t1 - b.t0,
        "cpu_s": b.cpu_children,
        "peak_rss_mib": max((s.rss for s in b.samples), default=0) / MIB,
        "peak_process_rss_mib": max((s.rss_max for s in b.samples), default=0) / MIB,
        "max_processes": max((s.procs for s in b.samples), default=0),
        "samples": len(b.samples),
        "loadavg_before": b.load,
    }
