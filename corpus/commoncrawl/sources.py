"""Where WARC/WET bytes come from: local paths, fsspec URLs, HTTPS with resumable retries, and
Common Crawl crawl ids expanded through the crawl's paths file.

A Common Crawl WARC file is ~1 GB; a connection reset at 900 MB must not restart the download nor
abort the task. `ResumableHttpReader` is a read-only file object that, on a dropped connection or a
5xx answer, reopens the URL with a `Range: bytes=<offset>-` header and continues where it stopped,
so fastwarc's streaming decompressor never notices.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import re
import time
import urllib.error
import urllib.request
from typing import IO
from urllib.parse import parse_qs, urlsplit

import fsspec

from corpus.core.errors import UserError

log = logging.getLogger(__name__)

CC_BASE_URL = "https://data.commoncrawl.org/"
_CRAWL_ID = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class ResumableHttpReader(io.RawIOBase):
    """Streams an HTTP(S) body; reconnects with a Range request after a failure.

    `retries` bounds the reconnects in a row without progress; any byte received resets the
    count, so a long download over a flaky link still finishes. Backoff doubles from
    `backoff_s` up to 30 s.
    """

    def __init__(
        self, url: str, *, retries: int = 5, backoff_s: float = 0.5, timeout_s: float = 60.0
    ) -> None:
        super().__init__()
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.offset = 0
        self.length: int | None = None
        self.reconnects = 0
        self._resp = None
        self._eof = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.offset

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        """Seeking is a new range request (fastwarc asks for the position; the record walker jumps
        to the next record start after a damaged one)."""
        if whence == io.SEEK_CUR:
            pos += self.offset
        elif whence == io.SEEK_END:
            if self.length is None:
                raise OSError(f"{self.url}: length unknown, cannot seek from the end")
            pos += self.length
        if pos < 0:
            raise ValueError("negative seek position")
        if pos != self.offset:
            self._close_resp()
            self.offset = pos
            self._eof = self.length is not None and pos >= self.length
        return self.offset

    def _open(self) -> None:
        headers = {"User-Agent": "coderforge/0.1 (+corpus build)"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        req = urllib.request.Request(self.url, headers=headers)
        resp = urllib.request.urlopen(req, timeout=self.timeout_s)
        status = getattr(resp, "status", 200)
        if self.offset and status != 206:
            resp.close()
            raise OSError(f"{self.url}: server ignored the range request (HTTP {status}); cannot resume")
        if self.length is None:
            size = resp.headers.get("Content-Length")
            self.length = int(size) if size and status == 200 else None
        self._resp = resp

    def _fail(self, err: Exception, attempt: int) -> None:
        if isinstance(err, urllib.error.HTTPError) and err.code not in _RETRY_STATUS:
            if err.code == 416 and self.length is not None and self.offset >= self.length:
                self._eof = True
                return
            raise OSError(f"{self.url}: HTTP {err.code}") from err
        if attempt >= self.retries:
            raise OSError(
                f"{self.url}: giving up after {attempt} retries at byte {self.offset}: {err}"
            ) from err
        delay = min(30.0, self.backoff_s * 2**attempt)
        log.warning("%s: %s at byte %d; retrying in %.1fs", self.url, err, self.offset, delay)
        self._close_resp()
        time.sleep(delay)
        self.reconnects += 1

    def _close_resp(self) -> None:
        if self._resp is not None:
            with contextlib.suppress(OSError):
                self._resp.close()
            self._resp = None

    def readinto(self, buffer) -> int:  # type: ignore[override]
        attempt = 0
        while not self._eof:
            try:
                if self._resp is None:
                    self._open()
                n = self._resp.readinto(buffer)  # type: ignore[union-attr]
            except (OSError, urllib.error.URLError) as err:
                self._fail(err, attempt)
                attempt += 1
                continue
            if n:
                self.offset += n
                return n
            # a clean end of body: finished only if the whole advertised length arrived
            if self.length is not None and self.offset < self.length:
                self._fail(OSError(f"connection closed at {self.offset} of {self.length} bytes"), attempt)
                attempt += 1
                continue
            self._eof = True
        return 0

    def close(self) -> None:
        self._close_resp()
        super().close()


def open_binary(path: str, *, retries: int = 5) -> IO[bytes]:
    """A readable binary stream for a local path, an http(s) URL or any fsspec URL."""
    if path.startswith(("http://", "https://")):
        return io.BufferedReader(ResumableHttpReader(path, retries=retries), buffer_size=1 << 20)
    if "://" in path:
        try:
            return fsspec.open(path, "rb").open()
        except (ImportError, ValueError) as err:
            raise UserError(f"{path}: cannot open this URL with fsspec ({err})") from err
    try:
        return open(path, "rb")
    except FileNotFoundError as err:
        raise UserError(f"{path}: no such WARC/WET file") from err
    except IsADirectoryError as err:
        raise UserError(f"{path}: is a folder, expected a WARC/WET file") from err


def read_paths_file(location: str) -> list[str]:
    """Lines of a Common Crawl `*.paths[.gz]` file (local, URL or fsspec)."""
    with open_binary(location) as raw:
        data = raw.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def crawl_paths(
    crawl_id: str,
    *,
    kind: str = "warc",
    paths_file: str | None = None,
    segments: list[str] | None = None,
    first: int | None = None,
    base_url: str = CC_BASE_URL,
) -> list[str]:
    """Full URLs of one crawl's WARC (or WET) files, narrowed to a segment selection.

    `segments` keeps files whose segment id (the folder after `segments/`) is listed; `first`
    then keeps the first N files in the paths file's order, which is stable across runs.
    `paths_file` overrides where the list is read from (a local copy, a mirror).
    """
    if not _CRAWL_ID.match(crawl_id):
        raise UserError(f"crawl id {crawl_id!r} should look like CC-MAIN-2024-10")
    if kind not in ("warc", "wet"):
        raise UserError(f"crawl kind {kind!r}: use warc or wet")
    location = paths_file or f"{base_url}crawl-data/{crawl_id}/{kind}.paths.gz"
    lines = read_paths_file(location)
    if segments:
        wanted = set(segments)
        lines = [p for p in lines if _segment_of(p) in wanted]
        if not lines:
            raise UserError(f"{location}: none of the segments {sorted(wanted)} occur in the paths file")
    if first is not None:
        lines = lines[:first]
    return [p if "://" in p else base_url + p.lstrip("/") for p in lines]


def expand_inputs(paths: list[str]) -> list[str]:
    """Recipe inputs to file locations: `cc://CC-MAIN-2024-10/warc?segments=A,B&first=N&paths_file=P`
    names a crawl (kind warc or wet) and a selection of its files; anything else is kept as given.

    Every task expands the same way from the same paths file, so ranks agree on the file list.
    """
    out: list[str] = []
    for path in paths:
        if not path.startswith("cc://"):
            out.append(path)
            continue
        parts = urlsplit(path)
        kind = parts.path.strip("/") or "warc"
        query = parse_qs(parts.query)
        unknown = set(query) - {"segments", "first", "paths_file", "base_url"}
        if unknown:
            raise UserError(
                f"{path}: unknown crawl option {sorted(unknown)[0]!r} (use segments, first, paths_file)"
            )
        segments = [s for v in query.get("segments", []) for s in v.split(",") if s]
        first = query.get("first")
        try:
            first_n = int(first[0]) if first else None
        except ValueError:
            raise UserError(f"{path}: first must be a number of files") from None
        out.extend(
            crawl_paths(
                parts.netloc,
                kind=kind,
                paths_file=(query.get("paths_file") or [None])[0],
                segments=segments or None,
                first=first_n,
                base_url=(query.get("base_url") or [CC_BASE_URL])[0],
            )
        )
    return out


def _segment_of(path: str) -> str:
    parts = path.split("/")
    return parts[parts.index("segments") + 1] if "segments" in parts[:-1] else ""
