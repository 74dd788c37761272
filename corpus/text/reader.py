"""The natural-language source: the user's own JSONL or Parquet corpus.

Large user corpora always contain a few broken lines; those are counted, recorded as drops with the
file and line, and skipped. A file that ends early (a truncated .gz or .zst) keeps the records read
before the break and records one `corrupt_file` drop, so the loss is visible rather than silent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline

from corpus.core.atomic import split_url
from corpus.core.json_lines import BadRecord, parse_line
from corpus.core.schema import PROMOTED, make_document
from corpus.core.story import StoryStep


def _format_of(path: str, declared: str) -> str:
    if declared != "auto":
        return declared
    return "parquet" if path.endswith(".parquet") else "jsonl"


class TextSourceReader(StoryStep):
    name = "text reader"

    def __init__(
        self,
        paths: list[str],
        format: str = "auto",
        text_key: str = "text",
        id_key: str | None = "id",
        group: str = "text",
    ) -> None:
        super().__init__()
        self.paths = list(paths)
        self.format = format
        self.text_key = text_key
        self.id_key = id_key
        self.group = group

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if data:
            yield from data
        for path in self.paths[rank::world_size]:
            if _format_of(path, self.format) == "parquet":
                yield from self._read_parquet(path)
            else:
                yield from self._read_jsonl(path)

    def _document(self, record: Any, where: str, fallback_id: str) -> Document | None:
        if not isinstance(record, dict):
            self.drop(where, "corrupt_record", "not a JSON object")
            return None
        text = record.get(self.text_key)
        if not isinstance(text, str):
            self.drop(where, "missing_text", f"no string under key {self.text_key!r}")
            return None
        raw_id = record.get(self.id_key) if self.id_key else None
        doc_id = f"text:{raw_id if raw_id not in (None, '') else fallback_id}"
        if not text.strip():
            self.drop(doc_id, "empty")
            return None
        extra = {
            k: v
            for k, v in record.items()
            if k not in (self.text_key, self.id_key) and k not in PROMOTED and v is not None
        }
        self.stat_update("documents_in")
        self.stat_update("bytes_in", value=len(text.encode("utf-8")), unit="doc")
        return make_document(
            doc_id, text, source="text", group=self.group, language=record.get("language"), **extra
        )

    def _read_jsonl(self, path: str) -> Iterator[Document]:
        fs, p = split_url(path)
        name = os.path.basename(p)
        lineno = 0
        try:
            with fs.open(p, "rb", compression="infer") as f:
                for lineno, raw in enumerate(f, start=1):
                    where = f"{name}:{lineno}"
                    if not raw.strip():
                        continue
                    try:
                        record = parse_line(raw)
                    except BadRecord as e:
                        self.drop(where, e.reason, e.detail)
                        continue
                    doc = self._document(record, where, f"{name}:{lineno}")
                    if doc is not None:
                        yield doc
        except (EOFError, OSError, ValueError) as e:  # truncated .gz / .zst, unreadable file
            self.drop(f"{name}:{lineno + 1}", "corrupt_file", f"{type(e).__name__}: {e}")

    def _read_parquet(self, path: str) -> Iterator[Document]:
        fs, p = split_url(path)
        name = os.path.basename(p)
        row = 0
        try:
            with fs.open(p, "rb") as fh:
                for batch in pq.ParquetFile(fh).iter_batches(batch_size=2_000):
                    for record in batch.to_pylist():
                        row += 1
                        doc = self._document(record, f"{name}:{row}", f"{name}:{row}")
                        if doc is not None:
                            yield doc
        except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) on damage
            self.drop(f"{name}:{row + 1}", "corrupt_file", f"{type(e).__name__}: {e}")
