"""Deduplication over the recipe's sources, when the recipe has `dedup:`.

With `together` (the default) one run covers every enabled source, so an exact copy of a GitHub
file on a web page is found; near-duplicates are still compared only within a level and language.
Otherwise each source is deduplicated on its own.
"""

from __future__ import annotations

from functools import partial

from corpus.app.recipe import Recipe
from corpus.core.parquet_io import ParquetDocumentReader
from corpus.core.stage import ALL_SOURCES, Stage, latest, stage_folder
from dedup.stages import dedup_stages


def recipe_dedup_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    config = recipe.dedup
    if config is None:
        return []
    tasks = recipe.executor.tasks
    sources = recipe.sources.enabled()

    def input_folder(source: str) -> str:
        if source in config.inputs:
            return stage_folder(output, source, config.inputs[source])
        before = latest(previous, source)
        return before.folder if before is not None else stage_folder(output, source, "documents")

    folders = {s: input_folder(s) for s in sources}
    if config.together:
        reader = partial(ParquetDocumentReader, [folders[s] for s in sources])
        return dedup_stages(config, ALL_SOURCES, output, tasks, reader=reader)
    stages: list[Stage] = []
    for s in sources:
        stages += dedup_stages(config, s, output, tasks, reader=partial(ParquetDocumentReader, folders[s]))
    return stages
