"""Common Crawl WARC files into documents, with fastwarc.

Only HTTP 200 HTML responses become documents; every other record (non-HTML payloads, redirects,
errors) is recorded as a drop with its reason, so the web funnel can be read off `coderforge
inspect`. fastwarc stops quietly at a truncated gzip/zstd member; we check the tail of each file
after reading it and record the truncation as a `corrupt_record` drop instead of losing it silently.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from datatrove.data import Document, DocumentsPipeline
from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree

from corpus.atomic import split_url
from corpus.schema import make_document
from corpus.story import StoryStep

HTML_TYPES = ("text/html", "application/xhtml+xml")


def domain_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def _tail_complete(data: bytes, gz: bool) -> bool:
    """True when `data` (from a record boundary to EOF) is a sequence of complete members."""
    if not gz:
        return True
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            d.decompress(data)
        except zlib.error:
            return False
        if not d.eof:
            return False
        data = d.unused_data
    return True


class WarcDocumentReader(StoryStep):
    name = "warc reader"

    def __init__(self, paths: list[str], group: str = "web", main_content: bool = True) -> None:
        super().__init__()
        self.paths = list(paths)
        self.group = group
        self.main_content = main_content

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if data:
            yield from data
        for path in self.paths[rank::world_size]:
            yield from self._read(path)

    def _read(self, path: str) -> Iterator[Document]:
        fs, p = split_url(path)
        name = os.path.basename(p)
        last_pos = 0
        with fs.open(p, "rb") as fh:
            try:
                for record in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                    last_pos = record.stream_pos
                    doc = self._document(record, name)
                    if doc is not None:
                        yield doc
            except Exception as e:  # fastwarc raises on damaged headers; keep what came before
                self.drop(f"{name}@{last_pos}", "corrupt_record", f"{type(e).__name__}: {e}")
                return
        if p.endswith(".gz"):
            with fs.open(p, "rb") as fh:
                fh.seek(last_pos)
                if not _tail_complete(fh.read(), gz=True):
                    self.stat_update("truncated_files")
                    self.drop(f"{name}@{last_pos}", "corrupt_record", "file ends inside a gzip member")

    def _document(self, record, warc_name: str) -> Document | None:
        record_id = record.record_id.strip("<>").removeprefix("urn:uuid:")
        doc_id = f"cc:{record_id}"
        url = record.headers.get("WARC-Target-URI", "")
        status = record.http_headers.status_code if record.http_headers else None
        body = record.reader.read()
        self.stat_update("records")
        if status != 200:
            self.drop(doc_id, "http_status", f"{status} {url}")
            return None
        content_type = (record.http_content_type or "").lower()
        if content_type not in HTML_TYPES:
            self.drop(doc_id, "non_html", f"{content_type or 'no content type'} {url}")
            return None
        if record.content_length and len(body) == 0:
            self.drop(doc_id, "corrupt_record", f"empty payload {url}")
            return None
        charset = record.http_charset or detect_encoding(body)
        html = bytes_to_str(body, charset)
        text = extract_plain_text(
            HTMLTree.parse(html), main_content=self.main_content, preserve_formatting=True
        ).strip()
        if not text:
            self.drop(doc_id, "empty", url)
            return None
        self.stat_update("documents_in")
        self.stat_update("bytes_in", value=len(body), unit="doc")
        return make_document(
            doc_id,
            text,
            source="commoncrawl",
            group=self.group,
            url=url,
            domain=domain_of(url),
            warc_file=warc_name,
            warc_date=record.record_date.isoformat() if record.record_date else None,
            charset=charset,
        )
