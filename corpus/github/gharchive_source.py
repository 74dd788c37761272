"""GH Archive hour files, read in parallel and reduced to the build's repository list.

Two stages, both ordinary datatrove steps with the build's resume rules:

- `github/gharchive` (`GharchiveScan`): task r of W reads the r-th contiguous range of the hours
  `since..until`, over HTTP(S) (`https://data.gharchive.org/2015-01-01-15.json.gz`, paced per
  host by `HostRateLimit`, retried on 5xx and cut connections) or from any fsspec folder holding
  the same file names. Each hour is reduced line by line (`gharchive_events.HourReducer`); the
  task writes its repositories split into B buckets by id (`partials/BBBBB/RRRRR.jsonl.gz`) and
  what happened to each of its hours (`hours/RRRRR.jsonl`).
- `github/gharchive-list` (`GharchiveReduce`): task b merges bucket b of every scan task in hour
  order, applies the recipe's filters and writes `lists/BBBBB.jsonl`, sorted by repository id.

Missing hours (404: the real archive has gaps) and damaged ones (a cut or corrupt gzip, a body
that is not gzip at all) are recorded in `hours/` with what could be read and are never fatal:
the complete lines before the damage are kept, as every reader of the build does. Lines that are
not JSON, or events without a repository or time, are counted by reason and skipped.

The merged list does not depend on W or B (the reduction merges exactly, see
`gharchive_events.merge`); the repository list stage merges the bucket files by id.
"""

from __future__ import annotations

import gzip
import heapq
import http.client
import json
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import orjson
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from corpus.core.atomic import atomic_write_bytes, split_url
from corpus.github.gharchive_events import HourReducer, ListFilter, RepoState, list_record, merge
from corpus.github.host_rate_limit import HostRateLimit
from corpus.github.repo_lists import github_location

#: the first hour of the Events API schema; earlier files use the timeline schema
FIRST_EVENTS_API_HOUR = datetime(2015, 1, 1)
_CHUNK = 1 << 20
_EPOCH = datetime(1970, 1, 1)


def hour_range(since: datetime, until: datetime) -> list[datetime]:
    """Every whole hour from `since` (rounded down) up to, not including, `until`."""
    hour = since.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    end = until.replace(tzinfo=None)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def hour_file(hour: datetime) -> str:
    """GH Archive's file name of an hour: the hour is not zero-padded (`2015-01-01-5.json.gz`)."""
    return f"{hour:%Y-%m-%d}-{hour.hour}.json.gz"


def hour_index(hour: datetime) -> int:
    return int((hour - _EPOCH).total_seconds() // 3600)


def task_hours(hours: list[datetime], rank: int, world_size: int) -> list[datetime]:
    """Task `rank`'s contiguous share of `hours` (so partial results merge in hour order)."""
    n = len(hours)
    return hours[rank * n // world_size : (rank + 1) * n // world_size]


class HourUnreachable(Exception):
    """The hour's server could not be reached after every retry (the task fails; re-run)."""


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1]


def hour_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


@dataclass
class HourRead:
    """What became of one hour file."""

    hour: str
    status: str = "ok"  # ok | missing | refused | truncated | corrupt
    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    compressed_bytes: int = 0
    detail: str = ""


class GzipLines:
    """The complete lines of a gzip stream (several members allowed). A stream cut short or
    damaged ends the lines there: `damage` then says how, and the partial last line is dropped."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.damage: str | None = None
        self.compressed = 0

    def __iter__(self) -> Iterator[bytes]:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        in_member = False  # fed part of a member whose end marker has not come yet
        rest = b""
        pending = b""
        while True:
            if not pending:
                pending = self.fh.read(_CHUNK)
                self.compressed += len(pending)
                if not pending:
                    break
            try:
                out = d.decompress(pending)
            except zlib.error as e:
                self.damage = f"corrupt: {e}"
                return
            in_member = True
            pending = b""
            if d.eof:
                in_member = False
                pending = d.unused_data
                d = zlib.decompressobj(zlib.MAX_WBITS | 16)
                if not pending.strip(b"\x00"):  # zero padding after the last member
                    pending = b""
            if out:
                rest += out
                lines = rest.split(b"\n")
                rest = lines.pop()
                yield from lines
        if self.compressed == 0:
            self.damage = "corrupt: the file is empty"
        elif in_member:
            self.damage = "truncated: the gzip stream ends before its end marker"
        elif rest:
            yield rest


@dataclass
class HourSource:
    """Where hour files come from and how they are asked for."""

    base: str
    timeout_s: float = 300.0
    retries: int = 4
    backoff_s: float = 2.0
    rate: HostRateLimit | None = None

    def url(self, hour: datetime) -> str:
        return f"{self.base.rstrip('/')}/{hour_file(hour)}"

    def read(self, hour: datetime, reducer: HourReducer) -> HourRead:
        """Reduce one hour into `reducer`; the hour's fate (never raises for a bad hour)."""
        result = HourRead(hour.strftime("%Y-%m-%dT%H"))
        url = self.url(hour)
        with tempfile.TemporaryFile() as tmp:
            got = self._fetch(url, tmp, result)
            if not got:
                return result
            tmp.seek(0)
            events_before = reducer.events
            skipped_before = dict(reducer.skipped)
            index = hour_index(hour)
            lines = GzipLines(tmp)
            for line in lines:
                reducer.add_line(line, index)
            result.events = reducer.events - events_before
            result.skipped = {
                k: v - skipped_before.get(k, 0)
                for k, v in reducer.skipped.items()
                if v - skipped_before.get(k, 0)
            }
            if lines.damage:
                result.status = lines.damage.split(":", 1)[0]
                result.detail = f"{lines.damage}; {result.events} events read before it"
        return result

    def _fetch(self, url: str, out: IO[bytes], result: HourRead) -> bool:
        if not url.startswith(("http://", "https://")):
            fs, path = split_url(url)
            try:
                with fs.open(path, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        result.compressed_bytes += len(chunk)
            except FileNotFoundError:
                result.status, result.detail = "missing", "no such file"
                return False
            return True
        for attempt in range(self.retries + 1):
            out.seek(0)
            out.truncate()
            result.compressed_bytes = 0
            if self.rate is not None:
                self.rate.wait(url)
            try:
                req = urllib.request.Request(url, headers={"User-Agent": "coderforge"})
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    length = resp.headers.get("Content-Length")
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        result.compressed_bytes += len(chunk)
                    if length and result.compressed_bytes != int(length):
                        raise http.client.IncompleteRead(b"", int(length) - result.compressed_bytes)
                return True
            except urllib.error.HTTPError as e:
                if e.code in (404, 410):
                    result.status, result.detail = "missing", f"HTTP {e.code}"
                    return False
                if e.code < 500 and e.code != 429:
                    result.status, result.detail = "refused", f"HTTP {e.code}"
                    return False
                detail = f"HTTP {e.code}"
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as e:
                detail = f"{type(e).__name__}: {e}"[:300]
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        # not the server's answer about the hour but a network that failed: the task fails, and the
        # re-run (resume) asks again, so the list never depends on a bad moment of the network
        raise HourUnreachable(f"{_host(url)}: {hour_name(url)}: {detail} after {self.retries + 1} tries")


def _partial_path(folder: str, bucket: int, rank: int) -> str:
    return f"{folder.rstrip('/')}/partials/{bucket:05d}/{rank:05d}.jsonl.gz"


class GharchiveScan(PipelineStep):
    """Reduce this task's hours to partial repository states, one file per bucket."""

    name = "gh archive scan"
    type = "📖 - READER"

    def __init__(
        self,
        source: HourSource,
        since: datetime,
        until: datetime,
        folder: str,
        buckets: int,
    ) -> None:
        super().__init__()
        self.source = source
        self.since = since
        self.until = until
        self.folder = folder
        self.buckets = buckets

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        hours = task_hours(hour_range(self.since, self.until), rank, world_size)
        reducer = HourReducer()
        log: list[str] = []
        compressed = 0
        started = time.monotonic()
        for i, hour in enumerate(hours, start=1):
            read = self.source.read(hour, reducer)
            self.stat_update(f"hours_{read.status}")
            self.stat_update("compressed_bytes", value=read.compressed_bytes)
            compressed += read.compressed_bytes
            if read.status != "ok":
                logger.warning(f"GH Archive {hour_file(hour)}: {read.status} ({read.detail})")
            log.append(json.dumps(read.__dict__, sort_keys=True))
            if i % 24 == 0 or i == len(hours):
                rate = reducer.events / max(time.monotonic() - started, 1e-9)
                logger.info(f"{i}/{len(hours)} hours, {reducer.events:,} events ({rate:,.0f}/s)")
        self.stat_update("events", value=reducer.events)
        for reason, count in sorted(reducer.skipped.items()):
            self.stat_update(f"skipped_lines:{reason}", value=count)
        self.stat_update("repositories_seen", value=len(reducer.states))
        # the build's summary row: events read in, repository states out (a reduction, not drops)
        self.stat_update("documents_in", value=reducer.events)
        self.stat_update("bytes_in", value=compressed)
        self.stat_update("documents_out", value=len(reducer.states))
        by_bucket: list[list[RepoState]] = [[] for _ in range(self.buckets)]
        for repo_id in sorted(reducer.states):
            by_bucket[repo_id % self.buckets].append(reducer.states[repo_id])
        for bucket, states in enumerate(by_bucket):
            body = b"".join(orjson.dumps(s.to_json()) + b"\n" for s in states)
            atomic_write_bytes(_partial_path(self.folder, bucket, rank), gzip.compress(body, mtime=0))
        hour_log = "".join(line + "\n" for line in log).encode("utf-8")
        atomic_write_bytes(f"{self.folder.rstrip('/')}/hours/{rank:05d}.jsonl", hour_log)


class GharchiveReduce(PipelineStep):
    """Merge one bucket of every scan task, filter, and write that bucket's part of the list."""

    name = "gh archive list"
    type = "🔻 - REDUCER"

    def __init__(
        self,
        scan_folder: str,
        scan_tasks: int,
        folder: str,
        keep: ListFilter,
        method: str = "tarball",
        api_url: str = "https://api.github.com",
        archives: str | None = None,
    ) -> None:
        super().__init__()
        self.scan_folder = scan_folder
        self.scan_tasks = scan_tasks
        self.folder = folder
        self.keep = keep
        self.method = method
        self.api_url = api_url
        self.archives = archives

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        merged: dict[int, RepoState] = {}
        for scan_rank in range(self.scan_tasks):
            fs, path = split_url(_partial_path(self.scan_folder, rank, scan_rank))
            with fs.open(path, "rb") as raw, gzip.open(raw, "rb") as fh:
                for line in fh:
                    state = RepoState.from_json(orjson.loads(line))
                    known = merged.get(state.id)
                    merged[state.id] = state if known is None else merge(known, state)
        kept: dict[str, RepoState] = {}
        for repo_id in sorted(merged):
            state = merged[repo_id]
            reason = self.keep.verdict(state)
            if reason is None and state.name.lower() in kept:
                other = kept[state.name.lower()]  # the name's latest holder keeps it
                if other.name_key >= state.name_key:
                    reason = "name_taken"
                else:
                    self.stat_update("dropped:name_taken")
            if reason:
                self.stat_update(f"dropped:{reason}")
                continue
            kept[state.name.lower()] = state
        lines = []
        for state in sorted(kept.values(), key=lambda s: s.id):
            record = list_record(state)
            record.update(self.location(record))
            lines.append(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n")
        self.stat_update("repositories", value=len(merged))
        self.stat_update("listed", value=len(lines))
        # the build's summary row: repositories in, listed out, the rest dropped by the filters
        self.stat_update("documents_in", value=len(merged))
        self.stat_update("documents_out", value=len(lines))
        self.stat_update("dropped", value=len(merged) - len(lines))
        atomic_write_bytes(f"{self.folder.rstrip('/')}/lists/{rank:05d}.jsonl", b"".join(lines))

    def location(self, record: dict[str, Any]) -> dict[str, str]:
        ref = record.get("default_branch") or "HEAD"
        if self.archives:
            owner, _, repo = record["name"].partition("/")
            return {"archive": self.archives.format(owner=owner, repo=repo, name=record["name"], ref=ref)}
        return github_location(record["name"], self.method, self.api_url, ref)


def list_files(folder: str, buckets: int) -> list[str]:
    return [f"{folder.rstrip('/')}/lists/{b:05d}.jsonl" for b in range(buckets)]


def iter_listed(paths: list[str]) -> Iterator[dict[str, Any]]:
    """The repositories of the bucket lists, merged into one order by repository id."""

    def one(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
        fs, p = split_url(path)
        with fs.open(p, "rb") as fh:
            for line in fh:
                record = orjson.loads(line)
                yield record["github_id"], record

    for _, record in heapq.merge(*(one(p) for p in paths), key=lambda item: item[0]):
        yield record


def hour_summary(folder: str) -> dict[str, Any]:
    """The hours of a scan stage by status, with the missing and damaged ones named."""
    fs, path = split_url(f"{folder.rstrip('/')}/hours")
    counts: dict[str, int] = {}
    bad: list[dict[str, Any]] = []
    events = 0
    for name in sorted(fs.ls(path, detail=False)) if fs.exists(path) else []:
        with fs.open(name, "rt", encoding="utf-8") as fh:
            for line in fh:
                entry = json.loads(line)
                counts[entry["status"]] = counts.get(entry["status"], 0) + 1
                events += entry["events"]
                if entry["status"] != "ok":
                    bad.append({k: entry[k] for k in ("hour", "status", "detail")})
    return {"hours": counts, "events": events, "not_ok": bad}


def utc_hour(moment: datetime) -> datetime:
    """A naive UTC datetime (recipes give days or naive times, both meant as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


__all__ = [
    "FIRST_EVENTS_API_HOUR",
    "GharchiveReduce",
    "GharchiveScan",
    "GzipLines",
    "HourRead",
    "HourSource",
    "hour_file",
    "hour_range",
    "hour_summary",
    "iter_listed",
    "list_files",
]
