"""Common Crawl WARC/WET files into documents.

Only HTTP 200 HTML responses (and WET text conversions) become documents; every other record
(non-HTML payloads, redirects, errors, oversized pages, repeated URLs, and damage: a lying
Content-Length, a cut or undecodable gzip member, garbage between records) is recorded as a drop
with its reason, damage under `<file>@<offset>`, so the web funnel can be read off `coderforge
inspect`. Reading (`records.iter_pages`) goes on after every such damage at the next sound record;
extraction (`extract.MathCodeExtractor`) keeps formulas and code listings.

Files are opened through `sources.open_binary`: local paths, any fsspec URL, and HTTPS with
retries and resumable range requests; `cc://CC-MAIN-2024-10/warc?segments=...&first=N` names a
crawl and a selection of its files (see `sources.expand_inputs`). URL dedup here is per task (a task reads whole files); the
recall loop, which sees every page, dedups across tasks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from datatrove.data import Document, DocumentsPipeline

from corpus.commoncrawl.extract import MathCodeExtractor
from corpus.commoncrawl.records import iter_pages
from corpus.commoncrawl.sources import expand_inputs, open_binary
from corpus.commoncrawl.urls import UrlDeduper, domain_of, normalize_url
from corpus.core.schema import make_document
from corpus.core.story import StoryStep


class WarcDocumentReader(StoryStep):
    name = "warc reader"

    def __init__(
        self,
        paths: list[str],
        group: str = "web",
        main_content: bool = True,
        max_bytes: int = 5_000_000,
        min_chars: int = 1,
        dedup_urls: bool = True,
    ) -> None:
        super().__init__()
        self.paths = list(paths)
        self.group = group
        self.main_content = main_content
        self.max_bytes = max_bytes
        self.min_chars = min_chars
        self.dedup_urls = dedup_urls

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if data:
            yield from data
        extractor = MathCodeExtractor(main_content=self.main_content)
        deduper = UrlDeduper() if self.dedup_urls else None
        for path in expand_inputs(self.paths)[rank::world_size]:
            self.stat_update("files")
            yield from self._read(path, extractor, deduper)

    def _skip(self, key: str, reason: str, detail: str) -> None:
        doc_id = key if "@" in key else f"cc:{key}"
        self.drop(doc_id, reason, detail)

    def _read(
        self, path: str, extractor: MathCodeExtractor, deduper: UrlDeduper | None
    ) -> Iterator[Document]:
        name = os.path.basename(path.rstrip("/"))
        with open_binary(path) as fh:
            pages = iter_pages(
                path, fh, max_bytes=self.max_bytes, on_skip=self._skip, count=lambda k: self.stat_update(k)
            )
            for page in pages:
                doc_id = f"cc:{page.record_id}" if page.record_id else f"cc:{name}@{page.offset}"
                if deduper is not None and page.url and not deduper.is_new(page.url):
                    self.drop(doc_id, "duplicate_url", page.url)
                    continue
                with self.track_time():
                    text = extractor.extract(page.content) if page.is_html else page.content.strip()
                if len(text) < self.min_chars:
                    self.drop(doc_id, "empty", page.url)
                    continue
                self.stat_update("documents_in")
                self.stat_update("bytes_in", value=page.length, unit="doc")
                yield make_document(
                    doc_id,
                    text,
                    source="commoncrawl",
                    group=self.group,
                    url=normalize_url(page.url) if page.url else None,
                    domain=domain_of(page.url),
                    warc_file=name,
                    warc_date=page.date,
                    charset=page.charset,
                )
