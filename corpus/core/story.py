"""Every document carries its story: which step dropped it, and why.

Steps never delete silently. A step derived from `StoryStep` calls `self.drop(doc_id, reason,
detail)`; the records are written beside the stage's data (Dolma-style side files rather than a
rewritten corpus) as `drops/<step>/<rank>.parquet`. They go out in row groups of `DROP_BATCH` as
they come, so a task that drops millions of documents holds one batch, not all of them; the file
is renamed into place only when the step's input is exhausted, so a killed task leaves none.
A step used outside a coderforge build (in a user's own datatrove pipeline) still counts its drops
in datatrove's stats; it writes side files once `bind_stage` tells it where.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline

from corpus.core.atomic import atomic_open
from corpus.core.schema import DROP_SCHEMA
from corpus.core.stage import StageStep

#: drop records held before they are written out as one row group of the side file
DROP_BATCH = 65_536


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
        self._rank = 0
        self._drop_files: ExitStack | None = None
        self._drop_writer: pq.ParquetWriter | None = None

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
        if len(self._drops) >= DROP_BATCH and self._drop_files is not None:
            self._flush_drops()

    def drop_many(self, ids: list[str], reasons: list[str], details: list[str]) -> None:
        """`drop` for many documents at once (a plan's down-sampled documents, in their order),
        counting each reason once instead of once per document."""
        for reason, n in Counter(reasons).items():
            self.stat_update("dropped", f"dropped:{reason}", value=n)
        for lo in range(0, len(ids), DROP_BATCH):
            hi = lo + DROP_BATCH
            self._drops.extend(
                zip(map(str, ids[lo:hi]), reasons[lo:hi], (d[:500] for d in details[lo:hi]), strict=True)
            )
            if len(self._drops) >= DROP_BATCH and self._drop_files is not None:
                self._flush_drops()

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        raise NotImplementedError

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._drops = []
        self._rank = rank
        self._drop_writer = None
        if not self.stage_folder:  # outside a build: the records stay in `_drops` for the caller
            yield from self.process(data, rank, world_size)
            return
        # the writer closes before the file is renamed into place; an error or an abandoned
        # generator unwinds the same stack and removes the partial file instead
        with ExitStack() as files:
            self._drop_files = files
            try:
                yield from self.process(data, rank, world_size)
                self._flush_drops()
            finally:
                self._drop_files = None

    def _flush_drops(self) -> None:
        """Write the held records as one row group, opening the side file on the first."""
        if not self._drops or self._drop_files is None:
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
        if self._drop_writer is None:
            path = f"{self.stage_folder}/drops/{self.step_slug}/{self._rank:05d}.parquet"
            f = self._drop_files.enter_context(atomic_open(path, "wb"))
            self._drop_writer = pq.ParquetWriter(f, DROP_SCHEMA, compression="zstd")
            self._drop_files.callback(self._drop_writer.close)
        self._drop_writer.write_table(table)
        self._drops = []
