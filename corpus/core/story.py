"""Every document carries its story: which step dropped it, and why.

Steps never delete silently. A step derived from `StoryStep` calls `self.drop(doc_id, reason,
detail)`; the records are written beside the stage's data (Dolma-style side files rather than a
rewritten corpus) as `drops/<step>/<rank>.parquet`, atomically, when the step's input is exhausted.
A step used outside a coderforge build (in a user's own datatrove pipeline) still counts its drops
in datatrove's stats; it writes side files once `bind_stage` tells it where.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline

from corpus.core.atomic import atomic_open
from corpus.core.schema import DROP_SCHEMA
from corpus.core.stage import StageStep


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "step"


class StoryStep(StageStep):
    """Base class of our steps: implement `process`, call `self.drop` for every document removed."""

    type = "📖 - CODERFORGE"

    def __init__(self) -> None:
        super().__init__()
        self.stage_folder: str | None = None
        self.stage_label: str = ""
        self._drops: list[tuple[str, str, str]] = []

    @property
    def step_slug(self) -> str:
        return slug(self.name or type(self).__name__)

    def bind_stage(self, folder: str, label: str) -> None:
        """Called by the build: where this step's drop records go and how they name the stage."""
        self.stage_folder = folder.rstrip("/")
        self.stage_label = label

    def drop(self, doc_id: str, reason: str, detail: str = "") -> None:
        self._drops.append((str(doc_id), reason, detail[:500]))
        self.stat_update("dropped", f"dropped:{reason}")

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        raise NotImplementedError

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._drops = []
        yield from self.process(data, rank, world_size)
        self._write_drops(rank)

    def _write_drops(self, rank: int) -> None:
        if not self.stage_folder or not self._drops:
            return
        stage = f"{self.stage_label}:{self.step_slug}" if self.stage_label else self.step_slug
        table = pa.table(
            {
                "id": [d[0] for d in self._drops],
                "stage": [stage] * len(self._drops),
                "reason": [d[1] for d in self._drops],
                "detail": [d[2] for d in self._drops],
            },
            schema=DROP_SCHEMA,
        )
        path = f"{self.stage_folder}/drops/{self.step_slug}/{rank:05d}.parquet"
        with atomic_open(path, "wb") as f:
            pq.write_table(table, f, compression="zstd")
        self._drops = []
