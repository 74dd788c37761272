"""The on-disk shape of documents and drop records.

Every stage writes documents with the same six columns, so any stage's output can be read by any
later stage, by datatrove's own `ParquetReader`, by polars in a notebook, or by `coderforge
inspect`. Per-source details live in one JSON column with sorted keys: a fixed schema keeps Parquet
files byte-identical across runs and lets files from different sources be scanned together.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from datatrove.data import Document

DOCUMENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("group", pa.string()),
        ("language", pa.string()),
        ("metadata", pa.string()),
    ]
)

DROP_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)

#: metadata keys promoted to their own column
PROMOTED = ("source", "group", "language")


def make_document(
    doc_id: str, text: str, source: str, group: str, language: str | None = None, **metadata: Any
) -> Document:
    """A datatrove Document carrying the promoted fields in its metadata."""
    meta = {k: v for k, v in metadata.items() if v is not None}
    meta.update(source=source, group=group, language=language)
    return Document(text=text, id=doc_id, metadata=meta)


def document_to_row(doc: Document) -> dict[str, Any]:
    meta = dict(doc.metadata)
    row = {"id": str(doc.id), "text": doc.text}
    for key in PROMOTED:
        value = meta.pop(key, None)
        row[key] = None if value is None else str(value)
    row["metadata"] = json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)
    return row


def row_to_document(row: dict[str, Any]) -> Document:
    meta = json.loads(row.get("metadata") or "{}")
    for key in PROMOTED:
        meta[key] = row.get(key)
    return Document(text=row["text"], id=row["id"], metadata=meta)
