"""A loopback HTTP server that answers like the GitHub REST API's search and tarball endpoints.

It serves real tarballs built in the test and can be told to misbehave: a 403 rate-limit reply
with reset headers, 5xx replies, truncated archives, archives with escaping member paths, and a
redirect to another host (to check that the token is not carried there).
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_tarball(
    top: str, files: dict[str, bytes | str], commit: str = COMMIT, raw_names: bool = False
) -> bytes:
    """A GitHub-style tarball: a pax global header carrying the commit, one top folder."""
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": commit}
    ) as tar:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name if raw_names else f"{top}/{name}")
            info.size = len(raw)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


@dataclass
class Repo:
    name: str
    created: str  # YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS (UTC) where the time matters
    stars: int
    tarball: bytes = b""
    truncate_body: bool = False  # send fewer bytes than Content-Length says


@dataclass
class FakeGithub:
    repos: list[Repo]
    token: str = ""
    rate_limit_once: bool = False
    errors_before_success: int = 0  # 5xx answers before each endpoint succeeds
    split_over_days: int = 10_000  # claim > 1000 results for windows longer than this
    per_page_override: int | None = None
    quota_left: int | None = None  # answer with x-ratelimit-remaining counting down from this
    requests: list[dict[str, Any]] = field(default_factory=list)
    _failures: dict[str, int] = field(default_factory=dict)
    _limited: bool = False

    def start(self) -> FakeGithub:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server = server
        self.port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answers ----------------------------------------------------------------------------------
    def answer(self, h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        parts = urllib.parse.urlsplit(h.path)
        self.requests.append(
            {
                "path": parts.path,
                "query": parts.query,
                "auth": h.headers.get("Authorization"),
                "host": h.headers["Host"],
            }
        )
        if parts.path.startswith("/codeload/"):
            return self._tarball(parts.path.split("/")[2].replace("+", "/"))
        key = parts.path
        if self._failures.get(key, 0) < self.errors_before_success:
            self._failures[key] = self._failures.get(key, 0) + 1
            return 502, {}, b'{"message": "Server Error"}'
        if self.rate_limit_once and not self._limited:
            self._limited = True
            reset = str(int(time.time()) + 2)
            headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
            return 403, headers, b'{"message": "API rate limit exceeded"}'
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, b'{"message": "Bad credentials"}'
        if parts.path == "/search/repositories":
            return self._search(urllib.parse.parse_qs(parts.query), h)
        segs = parts.path.strip("/").split("/")
        if len(segs) >= 5 and segs[0] == "repos" and segs[3] == "tarball":
            name = f"{segs[1]}/{segs[2]}"
            if segs[2] == "moved":  # answer like api.github.com: a redirect to a download host
                return 302, {"Location": f"http://localhost:{self.port}/codeload/{segs[1]}+{segs[2]}"}, b""
            return self._tarball(name)
        return 404, {}, b'{"message": "Not Found"}'

    def _tarball(self, name: str) -> tuple[int, dict[str, str], bytes]:
        repo = next((r for r in self.repos if r.name == name), None)
        if repo is None:
            return 404, {}, b'{"message": "Not Found"}'
        body = repo.tarball
        headers = {"Content-Type": "application/x-gzip", "Content-Length": str(len(body))}
        if repo.truncate_body:
            return 200, headers, body[: len(body) // 2]
        return 200, headers, body

    def _search(
        self, qs: dict[str, list[str]], h: BaseHTTPRequestHandler
    ) -> tuple[int, dict[str, str], bytes]:
        q = qs["q"][0]
        window = next(t for t in q.split() if t.startswith("created:"))[len("created:") :]
        # a bound is a day (the whole of it) or a UTC second; compared as ISO text
        start, end = (b.removesuffix("Z") for b in window.split(".."))
        start = start if "T" in start else start + "T00:00:00"
        end = end if "T" in end else end + "T23:59:59"
        days = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400
        stars = next((int(t.split(">=")[1]) for t in q.split() if t.startswith("stars:>=")), 0)
        hits = sorted(
            (r for r in self.repos if start <= _moment(r.created) <= end and r.stars >= stars),
            key=lambda r: -r.stars,
        )
        total = 1500 if days > self.split_over_days else len(hits)
        per_page = self.per_page_override or int(qs.get("per_page", ["30"])[0])
        page = int(qs.get("page", ["1"])[0])
        chunk = hits[(page - 1) * per_page : page * per_page] if total <= 1000 else []
        items = [
            {
                "full_name": r.name,
                "clone_url": f"https://example.invalid/{r.name}.git",
                "stargazers_count": r.stars,
                "created_at": _moment(r.created) + "Z",
                "pushed_at": "2024-01-01T00:00:00Z",
                "default_branch": "main",
                "license": {"spdx_id": "MIT"},
                "size": 1,
                "language": "Python",
            }
            for r in chunk
        ]
        headers = {"ETag": f'"{page}-{len(items)}"'}
        if self.quota_left is not None:
            self.quota_left = (self.quota_left or 100) - 1  # a spent quota has reset by the next call
            headers["x-ratelimit-remaining"] = str(self.quota_left)
            headers["x-ratelimit-reset"] = str(int(time.time()) + 30)
        if total <= 1000 and page * per_page < len(hits):
            nxt = dict(qs)
            nxt["page"] = [str(page + 1)]
            query = urllib.parse.urlencode({k: v[0] for k, v in nxt.items()})
            headers["Link"] = f'<{self.url}/search/repositories?{query}>; rel="next"'
        if h.headers.get("If-None-Match") == headers["ETag"]:
            return 304, headers, b""
        return 200, headers, json.dumps({"total_count": total, "items": items}).encode()


def _moment(created: str) -> str:
    return created if "T" in created else created + "T00:00:00"


def _handler(fake: FakeGithub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = fake.answer(self)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if "Content-Length" in headers and len(body) < int(headers["Content-Length"]):
                self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
