"""Walk a WARC or WET file with fastwarc and yield usable pages; count and explain the rest.

fastwarc is fast because it trusts the file. Real crawl files break that trust, and each break is
handled here instead of crashing the task or losing records silently. A damaged record is named by
its place in the file, `<file>@<offset>` (the offset of its gzip member, or of its `WARC/1.x` line
in an uncompressed file), where one can look at it:

* a `Content-Length` longer than the record: fastwarc would take the following records for this
  one's payload, or skip them all while skipping it. So every payload, read or skipped, is taken in
  bounded steps while the gzip reader is watched: a payload that crosses into the next gzip member
  (Common Crawl writes one record per member), or that a whole member ends before, is `bad_length`,
  and reading resumes at the next member, found exactly by decompressing the lying record's own
  member to its end. In an uncompressed file it resumes at the next `WARC/1.x` line; there a last
  record that claims more than the file holds cannot be told from a cut file and is `truncated`.
  A `Content-Length` that is not a number is `bad_length` too. Every record type is walked, not
  only those that can be pages: a lying request or metadata record would otherwise swallow its
  successors out of sight;
* a file that ends early (a download that stopped, a gzip member cut short): the cut record is
  `corrupt_record` with detail `truncated: ...`, and so is a member cut between two records;
* a gzip member that does not decompress is `corrupt_record`; bytes between members that are no
  gzip member at all are `corrupt_record` with detail `garbage: ...`. Reading resumes at the next
  member that decompresses to a WARC record (a bare gzip magic number inside compressed bytes is
  not enough).

zstd files and unseekable streams are not resynchronised: a damaged record there ends the file,
reported as `truncated`. Nor is a gzip member that holds many records (a file compressed as one
stream): the records after a lying one in the same member are lost, and its drop says so.

Pages are decoded with the HTTP charset (when Python knows it), else the `<meta charset>`, else
uchardet (resiliparse), and payloads above `max_bytes` are skipped without being kept (counted as
`too_large`): one 50 MB page would otherwise hold a worker's memory hostage for no useful text.
"""

from __future__ import annotations

import codecs
import os
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, TypeVar

from fastwarc.stream_io import GzipReader
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_SNIFF = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)", re.I | re.S)
#: a record's first line, at the start of a line (the match starts at the newline before it)
_WARC_LINE = re.compile(rb"\nWARC/1\.[01]\r?\n")
_GZIP_MAGIC = b"\x1f\x8b\x08"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: record types that can become pages; the others are walked only to check their lengths
_PAGE_TYPES = WarcRecordType.response | WarcRecordType.conversion | WarcRecordType.resource
#: payloads are skipped, and files scanned, this many bytes at a time
_CHUNK = 1 << 20

#: reasons a record is skipped, in the order a reader meets them
SKIP_REASONS = (
    "bad_length",  # Content-Length past the record's gzip member, the next record or the file end
    "not_http_200",
    "non_html",
    "too_large",
    "corrupt_record",  # cut records ("truncated:"), undecodable members, garbage ("garbage:")
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
_T = TypeVar("_T")


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
    the record id when known, else `<file>@<offset>`. `count(name)` is told about every record that
    could have been a page (`records`) and every jump over damage (`resyncs`).
    """
    walk = _Walk(
        os.path.basename(path),
        fh,
        max_bytes,
        on_skip or (lambda key, reason, detail: None),
        count or (lambda name: None),
    )
    yield from walk.pages()


@dataclass(slots=True)
class _Jump:
    """The record just handled was damaged; go on reading at `to` (None: the file is done)."""

    to: int | None


class _Payload:
    """One record's payload, read or skipped in bounded steps and checked against its length.

    `spilled`: reading it moved the gzip reader into the next member, so the Content-Length is
    longer than the member that holds the record; `got < record.content_length`: the file ended
    first. A payload is skipped a chunk at a time, so a length of 99,999,999 costs one chunk past
    its member, not the rest of the file.
    """

    __slots__ = ("frames", "got", "member", "record", "spilled")

    def __init__(self, record: WarcRecord, frames: GzipReader | None, member: int) -> None:
        self.record = record
        self.frames = frames
        self.member = member
        self.got = 0
        self.spilled = False

    def read(self) -> bytes:
        body = self.record.reader.read()
        self.got += len(body)
        self._watch()
        return body

    def finish(self) -> None:
        while not self.spilled:
            n = self.record.consume(_CHUNK)
            self.got += n
            self._watch()
            if n < _CHUNK:
                return

    @property
    def faulty(self) -> bool:
        return self.spilled or self.got < self.record.content_length

    def _watch(self) -> None:
        if self.frames is not None and self.frames.frame_start_position() != self.member:
            self.spilled = True


class _Walk:
    """One file, read by fastwarc in segments: a segment runs until the file ends or damage that
    fastwarc cannot step over, and the next one starts at the first sound record after it."""

    def __init__(
        self, name: str, fh: IO[bytes], max_bytes: int, skip: SkipHandler, tick: Callable[[str], None]
    ) -> None:
        self.name = name
        self.fh = fh
        self.max_bytes = max_bytes
        self.skip = skip
        self.tick = tick
        self.seekable = _seekable(fh)
        #: seen two records in one gzip member: a lying length there hides the rest of the member
        self.shared_members = False

    def pages(self) -> Iterator[Page]:
        start: int | None = 0
        while start is not None:
            resume = yield from self._segment(start)
            if resume is not None:
                if resume <= start:  # every jump moves forward, so no damage is read twice
                    return
                self.tick("resyncs")
            start = resume

    def _segment(self, start: int) -> Generator[Page, None, int | None]:
        """The pages from `start` on; returns where to go on after damage, None at the end."""
        kind = _kind_at(self.fh, start) if self.seekable else ""
        frames = GzipReader(self.fh) if kind == "gzip" else None
        records = ArchiveIterator(
            frames if frames is not None else self.fh, parse_http=False, quirks_mode=True
        )
        member = start  # where the last record begun starts (its gzip member, if compressed)
        busy: WarcRecord | None = None  # the record being handled, if any
        seen = 0
        try:
            for busy in records:
                at = frames.frame_start_position() if frames is not None else None
                if seen and at == member:
                    self.shared_members = True
                seen += 1
                member = at if at is not None else start + busy.stream_pos
                outcome = self._record(busy, frames, member, kind)
                if isinstance(outcome, _Jump):
                    return outcome.to
                busy = None
                if outcome is not None:
                    yield outcome
        except OSError as err:
            return self._after_error(err, kind, busy, member)
        if kind != "gzip":
            return None
        return self._check_tail(member)

    def _record(
        self, record: WarcRecord, frames: GzipReader | None, pos: int, kind: str
    ) -> Page | _Jump | None:
        wanted = bool(record.record_type & _PAGE_TYPES)
        if wanted:
            self.tick("records")
        declared = (record.headers.get("Content-Length") or "").strip()
        if not declared.isdigit():
            # fastwarc's lenient mode finds the next record by its header line
            self.skip(
                f"{self.name}@{pos}",
                "bad_length",
                f"Content-Length {declared!r} is not a number {_url(record)}",
            )
            return None
        if wanted and record.is_http:
            record.parse_http()
        payload = _Payload(record, frames, pos)
        page, reason, detail = None, "", ""
        if wanted:
            page, reason, detail = _page_or_reason(record, payload, _url(record), pos, self.max_bytes)
        payload.finish()
        if payload.faulty:
            return _Jump(self._bad_length(record, payload, pos, kind, _url(record)))
        if page is None and reason:
            self.skip(_record_id(record) or f"{self.name}@{pos}", reason, detail)
        return page

    def _bad_length(self, record: WarcRecord, payload: _Payload, pos: int, kind: str, url: str) -> int | None:
        """Record a payload that does not fit its Content-Length; where to go on reading."""
        key = f"{self.name}@{pos}"
        declared = record.headers.get("Content-Length")
        cut = f"truncated: {payload.got} of {record.content_length} bytes {url}"
        if not self.seekable or kind == "zstd":
            self.skip(key, "corrupt_record", cut)
            return None
        if kind == "gzip":
            end = self._find(_member_end, pos)
            if end is None:  # the member itself is cut short (or broken): the file, not the length
                self.skip(key, "corrupt_record", cut)
                return self._find(_next_member, pos + 1)
            where = "its gzip member" if payload.spilled else "the file"
            lost = "; records after it in the same gzip member are lost" if self.shared_members else ""
            self.skip(
                key, "bad_length", f"Content-Length {declared} runs past the end of {where}{lost} {url}"
            )
            return self._member_at(end)
        nxt = self._find(_next_warc_line, pos + 1)
        if nxt is None:
            self.skip(key, "corrupt_record", cut)
            return None
        self.skip(key, "bad_length", f"Content-Length {declared} runs past the next record, at {nxt} {url}")
        return nxt

    def _after_error(self, err: OSError, kind: str, busy: WarcRecord | None, member: int) -> int | None:
        """fastwarc could not go on (a member that does not decompress, garbage, a lost
        connection): record the damage where it starts and find the next sound record."""
        if not self.seekable or kind != "gzip":
            self.skip(f"{self.name}@{member}", "corrupt_record", str(err))
            if not self.seekable or kind == "zstd":
                return None
            return self._find(_next_warc_line, member + 1)
        if busy is not None:
            end = self._find(_member_end, member)
            if end is not None:
                # the record's own member is whole, so reading it went on into the broken next one
                self.skip(
                    f"{self.name}@{member}",
                    "bad_length",
                    f"Content-Length {busy.headers.get('Content-Length')} runs past the end of its "
                    f"gzip member {_url(busy)}",
                )
                return self._member_at(end)
            self.skip(f"{self.name}@{member}", "corrupt_record", str(err))
            return self._find(_next_member, member + 1)
        # between records: the member after the last whole one is broken, or is no member at all
        bad = self._find(_first_bad_member, member)
        if bad is None:
            bad = member
        resume = self._find(_next_member, bad + 1)
        if self._find(_starts_with, bad, _GZIP_MAGIC):
            self.skip(f"{self.name}@{bad}", "corrupt_record", str(err))
        else:
            self.skip(f"{self.name}@{bad}", "corrupt_record", _garbage(bad, resume))
        return resume

    def _check_tail(self, member: int) -> int | None:
        """fastwarc ends quietly when the last member stops before a record header is complete, or
        at bytes that are no gzip member: without this look, such a tail would vanish unreported."""
        bad = self._find(_first_bad_member, member)
        if bad is None:
            return None
        resume = self._find(_next_member, bad + 1)
        if self._find(_starts_with, bad, _GZIP_MAGIC):
            self.skip(f"{self.name}@{bad}", "corrupt_record", "truncated: file ends inside a gzip member")
        else:
            self.skip(f"{self.name}@{bad}", "corrupt_record", _garbage(bad, resume))
        return resume

    def _member_at(self, pos: int) -> int | None:
        """`pos` if a gzip member starts there; else the bytes from `pos` on are garbage, recorded,
        and the next member after them is where reading goes on (None: the file is done)."""
        if not self._find(_has_bytes, pos):
            return None
        if self._find(_starts_with, pos, _GZIP_MAGIC):
            return pos
        resume = self._find(_next_member, pos + 1)
        self.skip(f"{self.name}@{pos}", "corrupt_record", _garbage(pos, resume))
        return resume

    def _find(self, look: Callable[..., _T], pos: int, *args) -> _T | None:
        """A look at the raw file; a read error there ends the file (recorded), not the task."""
        try:
            return look(self.fh, pos, *args)
        except OSError as err:
            self.skip(f"{self.name}@{pos}", "corrupt_record", f"unreadable from here: {err}")
            return None


def _garbage(bad: int, resume: int | None) -> str:
    if resume is None:
        return "garbage: bytes that are not a gzip member, up to the end of the file"
    return f"garbage: {resume - bad} bytes that are not a gzip member"


def _read_at(fh: IO[bytes], pos: int, n: int) -> bytes:
    fh.seek(pos)
    return fh.read(n)


def _starts_with(fh: IO[bytes], pos: int, prefix: bytes) -> bool:
    return _read_at(fh, pos, len(prefix)) == prefix


def _has_bytes(fh: IO[bytes], pos: int) -> bool:
    return bool(_read_at(fh, pos, 1))


def _kind_at(fh: IO[bytes], pos: int) -> str:
    """What the records from `pos` on look like: gzip, zstd, warc (uncompressed) or "" (unknown).

    Leaves the file at `pos`, where fastwarc starts reading.
    """
    try:
        head = _read_at(fh, pos, 4)
        fh.seek(pos)
    except OSError:
        return ""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head == _ZSTD_MAGIC:
        return "zstd"
    return "warc" if head.startswith(b"WAR") else ""


def _member_end(fh: IO[bytes], pos: int) -> int | None:
    """Where the gzip member that starts at `pos` ends, or None if it is cut short or broken."""
    fh.seek(pos)
    d = zlib.decompressobj(wbits=31)
    read = 0
    while not d.eof:
        data = fh.read(_CHUNK)
        if not data:
            return None
        read += len(data)
        try:
            # only the member's end is wanted: the output is made, and dropped, a chunk at a time
            while data and not d.eof:
                d.decompress(data, _CHUNK)
                data = d.unconsumed_tail
        except zlib.error:
            return None
    return pos + read - len(d.unused_data)


def _first_bad_member(fh: IO[bytes], pos: int) -> int | None:
    """Offset of the first gzip member from `pos` on that does not decompress to its end (or of
    the first bytes that are no member), or None when every member to the end of the file is whole.
    """
    while _has_bytes(fh, pos):
        end = _member_end(fh, pos)
        if end is None:
            return pos
        pos = end
    return None


def _next_member(fh: IO[bytes], start: int) -> int | None:
    """Offset of the first gzip member at or after `start` that decompresses to a WARC record.

    The three magic bytes of a gzip header also occur by chance inside compressed data (about once
    in 16 MB), so each candidate is decompressed a little before it is believed.
    """
    return _scan(fh, start, _GZIP_MAGIC, lambda pos: _opens_record(fh, pos))


def _next_warc_line(fh: IO[bytes], start: int) -> int | None:
    """Offset of the first `WARC/1.x` line after `start` (uncompressed files)."""
    return _scan(fh, start, _WARC_LINE, None)


def _scan(
    fh: IO[bytes], start: int, needle: bytes | re.Pattern[bytes], accept: Callable[[int], bool] | None
) -> int | None:
    """First offset from `start` on where `needle` occurs (for a pattern: one past the start of
    its match, which begins at a newline) and `accept` agrees; read a chunk at a time."""
    overlap = 16  # longer than any needle, so a match that starts in one chunk is whole in its buffer
    pos = start
    while True:
        buf = _read_at(fh, pos, _CHUNK + overlap)
        if isinstance(needle, re.Pattern):
            hits = ((m.start(), m.start() + 1) for m in needle.finditer(buf))
        else:
            hits = ((i, i) for i in _all_found(buf, needle))
        for begins, found in hits:
            if begins < _CHUNK and (accept is None or accept(pos + found)):
                return pos + found
        if len(buf) < _CHUNK + overlap:
            return None
        pos += _CHUNK


def _all_found(buf: bytes, needle: bytes) -> Iterator[int]:
    i = buf.find(needle)
    while i >= 0:
        yield i
        i = buf.find(needle, i + 1)


def _opens_record(fh: IO[bytes], pos: int) -> bool:
    try:
        head = zlib.decompressobj(wbits=31).decompress(_read_at(fh, pos, 1 << 14), 64)
    except zlib.error:
        return False
    return head.lstrip(b"\r\n").startswith(b"WARC/")


def _seekable(fh: IO[bytes]) -> bool:
    try:
        return bool(fh.seekable())
    except (AttributeError, OSError):
        return False


def _url(record: WarcRecord) -> str:
    return record.headers.get("WARC-Target-URI", "") or ""


def _record_id(record: WarcRecord) -> str:
    rid = record.record_id or ""
    return rid.strip("<>").removeprefix("urn:uuid:")


def _known_charset(label: str | None) -> str | None:
    """The HTTP charset if Python can decode it: servers send labels like `utf8mb4` or `none`."""
    if not label:
        return None
    try:
        codecs.lookup(label)
    except LookupError:
        return None
    return label


def _decode(body: bytes, http_charset: str | None, is_html: bool) -> tuple[str, str]:
    charset = _known_charset(http_charset) or detect_encoding(body, from_html_meta=is_html)
    return bytes_to_str(body, charset), charset


def _is_html(content_type: str, body: bytes) -> bool:
    if content_type:
        return content_type in HTML_TYPES
    return bool(_HTML_SNIFF.match(body[:1024]))


def _page_or_reason(
    record: WarcRecord, payload: _Payload, url: str, pos: int, max_bytes: int
) -> tuple[Page | None, str, str]:
    """The record's page, or why it is none. A payload too long for its record returns neither:
    the caller reports it as damage, after skipping what is left of it."""
    declared = record.content_length
    rtype = record.record_type
    if rtype == WarcRecordType.conversion:
        if declared > max_bytes:
            return None, "too_large", f"{declared} bytes {url}"
        body = payload.read()
        if payload.faulty:
            return None, "", ""
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
    body = payload.read()
    if payload.faulty:
        return None, "", ""
    if not body.strip():
        return None, "empty", url
    if not _is_html(content_type, body):
        return None, "non_html", f"no content type, not HTML {url}"
    charset = record.http_charset if http is not None else None
    html, charset = _decode(body, charset, True)
    return _page(record, url, html, True, charset, pos, len(body)), "", ""


def _page(
    record: WarcRecord, url: str, content: str, is_html: bool, charset: str | None, pos: int, n: int
) -> Page:
    date = record.record_date.isoformat() if record.record_date else None
    return Page(_record_id(record), url, date, content, is_html, charset, pos, n)
