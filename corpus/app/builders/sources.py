"""Every source of the recipe read into documents: `OUTPUT/<source>/documents/`."""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep

from corpus.app.recipe import Recipe
from corpus.commoncrawl.warc_reader import WarcDocumentReader
from corpus.core.parquet_io import ParquetDocumentWriter
from corpus.core.stage import Stage, stage_folder
from corpus.github.repo_reader import GithubRepoReader
from corpus.text.reader import TextSourceReader


def source_document_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    """One reader stage per source the recipe has, each writing its documents as Parquet."""
    readers: list[tuple[str, PipelineStep, str]] = []
    gh, cc, tx = recipe.sources.github, recipe.sources.commoncrawl, recipe.sources.text
    if gh is not None:
        readers.append(
            (
                "github",
                GithubRepoReader.for_recipe(gh, output),
                f"{len(gh.repos)} repositories -> one document per file",
            )
        )
    if cc is not None:
        readers.append(
            (
                "commoncrawl",
                WarcDocumentReader(cc.warc, cc.group),
                f"{len(cc.warc)} WARC files -> HTML pages as text",
            )
        )
    if tx is not None:
        reader = TextSourceReader(tx.paths, tx.format, tx.text_key, tx.id_key, tx.group)
        readers.append(("text", reader, f"{len(tx.paths)} files -> documents"))
    return [
        Stage(
            source,
            "documents",
            output,
            [reader, ParquetDocumentWriter(stage_folder(output, source, "documents"))],
            recipe.executor.tasks,
            description,
        )
        for source, reader, description in readers
    ]
