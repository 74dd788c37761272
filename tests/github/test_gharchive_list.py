"""The GH Archive repository list against a reference computed here, from hours served on loopback.

Twelve hours of a simulated GitHub (`gharchive_hours.World`: the Events API's schema, renames by
RepositoryEvent and by a repository id showing up under a new name, forks, deletions) are served
over HTTP on 127.0.0.1 with the archive's faults: one hour missing (404), one cut short (a
truncated gzip), one that is not gzip at all, one answering 503 before it answers, and broken lines
(not JSON, not an object, no repository, the pre-2015 timeline schema). The scan and list steps
run as a build runs them (several tasks, several buckets); the list must equal what a plain,
separate reading of the same bytes gives, and must not depend on the number of tasks.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections import defaultdict
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from corpus.github.gharchive_events import ListFilter
from corpus.github.gharchive_source import (
    GharchiveReduce,
    GharchiveScan,
    GzipLines,
    HourSource,
    iter_listed,
    list_files,
)
from corpus.github.host_rate_limit import HostRateLimit
from tests.github.gharchive_hours import World, file_name, hour_bytes

START = datetime(2023, 2, 28, 18)
HOURS = [START + timedelta(hours=i) for i in range(12)]
MISSING, TRUNCATED, NOT_GZIP, FLAKY, BROKEN_LINES = HOURS[3], HOURS[5], HOURS[8], HOURS[9], HOURS[7]
CUTOFF = "2023-03-01"
BAD_LINES = [
    b'{"id": "1", "type": "PushEvent", "repo": {"id": 5,',
    b"not json at all",
    b"[1, 2, 3]",
    b'{"id": "2", "type": "PushEvent", "created_at": "2023-03-01T01:00:00Z"}',
    b'{"type": "WatchEvent", "repository": {"id": 9, "name": "x", "owner": "y"}, '
    b'"created_at": "2012-03-10T07:13:31-08:00", "actor": "someone"}',
    b"\xff\xfe not utf-8",
]


class Archive:
    """A loopback server holding hour files; FLAKY answers 503 once before its file."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.flaky_left = 1
        self.asked: list[str] = []
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                archive.asked.append(name)
                if name == file_name(FLAKY) and archive.flaky_left:
                    archive.flaky_left -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = archive.files.get(name)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/archive"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def served() -> Any:
    world = World(seed=11, start=START, repos=60)
    files: dict[str, bytes] = {}
    for i, hour in enumerate(HOURS):
        events = world.hour(i, 220)
        data = hour_bytes(events, BAD_LINES if hour == BROKEN_LINES else [])
        if hour == MISSING:
            continue
        if hour == TRUNCATED:
            data = data[: len(data) * 3 // 5]
        if hour == NOT_GZIP:
            data = b"<html><body>503 Service Unavailable</body></html>"
        files[file_name(hour)] = data
    archive = Archive(files)
    yield world, files, archive
    archive.stop()


def run_list(url: str, folder: Path, scan_tasks: int, buckets: int, keep: ListFilter) -> list[dict[str, Any]]:
    source = HourSource(url, retries=2, backoff_s=0.01, rate=HostRateLimit(500.0, str(folder / "rate")))
    scan = GharchiveScan(source, HOURS[0], HOURS[-1] + timedelta(hours=1), str(folder / "scan"), buckets)
    for rank in range(scan_tasks):
        list(scan.run(None, rank, scan_tasks))
    reduce = GharchiveReduce(
        str(folder / "scan"), scan_tasks, str(folder / "list"), keep, "tarball", "https://gh.test"
    )
    for rank in range(buckets):
        list(reduce.run(None, rank, buckets))
    return list(iter_listed(list_files(str(folder / "list"), buckets)))


# -- the reference: every event of every readable hour in one list, then plain questions --------
def readable_lines(data: bytes) -> list[bytes]:
    d = zlib.decompressobj(47)
    try:
        raw = d.decompress(data)
    except zlib.error:
        return []
    lines = raw.split(b"\n")
    if not d.eof:
        lines = lines[:-1]  # cut inside a line: that line is not whole
    return [line for line in lines if line.strip()]


def valid(event: Any) -> bool:
    if not isinstance(event, dict) or not isinstance(event.get("repo"), dict):
        return False
    rid, name = event["repo"].get("id"), event["repo"].get("name")
    return (
        type(rid) is int
        and isinstance(name, str)
        and name.count("/") == 1
        and all(name.split("/"))
        and isinstance(event.get("created_at"), str)
        and event["created_at"].endswith("Z")
        and isinstance(event.get("type"), str)
    )


def reference(files: dict[str, bytes], keep: ListFilter) -> list[dict[str, Any]]:
    seen: list[tuple[tuple[str, int], int, dict[str, Any]]] = []
    for h, hour in enumerate(HOURS):
        for line in readable_lines(files.get(file_name(hour), b"")):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if valid(event):
                seen.append(((event["created_at"], int(event["id"])), h, event))
    names: dict[int, list[tuple[tuple[str, int], str]]] = defaultdict(list)
    created: dict[int, list[str]] = defaultdict(list)
    watches: dict[int, list[int]] = defaultdict(list)
    objects: dict[int, list[tuple[tuple[str, int], int, dict[str, Any]]]] = defaultdict(list)
    hidden: dict[int, list[tuple[tuple[str, int], bool]]] = defaultdict(list)
    forks: dict[int, list[tuple[tuple[str, int], bool]]] = defaultdict(list)
    for key, h, e in seen:
        rid, payload = e["repo"]["id"], e.get("payload") or {}
        names[rid].append((key, e["repo"]["name"]))
        kind = e["type"]
        found = []
        if kind == "CreateEvent" and payload.get("ref_type") == "repository":
            created[rid].append(e["created_at"])
        if kind == "WatchEvent":
            watches[rid].append(h)
        if kind == "ForkEvent":
            found.append(payload["forkee"])
            forks[payload["forkee"]["id"]].append((key, True))
        if kind == "PullRequestEvent":
            found += [payload["pull_request"][side]["repo"] for side in ("base", "head")]
        if kind == "RepositoryEvent":
            found.append(payload["repository"])
            if payload["action"] in ("deleted", "privatized", "publicized", "created"):
                hidden[rid].append((key, payload["action"] in ("deleted", "privatized")))
        if kind == "PublicEvent":
            hidden[rid].append((key, False))
        for o in found:
            names[o["id"]].append((key, o["full_name"]))
            created[o["id"]].append(o["created_at"])
            objects[o["id"]].append((key, h, o))
            forks[o["id"]].append((key, o["fork"]))
    kept: dict[str, tuple[tuple[str, int], dict[str, Any]]] = {}
    for rid in sorted(names):
        last_key, name = max(names[rid])
        first = min(k[0] for k, _ in names[rid])
        born = min(created[rid]) if created[rid] else first
        if hidden[rid] and max(hidden[rid])[1]:
            continue
        with_stars = [(k, h, o["stargazers_count"]) for k, h, o in objects[rid]]
        if with_stars:
            _, at_hour, count = max(with_stars)
            stars = count + sum(1 for w in watches[rid] if w > at_hour)
        else:
            stars = len(watches[rid])
        is_fork = max(forks[rid])[1] if forks[rid] else False
        if born >= keep.created_before or (keep.exclude_forks and is_fork) or stars < keep.min_stars:
            continue
        if name.lower() in kept and kept[name.lower()][0] > last_key:
            continue
        kept[name.lower()] = (last_key, {"name": name, "github_id": rid, "stars": stars, "fork": is_fork})
    return sorted((r for _, r in kept.values()), key=lambda r: r["github_id"])


def essentials(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in ("name", "github_id", "stars", "fork")} for r in records]


@pytest.mark.parametrize(
    "keep",
    [ListFilter(CUTOFF), ListFilter("2023-03-02", min_stars=2, exclude_forks=False)],
    ids=["paper-defaults", "forks-kept-min-stars"],
)
def test_list_equals_the_reference(served: Any, tmp_path: Path, keep: ListFilter) -> None:
    world, files, archive = served
    archive.flaky_left = 1
    got = run_list(archive.url, tmp_path, scan_tasks=3, buckets=2, keep=keep)
    assert essentials(got) == reference(files, keep)
    assert len(got) > 20
    # renames: every listed repository the world renamed is listed once, under a name it had, and
    # renamed ones whose last event came after the rename under their final name
    renamed = [r for r in got if r.get("former_names")]
    assert renamed and all(r["name"] not in r["former_names"] for r in renamed)
    final = {r.id: r.full_name for r in world.repos.values()}
    assert any(r["name"] == final[r["github_id"]] for r in renamed)
    assert len({r["name"].lower() for r in got}) == len(got)
    assert all(
        r["archive"] == f"https://gh.test/repos/{r['name']}/tarball/{r['default_branch'] or 'HEAD'}"
        for r in got
    )


def test_faults_are_recorded_and_the_split_does_not_matter(served: Any, tmp_path: Path) -> None:
    _world, _files, archive = served
    keep = ListFilter(CUTOFF)
    archive.flaky_left = 1
    three = run_list(archive.url, tmp_path / "a", scan_tasks=3, buckets=2, keep=keep)
    archive.flaky_left = 1
    one = run_list(archive.url, tmp_path / "b", scan_tasks=1, buckets=1, keep=keep)
    archive.flaky_left = 1
    five = run_list(archive.url, tmp_path / "c", scan_tasks=5, buckets=3, keep=keep)
    assert three == one == five
    log = {}
    for f in sorted((tmp_path / "a" / "scan" / "hours").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            entry = json.loads(line)
            log[entry["hour"]] = entry
    assert len(log) == len(HOURS)
    assert log[f"{MISSING:%Y-%m-%dT%H}"]["status"] == "missing"
    cut = log[f"{TRUNCATED:%Y-%m-%dT%H}"]
    assert cut["status"] == "truncated" and cut["events"] > 0  # the lines before the cut are kept
    assert log[f"{NOT_GZIP:%Y-%m-%dT%H}"]["status"] == "corrupt"
    assert log[f"{FLAKY:%Y-%m-%dT%H}"]["status"] == "ok"  # the 503 was retried
    assert log[f"{BROKEN_LINES:%Y-%m-%dT%H}"]["skipped"] == {
        "bad_json": 3,
        "not_an_object": 1,
        "no_repo": 1,
        "legacy_schema": 1,
    }
    others = {h: e for h, e in log.items() if e["status"] == "ok" and h != f"{BROKEN_LINES:%Y-%m-%dT%H}"}
    assert all(not e["skipped"] for e in others.values())
    # the same bytes again: byte-identical list files
    a = [p.read_bytes() for p in sorted((tmp_path / "a" / "list" / "lists").glob("*.jsonl"))]
    archive.flaky_left = 1
    run_list(archive.url, tmp_path / "d", scan_tasks=3, buckets=2, keep=keep)
    assert a == [p.read_bytes() for p in sorted((tmp_path / "d" / "list" / "lists").glob("*.jsonl"))]


def test_gzip_lines_multi_member_and_padding(tmp_path: Path) -> None:
    import gzip
    import io

    data = gzip.compress(b'{"a":1}\n{"b":2}\n', mtime=0) + gzip.compress(b'{"c":3}', mtime=0) + b"\x00" * 10
    lines = GzipLines(io.BytesIO(data))
    assert list(lines) == [b'{"a":1}', b'{"b":2}', b'{"c":3}'] and lines.damage is None
    empty = GzipLines(io.BytesIO(b""))
    assert list(empty) == [] and empty.damage and empty.damage.startswith("corrupt")


def test_rate_limit_is_shared_through_the_booking_file(tmp_path: Path) -> None:
    now = [100.0]
    a = HostRateLimit(2.0, str(tmp_path), clock=lambda: now[0])
    b = HostRateLimit(2.0, str(tmp_path), clock=lambda: now[0])  # another task of the node
    waits = [
        a.book("https://data.gharchive.org/x"),
        b.book("https://data.gharchive.org/y"),
        a.book("https://data.gharchive.org/z"),
    ]
    assert waits == [0.0, 0.5, 1.0]
    assert b.book("https://other.example/x") == 0.0  # each host has its own pace
