"""Per-stage numbers for the summary table, summed from datatrove's per-task stats files.

datatrove's merged `stats.json` only covers the tasks of the latest launch, so after a resume it
misses the tasks finished earlier; summing `stats/<rank>.json` gives the whole stage every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from corpus.core.atomic import split_url


@dataclass
class StageStats:
    documents_in: float = 0
    documents_out: float = 0
    dropped: float = 0
    bytes_in: float = 0
    bytes_out: float = 0
    tokens: float = 0
    counters: dict[str, float] = field(default_factory=dict)


def _total(value) -> float:
    if isinstance(value, dict):
        return float(value.get("total", 0))
    return float(value or 0)


def read_stage_stats(folder: str) -> StageStats:
    """Inputs are what the first step that counts them read, outputs what the last one wrote;
    drops are summed over all steps (several steps may count the same documents going by)."""
    fs, root = split_url(f"{folder.rstrip('/')}/stats")
    out = StageStats()
    if not fs.exists(root):
        return out
    per_step: dict[int, dict[str, float]] = {}
    for path in sorted(fs.glob(f"{root}/*.json")):
        with fs.open(path, "r") as f:
            steps = json.load(f)
        for i, step in enumerate(steps):
            counters = per_step.setdefault(i, {})
            for label, value in (step.get("stats") or {}).items():
                counters[label] = counters.get(label, 0) + _total(value)
                out.counters[label] = out.counters.get(label, 0) + _total(value)
    ordered = [per_step[i] for i in sorted(per_step)]

    def first(label: str) -> float:
        return next((c[label] for c in ordered if label in c), 0)

    def last(label: str) -> float:
        return next((c[label] for c in reversed(ordered) if label in c), 0)

    out.documents_in = first("documents_in")
    out.bytes_in = first("bytes_in")
    out.documents_out = last("documents_out")
    out.bytes_out = last("bytes_out")
    out.dropped = out.counters.get("dropped", 0)
    out.tokens = last("tokens")
    return out
