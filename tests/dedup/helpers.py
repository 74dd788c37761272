"""Shared set-up for the dedup tests: input stage folders written with the real Parquet writer."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import Document

from corpus.app.runner import RunSettings, run_stages
from corpus.core.parquet_io import ParquetDocumentWriter
from corpus.core.schema import make_document
from dedup.config import DedupConfig
from dedup.stages import dedup_stages, layout_for


def doc(doc_id: str, text: str, source: str = "text", language: str | None = None, **meta) -> Document:
    return make_document(doc_id, text, source=source, group="text", language=language, **meta)


def write_input(output: Path, docs: list[Document], files: int = 2, source: str = "text") -> None:
    """`OUTPUT/<source>/documents/data/NNNNN.parquet`, documents dealt round-robin over files."""
    folder = str(output / source / "documents")
    for rank in range(files):
        writer = ParquetDocumentWriter(folder)
        for _ in writer.run(iter(docs[rank::files]), rank=rank, world_size=files):
            pass


def run_dedup(output: Path, config: DedupConfig | None = None, tasks: int = 2, source: str = "text", **kw):
    config = config or DedupConfig()
    stages = dedup_stages(config, source, str(output), tasks)
    run_stages(stages, RunSettings(workers=1, **kw))
    return stages, layout_for(stages)


def kept_ids(output: Path, source: str = "text") -> list[str]:
    files = sorted((output / source / "dedup" / "data").glob("*.parquet"))
    return sorted(i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())


def drops(output: Path, source: str = "text", stage: str = "dedup") -> dict[str, tuple[str, dict]]:
    """dropped id -> (reason, detail)"""
    out = {}
    for f in sorted((output / source / stage / "drops").rglob("*.parquet")):
        for row in pq.read_table(f).to_pylist():
            out[row["id"]] = (row["reason"], json.loads(row["detail"]))
    return out
