"""Seed and benchmark texts from JSONL (.gz/.zst) or Parquet files.

Seed sets are small and hand-made, so a broken line is a mistake the user wants to see: it is
reported with file and line number instead of being skipped.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from typing import IO, Any

import fsspec
import pyarrow.parquet as pq
import zstandard

from corpus.commoncrawl.urls import domain_of
from corpus.core.errors import UserError
from corpus.core.json_lines import BadRecord, parse_line


def _open_text(path: str) -> IO[str]:

    try:
        raw = fsspec.open(path, "rb").open()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        raw = gzip.GzipFile(fileobj=raw)
    elif head == b"\x28\xb5\x2f\xfd":
        raw = zstandard.ZstdDecompressor().stream_reader(raw)
    return io.TextIOWrapper(raw, encoding="utf-8")


def iter_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`file:line`, record) for every record of a JSONL or Parquet file."""
    if path.endswith(".parquet"):
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            raise UserError(f"{path}: file not found") from None
        except Exception as err:
            raise UserError(f"{path}: not a readable Parquet file ({err})") from None
        for i, row in enumerate(table.to_pylist()):
            yield f"{path}:row {i}", row
        return
    with _open_text(path) as f:
        try:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = parse_line(line)
                except BadRecord as err:
                    raise UserError(f"{path}:{n}: {err.detail}") from None
                if not isinstance(record, dict):
                    raise UserError(f"{path}:{n}: expected a JSON object")
                yield f"{path}:{n}", record
        except (EOFError, OSError) as err:
            raise UserError(f"{path}: compressed file is damaged or truncated ({err})") from None


def read_texts(paths: list[str], text_key: str = "text") -> list[str]:
    return read_texts_and_groups(paths, text_key)[0]


def record_group(record: dict[str, Any], fallback: str) -> str:
    """The group a seed page is held out with: its URL's host, else a package or repository key
    (`domain`, `package`, `repo`, `group`, also inside `metadata`), else the page alone."""
    meta = record.get("metadata")
    sources = [record, meta] if isinstance(meta, dict) else [record]
    for src in sources:
        url = src.get("url")
        if isinstance(url, str) and url:
            host = domain_of(url)
            if host:
                return host
        for key in ("domain", "package", "repo", "group"):
            value = src.get(key)
            if isinstance(value, str) and value:
                return value
    return fallback


def read_texts_and_groups(paths: list[str], text_key: str = "text") -> tuple[list[str], list[str]]:
    """Texts as `read_texts` reads them, and each one's hold-out group (`record_group`)."""
    texts: list[str] = []
    groups: list[str] = []
    for path in paths:
        for where, record in iter_records(path):
            value = record.get(text_key)
            if not isinstance(value, str):
                raise UserError(f"{where}: key {text_key!r} is missing or not a string")
            texts.append(value)
            groups.append(record_group(record, where))
    return texts, groups
