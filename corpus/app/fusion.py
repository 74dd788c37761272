"""Consecutive document stages of a source run as one task per rank (`executor.fuse: true`).

Why: a source's document stages (GitHub: documents → langid → files → samples → secrets) each read
the Parquet file the stage before wrote for the same rank, turn every row back into a document and
start an executor of their own. Run as one pipeline per rank, a document goes from one stage's
steps to the next in memory: the re-reading (about a third of a light stage's time on real code),
the executor starts and the per-stage waits go. Each stage still writes its documents, drops,
stats, digests and completion markers to its own folder, so the output, `coderforge inspect`, the
manifest and a later resume cannot tell a fused build from another: the writer of a stage hands
the next one each document as a reader of its file would rebuild it (metadata through JSON).

A stage B joins the chain of stage A when B is the next stage of A's source, runs as many tasks,
and reads A's folder and nothing else, which A writes last: rank r of B then reads exactly what
rank r of A wrote, in that order, so the fused rank sees the same documents. The chain runs where
its first stage stood in the plan; the stages it moves forward read only the chain's own output.
A chain runs its executor in `<source>/.fused-<first>-<last>/` (logs, the executor's own stats and
completion markers); a rank counts as done there only when every stage of the chain has it done,
so a stage re-opened or cleared since (a retry, a removed folder) runs that rank again, whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.core.parquet_io import ParquetDocumentReader, ParquetDocumentWriter
from corpus.core.stage import Stage


class HandedOn(PipelineStep):
    """In place of a fused stage's reader: takes the documents the stage before handed on, and
    counts them as the reader would have, so the stage's stats read the same."""

    name = "handed on"
    type = "📖 - READER"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data or ():
            self.stat_update("documents_in")
            self.stat_update("bytes_in", value=len(doc.text.encode("utf-8")), unit="doc")
            yield doc


class FusedStage(Stage):
    """The chain's one pipeline: the first stage's steps, then each later stage's with its reader
    replaced by `HandedOn`. Its steps stay bound to their own stages' folders."""

    members: list[Stage]

    def __init__(self, members: list[Stage]) -> None:
        first, last = members[0], members[-1]
        self.clock = Clock(len(members))
        steps: list[PipelineStep] = []
        self.spans: list[tuple[Stage, int, int]] = []
        for i, member in enumerate(members):
            own = member.steps if i == 0 else [HandedOn(), *member.steps[1:]]
            self.spans.append((member, len(steps), len(steps) + len(own)))
            steps.extend([*own, MemberClock(self.clock, i)])
        for member in members[:-1]:
            writer = member.steps[-1]
            assert isinstance(writer, ParquetDocumentWriter)
            writer.reread = True
        self.members = members
        super().__init__(
            first.source,
            f".fused-{first.name}-{last.name}",
            first.output,
            steps,
            first.tasks,
            " → ".join(m.label for m in members),
        )

    def __post_init__(self) -> None:
        """Nothing to bind: every step already belongs to its stage."""

    @property
    def label(self) -> str:
        return "+".join([self.members[0].label, *(m.name for m in self.members[1:])])


@dataclass
class Chain:
    """Indexes (in the plan) of stages that run as one: a single stage, or a fused chain."""

    indexes: list[int]


def _joins(prev: Stage, stage: Stage) -> bool:
    reader = stage.steps[0] if stage.steps else None
    return (
        stage.source == prev.source
        and stage.tasks == prev.tasks
        and isinstance(reader, ParquetDocumentReader)
        and [f.rstrip("/") for f in reader.folders] == [prev.folder]
        and bool(prev.steps)
        and isinstance(prev.steps[-1], ParquetDocumentWriter)
    )


def chains(stages: Sequence[Stage]) -> list[Chain]:
    """The plan's stages grouped into chains, in the order they run (see the module docstring)."""
    out: list[Chain] = []
    open_chain: dict[str, Chain] = {}  # source -> the chain its last stage ended
    for i, stage in enumerate(stages):
        chain = open_chain.get(stage.source)
        if chain is not None and _joins(stages[chain.indexes[-1]], stage):
            chain.indexes.append(i)
            continue
        chain = Chain([i])
        out.append(chain)
        open_chain[stage.source] = chain
    return out


class Clock:
    """Seconds spent in each stage of a chain, one task at a time: a document's trip through the
    chain's generators is charged to the stage whose steps hold it."""

    def __init__(self, members: int) -> None:
        self.seconds = [0.0] * members
        self.current: int | None = None
        self.since = 0.0

    def switch(self, member: int | None) -> int | None:
        now = time.perf_counter()
        if self.current is not None:
            self.seconds[self.current] += now - self.since
        previous, self.current, self.since = self.current, member, now
        return previous


class MemberClock(PipelineStep):
    """After a stage's last step in a chain: pulling a document out of that stage is its time."""

    name = "stage clock"
    type = "⏱ - CLOCK"

    def __init__(self, clock: Clock, member: int) -> None:
        super().__init__()
        self.clock = clock
        self.member = member

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.member == 0:
            self.clock.seconds = [0.0] * len(self.clock.seconds)  # a new task
        docs = iter(data or ())
        while True:
            previous = self.clock.switch(self.member)
            try:
                doc = next(docs)
            except StopIteration:
                self.clock.switch(previous)
                return
            self.clock.switch(previous)
            yield doc
