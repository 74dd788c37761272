"""The recipe section `sources.commoncrawl`: which WARC/WET files, and their mix group."""

from __future__ import annotations

from pydantic import Field

from corpus.core.strict import StrictModel


class CommonCrawlSource(StrictModel):
    warc: list[str] = Field(min_length=1, description="WARC/WET files, globs or URLs")
    group: str = Field("web", description="mix group (split into code/math by the recall stages)")
