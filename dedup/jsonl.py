"""A datatrove reader of the JSONL files `coderforge dedup` takes: {"id", "text"} plus optional keys.

The CLI validates the whole file first (a broken line is the user's to fix, so it stops the run
with its line number); this reader then only splits the records among the tasks: task `rank`
takes records rank, rank + tasks, ... so every run with the same task count sees the same split.
"""

from __future__ import annotations

import json

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.core.schema import make_document

#: record keys carried into document metadata (the keep-policy and the partitioning read them)
KNOWN_METADATA = ("stars", "created_at", "language", "source")


class JsonlRecords(PipelineStep):
    name = "jsonl records"
    type = "📖 - READER"

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with open(self.file, "rb") as f:
            lines = (raw for raw in f if not raw.isspace())  # isspace stops at the first byte; strip copies
            for i, raw in enumerate(lines):
                if i % world_size != rank:
                    continue
                rec = json.loads(raw)
                meta = {k: rec[k] for k in KNOWN_METADATA if rec.get(k) is not None}
                source = str(meta.pop("source", "text"))
                language = meta.pop("language", None)
                yield make_document(
                    str(rec["id"]), rec["text"], source=source, group="text", language=language, **meta
                )
