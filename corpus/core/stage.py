"""The unit a build is made of: a stage, one datatrove pipeline over `tasks` ranks in its own folder.

A stage's folder `OUTPUT/<source>/<name>/` holds its data, drop records, stats, completion markers
and logs. Components build their stages from their own config; the app plans them from a recipe
and runs them through its one runner. `StageStep` adds to datatrove's `PipelineStep` the two
questions a runner asks before it starts any task of a stage: is there anything to do, and may it
start yet. datatrove has no such notion (it starts every incomplete rank), and for a stage planned
up front but made a no-op by an earlier one (a dedup round after the components settled, a recall
iteration after every target stopped) starting all tasks only for each to find nothing costs more
than the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datatrove.pipeline.base import PipelineStep

from corpus.core.parquet_io import ParquetDocumentReader, ParquetDocumentWriter

#: the source name of stages that take every source together (e.g. cross-source deduplication)
ALL_SOURCES = "all"


class StageStep(PipelineStep):
    """A step that can answer, before its stage starts, whether the stage has work and may run."""

    def bind_stage(self, folder: str, label: str) -> None:
        """Called when the step joins a stage: where the stage's folder is and how it is named."""

    def idle(self) -> bool:
        """True when an earlier stage already made this one a no-op; the runner then skips it."""
        return False

    def blocked(self) -> str | None:
        """Why the stage cannot run yet (one line), or None when it can."""
        return None


@dataclass
class Stage:
    source: str
    name: str
    output: str
    steps: list[PipelineStep]
    tasks: int
    description: str = ""
    #: called after the stage completes; returns entries merged into manifest.json
    manifest: Callable[[Stage], dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.source}/{self.name}"

    @property
    def folder(self) -> str:
        return stage_folder(self.output, self.source, self.name)

    def __post_init__(self) -> None:
        for step in self.steps:
            if isinstance(step, StageStep):
                step.bind_stage(self.folder, self.label)

    def _first(self) -> StageStep | None:
        first = self.steps[0] if self.steps else None
        return first if isinstance(first, StageStep) else None

    def idle(self) -> bool:
        """Whether the stage's first step says there is nothing to do."""
        first = self._first()
        return first is not None and first.idle()

    def blocked(self) -> str | None:
        first = self._first()
        return first.blocked() if first is not None else None


def stage_folder(output: str, source: str, name: str) -> str:
    return f"{output.rstrip('/')}/{source}/{name}"


def document_stage(
    source: str,
    name: str,
    output: str,
    inputs: str | Sequence[str],
    steps: Sequence[PipelineStep],
    tasks: int,
    description: str = "",
    manifest: Callable[[Stage], dict[str, Any]] | None = None,
) -> Stage:
    """The common shape of a stage: read the Parquet documents of `inputs` (stage folders), run
    `steps`, write the survivors to the stage's own folder."""
    folders = inputs if isinstance(inputs, str) else list(inputs)
    pipeline = [
        ParquetDocumentReader(folders),
        *steps,
        ParquetDocumentWriter(stage_folder(output, source, name)),
    ]
    return Stage(source, name, output, pipeline, tasks, description, manifest)


def latest(previous: Sequence[Stage], source: str) -> Stage | None:
    """The last stage planned so far for `source` (its output is that source's current documents)."""
    for stage in reversed(previous):
        if stage.source == source:
            return stage
    return None


def current(previous: Sequence[Stage], exclude: tuple[str, ...] = ()) -> list[Stage]:
    """The stages whose outputs are the corpus as it stands after `previous`, one per source.

    A stage over all sources (source "all") consumes every source planned before it, so it then
    stands for all of them.
    """
    now: dict[str, Stage] = {}
    for stage in previous:
        if stage.source in exclude:
            continue
        if stage.source == ALL_SOURCES:
            now = {ALL_SOURCES: stage}
        else:
            now[stage.source] = stage
    return list(now.values())
