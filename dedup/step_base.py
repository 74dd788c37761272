"""The base of the dedup steps: one config, one work folder layout, one LSH plan for every stage."""

from __future__ import annotations

from corpus.core.stage import StageStep
from dedup.config import DedupConfig
from dedup.layout import WorkLayout
from dedup.lsh import bands_rows


def dedup_plan(config: DedupConfig) -> tuple[int, int, int]:
    """(bands, rows, band units): units are near-dup bands x shards, then the exact band's shards."""
    bands, rows = bands_rows(config) if config.near else (0, 0)
    units = (bands + (1 if config.exact else 0)) * config.key_shards
    return bands, rows, units


class DedupStep(StageStep):
    """What every step of a dedup run shares: its config, its work folder and the LSH plan."""

    type = "🫂 - DEDUP"

    def __init__(self, root: str, config: DedupConfig, signature_tasks: int, prefix: str = "dedup") -> None:
        super().__init__()
        self.config = config
        self.layout = WorkLayout(root, prefix)
        self.signature_tasks = signature_tasks
        self.bands, self.rows, self.units = dedup_plan(config)
