"""Per-stage numbers for the summary table, summed from datatrove's per-task stats files.

datatrove's merged `stats.json` only covers the tasks of the latest launch, so after a resume it
misses the tasks finished earlier; summing `stats/<rank>.json` gives the whole stage every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from corpus.atomic import split_url


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
    fs, root = split_url(f"{folder.rstrip('/')}/stats")
    out = StageStats()
    if not fs.exists(root):
        return out
    for path in sorted(fs.glob(f"{root}/*.json")):
        with fs.open(path, "r") as f:
            steps = json.load(f)
        for step in steps:
            for label, value in (step.get("stats") or {}).items():
                out.counters[label] = out.counters.get(label, 0) + _total(value)
    c = out.counters
    out.documents_in = c.get("documents_in", 0)
    out.documents_out = c.get("documents_out", 0)
    out.dropped = c.get("dropped", 0)
    out.bytes_in = c.get("bytes_in", 0)
    out.bytes_out = c.get("bytes_out", 0)
    out.tokens = c.get("tokens", 0)
    return out
