"""Every source of the recipe read into documents: `OUTPUT/<source>/documents/`."""

from __future__ import annotations

from corpus.app.recipe import Recipe
from corpus.commoncrawl.warc_reader import WarcDocumentReader
from corpus.core.parquet_io import ParquetDocumentWriter
from corpus.core.stage import Stage, stage_folder
from corpus.github.repo_reader import GithubRepoReader
from corpus.text.reader import TextSourceReader


def source_document_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    tasks = recipe.executor.tasks
    stages: list[Stage] = []
    gh = recipe.sources.github
    if gh is not None:
        stages.append(
            Stage(
                "github",
                "documents",
                output,
                [
                    GithubRepoReader.for_recipe(gh, output),
                    ParquetDocumentWriter(stage_folder(output, "github", "documents")),
                ],
                tasks,
                f"{len(gh.repos)} repositories -> one document per file",
            )
        )
    cc = recipe.sources.commoncrawl
    if cc is not None:
        stages.append(
            Stage(
                "commoncrawl",
                "documents",
                output,
                [
                    WarcDocumentReader(cc.warc, cc.group),
                    ParquetDocumentWriter(stage_folder(output, "commoncrawl", "documents")),
                ],
                tasks,
                f"{len(cc.warc)} WARC files -> HTML pages as text",
            )
        )
    tx = recipe.sources.text
    if tx is not None:
        stages.append(
            Stage(
                "text",
                "documents",
                output,
                [
                    TextSourceReader(tx.paths, tx.format, tx.text_key, tx.id_key, tx.group),
                    ParquetDocumentWriter(stage_folder(output, "text", "documents")),
                ],
                tasks,
                f"{len(tx.paths)} files -> documents",
            )
        )
    return stages
