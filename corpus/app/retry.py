"""Repositories a build could not fetch: listed after every build, fetched again on `--retry-failed`.

A GitHub reader stage (`github/documents`, `github/fetched`) records a repository it could not get
as a drop, `fetch_failed` (HTTP error, missing repository, cut download, size cap) or
`corrupt_archive` (a damaged archive). The task still finishes and gets its completion marker, so
a plain re-run resumes past it and never asks again. After each build the failures of a stage are
listed in `<stage>/failed.jsonl` (one JSON object a line: name, reason, detail, task); a stage with
none has no such file.

`--retry-failed` re-opens exactly the tasks that recorded such a drop: their completion markers and
every file they wrote in the stage folder (data, drops, stats, log) are removed, and the stages that
read the reader's output (directly or through later stages), plus every stage over all sources
(deduplication, decontamination, the mix), are removed whole and re-run: a downstream task cannot be
matched to the fetch tasks it read, so the stage is redone rather than patched. Stages of other
sources that never read GitHub documents are left alone. The build then runs as usual: the
re-opened tasks fetch their repositories again, and those already fetched come from the fetch cache
(`curation.fetch.cache`, by default `OUTPUT/github/cache`: a build always has one), so only the
failed ones reach the network. A damaged archive is also forgotten by the cache, or the retry would
read the same bytes again.

Removal is crash-safe: what to remove is first written to `.coderforge/reopen.json`, then each
task's completion marker goes before its files, and the record is deleted last. Any later build of
the output (with or without the flag) first finishes a record it finds, so a retry killed half way
never leaves a task that looks complete without its files, nor a stale drop file. Nothing outside
the output folder and the fetch cache is ever touched.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from corpus.app.claim import KEEP_ON_REBUILD
from corpus.core.atomic import atomic_write_text, split_url
from corpus.core.errors import BuildError
from corpus.core.stage import Stage
from corpus.github.repo_reader import GithubRepoReader

#: drop reasons of a repository that a later attempt may get
RETRY_REASONS = ("fetch_failed", "corrupt_archive")
#: the list of failed repositories, in the folder of the stage that failed to fetch them
FAILED_LIST = "failed.jsonl"
#: what a retry is about to remove, relative to the output (deleted once all of it is gone)
JOURNAL = ".coderforge/reopen.json"


@dataclass(frozen=True)
class FailedRepo:
    name: str
    reason: str
    detail: str
    stage: str
    task: int

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "detail": self.detail, "task": self.task}


@dataclass
class Reopening:
    """What `--retry-failed` removes: tasks of reader stages, whole later stages, cache entries."""

    repos: list[FailedRepo] = field(default_factory=list)
    #: stage label -> ranks of the reader stages to run again
    tasks: dict[str, list[int]] = field(default_factory=dict)
    #: labels of the stages re-run whole
    stages: list[str] = field(default_factory=list)
    #: cached copies of damaged archives to fetch again
    forget: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.repos:
            return "retry: no failed fetches recorded; nothing to retry"
        where = ", ".join(
            f"{label} tasks {', '.join(map(str, ranks))}" for label, ranks in self.tasks.items()
        )
        names = ", ".join(r.name for r in self.repos[:5]) + (
            f" and {len(self.repos) - 5} more" if len(self.repos) > 5 else ""
        )
        text = f"retry: {_repositories(len(self.repos))} ({names}) in {where}"
        if self.stages:
            text += f"; stages re-run whole: {', '.join(self.stages)}"
        return text


def reader_stages(stages: Sequence[Stage]) -> list[tuple[Stage, GithubRepoReader]]:
    """The stages that fetch repositories: those that start with a GitHub reader."""
    return [(s, s.steps[0]) for s in stages if s.steps and isinstance(s.steps[0], GithubRepoReader)]


def failed_repos(stage: Stage, reader: GithubRepoReader) -> list[FailedRepo]:
    """The repositories `stage` recorded as not fetched or damaged, by task then name."""
    fs, root = split_url(f"{stage.folder}/drops/{reader.step_slug}")
    found: list[FailedRepo] = []
    for path in sorted(fs.glob(f"{root}/*.parquet")):
        stem = posixpath.basename(path).split(".", 1)[0]
        if not stem.isdigit():
            continue
        with fs.open(path, "rb") as f:
            table = pq.read_table(
                f, columns=["id", "reason", "detail"], filters=[("reason", "in", RETRY_REASONS)]
            ).to_pylist()
        for row in table:
            if row["reason"] in RETRY_REASONS and row["id"].startswith("github:"):
                name = row["id"].removeprefix("github:")
                found.append(FailedRepo(name, row["reason"], row["detail"] or "", stage.label, int(stem)))
    return sorted(found, key=lambda r: (r.task, r.name))


def write_failed_lists(stages: Sequence[Stage]) -> list[tuple[str, list[FailedRepo]]]:
    """Write each reader stage's `failed.jsonl` (atomically), or remove it when nothing failed;
    returns (list path, failures) for the stages with failures."""
    written = []
    for stage, reader in reader_stages(stages):
        repos = failed_repos(stage, reader)
        path = f"{stage.folder}/{FAILED_LIST}"
        if repos:
            atomic_write_text(path, "".join(json.dumps(r.record(), sort_keys=True) + "\n" for r in repos))
            written.append((path, repos))
        else:
            fs, p = split_url(path)
            if fs.exists(p):
                fs.rm(p)
    return written


def failed_summary(written: list[tuple[str, list[FailedRepo]]]) -> str | None:
    """The end-of-build line about failed fetches, or None when every repository was fetched."""
    if not written:
        return None
    count = sum(len(repos) for _, repos in written)
    lists = ", ".join(path for path, _ in written)
    return (
        f"{_repositories(count)} could not be fetched or were damaged: listed in {lists}; "
        "`coderforge build RECIPE --retry-failed` fetches only those again"
    )


def _strings(obj: Any, seen: set[int], depth: int = 0) -> Iterator[str]:
    """Every string held by a step's attributes (folders it reads are among them)."""
    if isinstance(obj, str):
        yield obj
        return
    if depth > 6 or id(obj) in seen or isinstance(obj, (bytes, int, float, bool, type(None))):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items: list[Any] = [*obj.keys(), *obj.values()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).values())
    else:
        return
    for item in items:
        yield from _strings(item, seen, depth + 1)


def _reads_from(stage: Stage, folders: set[str]) -> bool:
    seen: set[int] = set()
    for text in _strings(stage.steps, seen):
        text = text.rstrip("/")
        if text in folders or any(text.startswith(f + "/") for f in folders):
            return True
    return False


def downstream(stages: Sequence[Stage], reopened: Sequence[Stage]) -> list[Stage]:
    """The stages after `reopened` that must run again whole: every later stage that reads a
    re-opened or re-run stage's folder, and every later stage not of a single document source
    (all/..., mix/...), which take every source together."""
    if not reopened:
        return []
    ids = {id(s) for s in reopened}
    first = min(i for i, s in enumerate(stages) if id(s) in ids)
    sources = {s.source for s in stages if s.name == "documents"} | {s.source for s in reopened}
    folders = {s.folder.rstrip("/") for s in reopened}
    again: list[Stage] = []
    for stage in stages[first + 1 :]:
        if id(stage) in ids:
            continue
        if stage.source not in sources or _reads_from(stage, folders):
            again.append(stage)
            folders.add(stage.folder.rstrip("/"))
    return again


def plan_reopening(stages: Sequence[Stage]) -> Reopening:
    """What `--retry-failed` would remove from the build output of `stages`; reads only."""
    plan = Reopening()
    reopened: list[Stage] = []
    for stage, reader in reader_stages(stages):
        repos = failed_repos(stage, reader)
        if not repos:
            continue
        reopened.append(stage)
        plan.repos += repos
        plan.tasks[stage.label] = sorted({r.task for r in repos})
        cache = reader.fetcher.cache_dir
        for r in repos:
            folder = reader.cached_folder(r.name)
            if r.reason == "corrupt_archive" and cache and folder and os.path.isdir(folder):
                plan.forget.append(os.path.abspath(folder))
    plan.stages = [s.label for s in downstream(stages, reopened)]
    return plan


def _inside(path: str, root: str) -> bool:
    path, root = posixpath.normpath(path), posixpath.normpath(root)
    return path.startswith(root.rstrip("/") + "/")


def _journal(output: str) -> str:
    return f"{output.rstrip('/')}/{JOURNAL}"


def _task_files(fs: Any, folder: str, rank: int) -> list[str]:
    """The files task `rank` wrote in its stage folder, its completion marker first."""
    tag = f"{rank:05d}"
    names = {tag, f"task_{tag}.log"}
    files = [
        p for p in fs.find(folder) if (base := posixpath.basename(p)) in names or base.split(".", 1)[0] == tag
    ]
    return sorted(files, key=lambda p: (posixpath.basename(posixpath.dirname(p)) != "completions", p))


def reopen(stages: Sequence[Stage], plan: Reopening) -> None:
    """Record `plan` in the output's journal, then carry it out (see `finish_reopening`)."""
    if plan.repos:
        record_reopening(stages, plan)
        finish_reopening(stages)


def record_reopening(stages: Sequence[Stage], plan: Reopening) -> None:
    """Write what `plan` removes to `.coderforge/reopen.json`, atomically, before any removal."""
    output = stages[0].output
    folders = {s.label: s.folder[len(output.rstrip("/")) + 1 :] for s in stages}
    record = {
        "tasks": {folders[label]: ranks for label, ranks in plan.tasks.items()},
        "stages": [folders[label] for label in plan.stages],
        "forget": plan.forget,
    }
    atomic_write_text(_journal(output), json.dumps(record, indent=2, sort_keys=True))


def finish_reopening(stages: Sequence[Stage]) -> bool:
    """Carry out a recorded retry, if there is one (a build killed while re-opening left it).

    Every path is checked to lie inside the output folder (or, for forgotten archives, inside a
    reader's fetch cache) before anything is removed; a record that names anything else is refused.
    """
    if not stages:
        return False
    output = stages[0].output.rstrip("/")
    fs, journal = split_url(_journal(output))
    if not fs.exists(journal):
        return False
    with fs.open(journal, "r") as f:
        record = json.load(f)
    _, root = split_url(output)
    caches = [os.path.abspath(r.fetcher.cache_dir) for _, r in reader_stages(stages) if r.fetcher.cache_dir]

    def resolve(rel: str) -> str:
        """A stage folder, `<source>/<name>` under the output; never the build's records or a cache."""
        path = posixpath.normpath(f"{root}/{rel}")
        parts = path[len(root.rstrip("/")) + 1 :].split("/")
        if not _inside(path, root) or len(parts) != 2 or set(parts) & set(KEEP_ON_REBUILD):
            raise BuildError(f"{output}/{JOURNAL}: {rel!r} is not a stage folder of this output")
        return path

    for rel, ranks in record.get("tasks", {}).items():
        folder = resolve(rel)
        if fs.exists(folder):
            for rank in ranks:
                for path in _task_files(fs, folder, int(rank)):
                    fs.rm(path)
    for rel in record.get("stages", []):
        folder = resolve(rel)
        if fs.exists(f"{folder}/completions"):
            fs.rm(f"{folder}/completions", recursive=True)  # first: the stage no longer looks done
        if fs.exists(folder):
            fs.rm(folder, recursive=True)
    for path in record.get("forget", []):
        if not any(_inside(os.path.abspath(path), cache) for cache in caches):
            raise BuildError(f"{output}/{JOURNAL}: {path!r} is not inside the fetch cache")
        shutil.rmtree(path, ignore_errors=True)
    fs.rm(journal)
    return True


def failed_lists(path: str) -> list[str]:
    """The `failed.jsonl` lists under `path` (a build output or one stage folder)."""
    fs, root = split_url(path)
    root = root.rstrip("/")
    protocol = path.split("://", 1)[0] + "://" if "://" in path else ""
    found = set(fs.glob(f"{root}/**/{FAILED_LIST}")) | set(fs.glob(f"{root}/{FAILED_LIST}"))
    return sorted(protocol + p for p in found)


def _repositories(n: int) -> str:
    return f"{n:,} repository" if n == 1 else f"{n:,} repositories"
