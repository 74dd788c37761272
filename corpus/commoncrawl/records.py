"""Walk a WARC or WET file with fastwarc and yield usable pages; count and explain the rest.

fastwarc is fast because it trusts the file. Real crawl files break that trust in three ways, and
each is handled here instead of crashing the task or losing records silently:

* a truncated file (a download that stopped, a gzip member cut short): the last record arrives with
  fewer payload bytes than its headers promise; it is reported as `corrupt_record` (detail
  `truncated: ...`, id `<file>@<offset>`) and the file ends;
* a record whose `Content-Length` lies: too short, and fastwarc's lenient mode resynchronises on the
  next header; too long, and the record swallows its successors. We notice the short payload and,
  on a seekable file, scan forward from that record for the next record start (a gzip member or a
  `WARC/1.x` line) and continue there, so only the lying record is lost;
* a header that cannot be parsed at all: reported as `corrupt_record`, then the same resync.

Pages are decoded with the HTTP charset, else the `<meta charset>`, else uchardet (resiliparse),
and payloads above `max_bytes` are skipped unread (counted as `too_large`): one 50 MB page would
otherwise hold a worker's memory hostage for no useful text.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_SNIFF = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)", re.I | re.S)
_WARC_START = re.compile(rb"WARC/1\.[01]\r?\n")
_GZIP_MAGIC = b"\x1f\x8b\x08"

#: reasons a record is skipped, in the order a reader meets them
SKIP_REASONS = (
    "not_http_200",
    "non_html",
    "too_large",
    "corrupt_record",  # truncated payloads (detail starts with "truncated:") and unparseable records
    "empty",
    "duplicate_url",
)


@dataclass(slots=True)
class Page:
    """One usable record: HTML (from a WARC response) or plain text (from a WET conversion)."""

    record_id: str
    url: str
    date: str | None
    content: str
    is_html: bool
    charset: str | None
    offset: int
    length: int


SkipHandler = Callable[[str, str, str], None]


def _record_id(record) -> str:
    rid = record.record_id or ""
    return rid.strip("<>").removeprefix("urn:uuid:")


def _decode(body: bytes, http_charset: str | None, is_html: bool) -> tuple[str, str]:
    charset = http_charset or detect_encoding(body, from_html_meta=is_html)
    return bytes_to_str(body, charset), charset


def _is_html(content_type: str, body: bytes) -> bool:
    if content_type:
        return content_type in HTML_TYPES
    return bool(_HTML_SNIFF.match(body[:1024]))


def _next_record_start(fh: IO[bytes], start: int, gz: bool | None) -> int | None:
    """Offset of the first plausible record start at or after `start`, or None at end of file.

    `gz` says what the file's records look like (True: gzip members, False: plain `WARC/1.x`
    lines, None: unknown, take whichever comes first).
    """
    fh.seek(start)
    carry = b""
    pos = start
    while chunk := fh.read(1 << 20):
        buf = carry + chunk
        base = pos - len(carry)
        hits = []
        if gz in (None, True) and (i := buf.find(_GZIP_MAGIC)) >= 0:
            hits.append(i)
        if gz in (None, False) and (m := _WARC_START.search(buf)):
            hits.append(m.start())
        if hits:
            return base + min(hits)
        carry = buf[-8:]
        pos += len(chunk)
    return None


def iter_pages(
    path: str,
    fh: IO[bytes],
    *,
    max_bytes: int = 5_000_000,
    on_skip: SkipHandler | None = None,
    count: Callable[[str], None] | None = None,
) -> Iterator[Page]:
    """Yield the HTML responses (WARC) or text conversions (WET) of one open file.

    `on_skip(key, reason, detail)` hears about every record that does not become a page; `key` is
    the record id when known, else `<file>@<offset>`. `count(name)` is told about every record read.
    """
    name = os.path.basename(path)
    skip = on_skip or (lambda key, reason, detail: None)
    tick = count or (lambda name: None)
    seekable = _seekable(fh)
    start = 0
    kinds = WarcRecordType.response | WarcRecordType.conversion | WarcRecordType.resource
    while True:
        resync_from: int | None = None
        last_pos = start
        try:
            if start:
                fh.seek(start)
            it = ArchiveIterator(fh, record_types=kinds, parse_http=True, quirks_mode=True)
            for record in it:
                last_pos = start + record.stream_pos
                tick("records")
                page, reason, detail = _page_or_reason(record, name, last_pos, max_bytes)
                if page is not None:
                    yield page
                    continue
                if reason == "truncated":
                    # a damaged record is named by its place in the file, where one can look at it
                    skip(f"{name}@{last_pos}", "corrupt_record", f"truncated: {detail}")
                else:
                    skip(_record_id(record) or f"{name}@{last_pos}", reason, detail)
                if reason == "truncated" and seekable:
                    resync_from = last_pos + 1
                    break
        except OSError as err:
            skip(f"{name}@{last_pos}", "corrupt_record", f"{err}")
            if not seekable:
                return
            resync_from = last_pos + 1
        if resync_from is None:
            if seekable and _peek_gzip(fh, last_pos):
                cut = _incomplete_gzip_member(fh, last_pos)
                if cut is not None:
                    skip(f"{name}@{cut}", "corrupt_record", "truncated: file ends inside a gzip member")
            return
        if _is_zstd(fh, last_pos):
            # zstd frames have no marker that can be found inside compressed bytes: stop here
            return
        gz = _peek_gzip(fh, last_pos)
        nxt = _next_record_start(fh, resync_from, gz)
        if nxt is None:
            return
        tick("resyncs")
        start = nxt


def _incomplete_gzip_member(fh: IO[bytes], pos: int) -> int | None:
    """Offset of a gzip member after `pos` that the file cuts short, or None if all are whole.

    fastwarc ends quietly when the last member stops before a record header is complete, so a
    download that stopped between records would otherwise lose its tail without a trace.
    """
    fh.seek(pos)
    offset = pos
    pending = b""
    while True:
        d = zlib.decompressobj(wbits=31)
        data = pending
        pending = b""
        while not d.eof:
            if not data:
                data = fh.read(1 << 20)
                if not data:
                    return offset  # the member never ended
            try:
                d.decompress(data)
            except zlib.error:
                return offset
            data = b""
        # the member ended; whatever the decompressor did not use starts the next member
        pending = d.unused_data
        offset = fh.tell() - len(pending)
        if not pending:
            pending = fh.read(1 << 20)
            if not pending:
                return None


def _is_zstd(fh: IO[bytes], pos: int) -> bool:
    try:
        fh.seek(pos)
        return fh.read(4) == b"\x28\xb5\x2f\xfd"
    except OSError:
        return False


def _peek_gzip(fh: IO[bytes], pos: int) -> bool | None:
    try:
        fh.seek(pos)
        head = fh.read(3)
    except OSError:
        return None
    if head == _GZIP_MAGIC:
        return True
    if head[:3] == b"WAR":
        return False
    return None


def _seekable(fh: IO[bytes]) -> bool:
    try:
        return bool(fh.seekable())
    except (AttributeError, OSError):
        return False


def _page_or_reason(record, name: str, pos: int, max_bytes: int) -> tuple[Page | None, str, str]:
    url = record.headers.get("WARC-Target-URI", "") or ""
    declared = record.content_length
    rtype = record.record_type
    if rtype == WarcRecordType.conversion:
        if declared > max_bytes:
            return None, "too_large", f"{declared} bytes {url}"
        body = record.reader.read()
        if len(body) < declared:
            return None, "truncated", f"{len(body)} of {declared} bytes {url}"
        text, charset = _decode(body, None, False)
        if not text.strip():
            return None, "empty", url
        return _page(record, url, text, False, charset, pos, len(body)), "", ""
    http = record.http_headers
    status = http.status_code if http is not None else None
    if rtype == WarcRecordType.response and status != 200:
        if http is None and declared == 0:
            return None, "corrupt_record", f"unparseable HTTP block {url}"
        return None, "not_http_200", f"{status} {url}"
    content_type = (record.http_content_type or "").lower() if http is not None else ""
    if rtype == WarcRecordType.resource:
        content_type = (record.headers.get("Content-Type", "") or "").split(";")[0].strip().lower()
    if content_type and content_type not in HTML_TYPES:
        return None, "non_html", f"{content_type} {url}"
    if declared > max_bytes:
        return None, "too_large", f"{declared} bytes {url}"
    body = record.reader.read()
    if len(body) < declared:
        return None, "truncated", f"{len(body)} of {declared} bytes {url}"
    if not body.strip():
        return None, "empty", url
    if not _is_html(content_type, body):
        return None, "non_html", f"no content type, not HTML {url}"
    charset = record.http_charset if http is not None else None
    html, charset = _decode(body, charset, True)
    return _page(record, url, html, True, charset, pos, len(body)), "", ""


def _page(record, url: str, content: str, is_html: bool, charset: str | None, pos: int, n: int) -> Page:
    date = record.record_date.isoformat() if record.record_date else None
    return Page(_record_id(record), url, date, content, is_html, charset, pos, n)
