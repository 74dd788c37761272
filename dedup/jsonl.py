"""A datatrove reader of the JSONL files `coderforge dedup` takes: {"id", "text"} plus optional keys.

The CLI validates the whole file first (a broken line is the user's to fix, so it stops the run
with its line number); this reader then splits the records among the tasks: task `rank` takes
records rank, rank + tasks, ... (blank lines do not count) so every run with the same task count
sees the same split. A file that reaches the reader without that check (a benchmark, a pipeline of
one's own) still never stops on one line: a line that is not a record (invalid UTF-8 or JSON,
nested too deeply, no id or text) is dropped with its `file:line`, and the reading goes on. Lines
are parsed by `parse_line`, the one JSONL parser of the project (lone surrogates become U+FFFD).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from datatrove.data import Document, DocumentsPipeline

from corpus.core.json_lines import BadRecord, parse_line
from corpus.core.schema import make_document
from corpus.core.story import StoryStep

#: record keys carried into document metadata (the keep-policy and the partitioning read them)
KNOWN_METADATA = ("stars", "created_at", "language", "source")


class JsonlRecords(StoryStep):
    name = "jsonl records"
    type = "📖 - READER"

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if data:
            yield from data
        name = os.path.basename(self.file)
        with open(self.file, "rb") as f:
            index = -1
            for lineno, raw in enumerate(f, start=1):
                if raw.isspace():  # isspace stops at the first byte; strip copies
                    continue
                index += 1
                if index % world_size != rank:
                    continue
                where = f"{name}:{lineno}"
                try:
                    record = parse_line(raw)
                except BadRecord as e:
                    self.drop(where, e.reason, e.detail)
                    continue
                except RecursionError:  # a deep line with escapes can outrun the surrogate walk
                    self.drop(where, "corrupt_record", "JSON nested too deeply")
                    continue
                doc = self._document(record, where)
                if doc is not None:
                    yield doc

    def _document(self, rec: Any, where: str) -> Document | None:
        if not isinstance(rec, dict):
            self.drop(where, "corrupt_record", "not a JSON object")
            return None
        doc_id, text = rec.get("id"), rec.get("text")
        if not isinstance(doc_id, str | int) or doc_id == "":
            self.drop(where, "corrupt_record", 'no "id" (a non-empty string or a number)')
            return None
        if not isinstance(text, str):
            self.drop(where, "missing_text", 'no "text" string')
            return None
        meta = {k: rec[k] for k in KNOWN_METADATA if rec.get(k) is not None}
        source = str(meta.pop("source", "text"))
        language = meta.pop("language", None)
        return make_document(str(doc_id), text, source=source, group="text", language=language, **meta)
