"""The recipe section `sources.text`: natural-language JSONL or Parquet files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from corpus.core.strict import StrictModel


class TextSource(StrictModel):
    paths: list[str] = Field(min_length=1, description="JSONL (.gz/.zst) or Parquet files, or globs")
    format: Literal["auto", "jsonl", "parquet"] = "auto"
    text_key: str = "text"
    id_key: str | None = "id"
    group: str = "text"
