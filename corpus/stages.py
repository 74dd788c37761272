"""From a recipe to the list of stages that build the corpus.

A stage is one datatrove pipeline run by one executor over `tasks` ranks; its folder
`OUTPUT/<source>/<name>/` holds its data, drop records, stats, completion markers and logs.
Stage builders are plain functions `(recipe, output, previous) -> list[Stage]`, named in
`STAGE_BUILDERS` in the order their stages must run: each source's own stages first, then the stages
that take all sources together. `previous` is every stage planned so far, so a builder reads from
`latest(previous, source)`. Builders are named by import path so that planning a build imports only
what the recipe uses; adding a stage to the build is adding one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datatrove.pipeline.base import PipelineStep

from corpus.commoncrawl.warc_reader import WarcDocumentReader
from corpus.github.repo_reader import GithubRepoReader
from corpus.parquet_io import ParquetDocumentWriter
from corpus.recipe import Recipe
from corpus.story import StoryStep
from corpus.text_reader import TextSourceReader


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
        return f"{self.output.rstrip('/')}/{self.source}/{self.name}"

    def __post_init__(self) -> None:
        for step in self.steps:
            if isinstance(step, StoryStep):
                step.bind_stage(self.folder, self.label)


def stage_folder(output: str, source: str, name: str) -> str:
    return f"{output.rstrip('/')}/{source}/{name}"


def latest(previous: list[Stage], source: str) -> Stage | None:
    """The last stage planned so far for `source` (its output is that source's current documents)."""
    for stage in reversed(previous):
        if stage.source == source:
            return stage
    return None


#: the source name of stages that take every source together (e.g. cross-source deduplication)
ALL_SOURCES = "all"


def current(previous: list[Stage], exclude: tuple[str, ...] = ()) -> list[Stage]:
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


def source_document_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    """Read every source of the recipe into documents: `OUTPUT/<source>/documents/`."""
    tasks = recipe.executor.tasks
    stages: list[Stage] = []
    gh = recipe.sources.github
    if gh is not None:
        repos = [r.model_dump(mode="json") for r in gh.repos]
        folder = stage_folder(output, "github", "documents")
        stages.append(
            Stage(
                "github",
                "documents",
                output,
                [
                    GithubRepoReader.for_recipe(gh, output),
                    ParquetDocumentWriter(folder),
                ],
                tasks,
                f"{len(repos)} repositories -> one document per file",
            )
        )
    cc = recipe.sources.commoncrawl
    if cc is not None:
        folder = stage_folder(output, "commoncrawl", "documents")
        stages.append(
            Stage(
                "commoncrawl",
                "documents",
                output,
                [WarcDocumentReader(cc.warc, cc.group), ParquetDocumentWriter(folder)],
                tasks,
                f"{len(cc.warc)} WARC files -> HTML pages as text",
            )
        )
    tx = recipe.sources.text
    if tx is not None:
        folder = stage_folder(output, "text", "documents")
        stages.append(
            Stage(
                "text",
                "documents",
                output,
                [
                    TextSourceReader(tx.paths, tx.format, tx.text_key, tx.id_key, tx.group),
                    ParquetDocumentWriter(folder),
                ],
                tasks,
                f"{len(tx.paths)} files -> documents",
            )
        )
    return stages


#: "module:function" of each builder, in run order
STAGE_BUILDERS: list[str] = [
    "corpus.stages:source_document_stages",
    "classifiers.langid.stages:langid_stages",
    "corpus.github.stages:github_stages",
    # per-source stages (file rules, languages, repository samples, web recall) go here
    "classifiers.recall.stages:recall_stages",
    # stages over all sources (deduplication, decontamination) go here
    "dedup.stages:recipe_dedup_stages",
    "classifiers.decontam.step:decontam_stages",
    # mixing, tokenization and shards go here
    "corpus.mix.stages:build_stages",
]


def _builder(ref: str) -> Callable[[Recipe, str, list[Stage]], list[Stage]]:
    module, _, func = ref.partition(":")
    return getattr(importlib.import_module(module), func)


def plan(recipe: Recipe) -> list[Stage]:
    stages: list[Stage] = []
    for ref in STAGE_BUILDERS:
        stages.extend(_builder(ref)(recipe, recipe.output, stages))
    return stages
