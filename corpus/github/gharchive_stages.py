"""The two GH Archive stages of a build (`github/gharchive`, `github/gharchive-list`) from the
recipe's `sources.github.curation.gharchive`; the repository list stage reads what they write."""

from __future__ import annotations

from typing import Any

from corpus.core.stage import Stage, stage_folder
from corpus.github.config import GharchiveConfig
from corpus.github.gharchive_events import ListFilter
from corpus.github.gharchive_source import (
    GharchiveReduce,
    GharchiveScan,
    HourSource,
    hour_range,
    hour_summary,
    list_files,
)
from corpus.github.host_rate_limit import HostRateLimit

#: the list stage's default cap on tasks: each holds 1/B of the repositories while merging
MAX_LIST_TASKS = 1024


def gharchive_stages(
    cfg: GharchiveConfig, output: str, tasks: int, method: str
) -> tuple[list[Stage], list[str]]:
    """The scan and list stages, and the list files the repository list stage merges."""
    hours = hour_range(cfg.since, cfg.end())
    scan_tasks = max(1, min(cfg.scan_tasks or tasks, len(hours)))
    buckets = max(1, cfg.list_tasks or min(tasks, MAX_LIST_TASKS))
    scan_folder = stage_folder(output, "github", "gharchive")
    list_folder = stage_folder(output, "github", "gharchive-list")
    remote = cfg.hours.startswith(("http://", "https://"))
    source = HourSource(
        cfg.hours,
        timeout_s=cfg.timeout_s,
        retries=cfg.retries,
        rate=HostRateLimit(cfg.requests_per_second) if remote else None,
    )
    scan = GharchiveScan(source, cfg.since, cfg.end(), scan_folder, buckets)
    keep = ListFilter(
        created_before=cfg.created_before.isoformat(),
        min_stars=cfg.min_stars,
        exclude_forks=cfg.exclude_forks,
        languages=tuple(cfg.languages),
        unknown_language=cfg.unknown_language,
    )
    reduce = GharchiveReduce(scan_folder, scan_tasks, list_folder, keep, method, cfg.api_url, cfg.archives)

    def manifest(_stage: Stage) -> dict[str, Any]:
        return {"gharchive": hour_summary(scan_folder)}

    first, last = hours[0], hours[-1]
    stages = [
        Stage(
            "github",
            "gharchive",
            output,
            [scan],
            scan_tasks,
            f"GH Archive hours {first:%Y-%m-%dT%H}..{last:%Y-%m-%dT%H} ({len(hours):,} files) -> "
            f"repository states in {buckets} buckets",
            manifest=manifest,
        ),
        Stage(
            "github",
            "gharchive-list",
            output,
            [reduce],
            buckets,
            f"repositories created before {cfg.created_before}, stars >= {cfg.min_stars}"
            + (", forks left out" if cfg.exclude_forks else ", forks kept"),
        ),
    ]
    return stages, list_files(list_folder, buckets)
