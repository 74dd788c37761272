"""The GitHub token stays with the GitHub API: hostile answers cannot move it to another host.

A fake API on 127.0.0.1 answers like GitHub but misbehaves on request: it redirects a search to a
second server on 127.0.0.2, hands out a `next` link pointing there, redirects a tarball there (as
api.github.com does to codeload.github.com), and echoes the request's headers in an error. The
second server records everything it is sent; it must never see the token, and no message a user
reads may show it. Same-host pagination and same-host redirects keep working with the token.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from corpus.github.fetch import Fetcher, FetchError
from corpus.github.search import GithubApi, RepoQuery, SearchError, search_repositories
from tests.conftest import run_cli
from tests.github.fake_github import make_tarball

TOKEN = "ghp_TokenScopeTestValue0123456789abcdef"
TOKEN_ENV = "CF_HOSTILE_TOKEN"

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Host:
    """A loopback HTTP server that records every request (target and all headers) and answers
    through `answer`, which the test sets."""

    address: str
    answer: Callable[[Host, BaseHTTPRequestHandler], Answer] = lambda host, h: (404, {}, b"{}")
    seen: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # a status line's reason phrase, when a test wants its own

    def start(self) -> Host:
        try:
            self.server = ThreadingHTTPServer((self.address, 0), _handler(self))
        except OSError as e:  # 127.0.0.2 is loopback on Linux; some systems only route 127.0.0.1
            if e.errno == errno.EADDRNOTAVAIL:
                pytest.skip(f"{self.address} is not a usable loopback address here")
            raise
        self.port = self.server.server_address[1]
        self.url = f"http://{self.address}:{self.port}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(host: Host) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host.seen.append({"target": self.path, "headers": dict(self.headers.items())})
            status, headers, body = host.answer(host, self)
            self.send_response(status, host.reason)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Host, Host]]:
    """(the API on 127.0.0.1, another host on 127.0.0.2), with the token in the environment."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    api = Host("127.0.0.1").start()
    try:
        other = Host("127.0.0.2").start()
    except BaseException:
        api.stop()
        raise
    yield api, other
    api.stop()
    other.stop()


def api_client(api: Host) -> GithubApi:
    client = GithubApi(api_url=api.url, token_env=TOKEN_ENV, backoff_s=0.0, retries=0)
    client.sleep = lambda _s: None
    return client


def query() -> RepoQuery:
    return RepoQuery(created_before=date(2023, 11, 1), created_after=date(2023, 1, 1))


def search_page(items: list[str], next_url: str | None = None) -> Answer:
    body = {"total_count": 3, "items": [{"full_name": n, "default_branch": "main"} for n in items]}
    headers = {"Content-Type": "application/json"}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    return 200, headers, json.dumps(body).encode()


def authorized(h: BaseHTTPRequestHandler) -> bool:
    return h.headers.get("Authorization") == f"Bearer {TOKEN}"


def assert_never_saw_token(host: Host) -> None:
    for request in host.seen:
        assert TOKEN not in request["target"], request
        assert "authorization" not in {k.lower() for k in request["headers"]}, request
        assert not any(TOKEN in v for v in request["headers"].values()), request


def test_same_host_pagination_and_redirects_carry_the_token(hosts: tuple[Host, Host]) -> None:
    api, other = hosts

    def answer(host: Host, h: BaseHTTPRequestHandler) -> Answer:
        if not authorized(h):
            return 401, {}, b'{"message": "Bad credentials"}'
        parts = urllib.parse.urlsplit(h.path)
        if parts.path == "/search/repositories":  # moved on the same host, as GitHub may answer
            return 307, {"Location": f"/v2/search?{parts.query}"}, b""
        page = urllib.parse.parse_qs(parts.query).get("page", ["1"])[0]
        if page == "1":
            return search_page(["a/one", "b/two"], f"{host.url}/v2/search?{parts.query}&page=2")
        return search_page(["c/three"])

    api.answer = answer
    got = [r["name"] for r in search_repositories(api_client(api), query())]
    assert got == ["a/one", "b/two", "c/three"]
    assert [urllib.parse.urlsplit(r["target"]).path for r in api.seen] == [
        "/search/repositories",
        "/v2/search",
        "/v2/search",
    ]
    assert all(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in api.seen)
    assert other.seen == []


def test_a_next_link_to_another_host_is_refused_and_never_asked(hosts: tuple[Host, Host]) -> None:
    api, other = hosts
    other.answer = lambda host, h: search_page(["evil/injected"])
    api.answer = lambda host, h: search_page(["a/one"], f"{other.url}/search/repositories?page=2")
    got: list[str] = []
    with pytest.raises(SearchError) as err:
        for record in search_repositories(api_client(api), query()):
            got.append(record["name"])
    message = str(err.value)
    assert got == ["a/one"]  # the API's own page came through; nothing from the other host
    assert f"127.0.0.2:{other.port}" in message and "refusing" in message
    assert TOKEN not in message and "\n" not in message
    assert other.seen == []
    assert_never_saw_token(other)


def test_a_search_redirected_to_another_host_is_not_followed(hosts: tuple[Host, Host]) -> None:
    api, other = hosts
    other.answer = lambda host, h: search_page(["evil/injected"])
    for code in (301, 302, 307, 308):
        api.answer = lambda host, h, code=code: (code, {"Location": f"{other.url}{h.path}"}, b"")
        with pytest.raises(SearchError) as err:
            list(search_repositories(api_client(api), query()))
        message = str(err.value)
        assert f"{code}" in message and f"127.0.0.2:{other.port}" in message and "not followed" in message
        assert TOKEN not in message
    assert other.seen == []
    assert_never_saw_token(other)
    assert len(api.seen) == 4 and all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in api.seen)


def test_a_tarball_redirected_to_another_host_gets_there_without_the_token(
    hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    api, other = hosts
    tarball = make_tarball("o-r-0123456", {"pkg/mod.py": "x = 1\n"})

    def api_answer(host: Host, h: BaseHTTPRequestHandler) -> Answer:
        if not authorized(h):
            return 401, {}, b'{"message": "Bad credentials"}'
        if h.path == "/repos/o/r/tarball/main":  # api.github.com -> codeload.github.com
            return 302, {"Location": f"{other.url}/codeload/o/r/legacy.tar.gz/main"}, b""
        if h.path == "/repos/o/bounce/tarball/main":  # away and back: the token must not return
            return 302, {"Location": f"{other.url}/bounce"}, b""
        return 404, {}, b'{"message": "Not Found"}'

    def other_answer(host: Host, h: BaseHTTPRequestHandler) -> Answer:
        if h.path == "/bounce":
            return 302, {"Location": f"{api.url}/back/o/bounce"}, b""
        return 200, {"Content-Type": "application/x-gzip"}, tarball

    api.answer, other.answer = api_answer, other_answer
    fetcher = Fetcher(cache_dir=str(tmp_path / "cache"), api_url=api.url, token_env=TOKEN_ENV, backoff_s=0.0)
    got = fetcher.fetch({"name": "o/r", "archive": f"{api.url}/repos/o/r/tarball/main"})
    assert got.kind == "tar" and Path(got.path).read_bytes() == tarball
    with pytest.raises(FetchError) as err:  # the API host, asked again without the token, says 401
        fetcher.fetch({"name": "o/bounce", "archive": f"{api.url}/repos/o/bounce/tarball/main"})
    assert "401" in str(err.value) and TOKEN not in str(err.value)
    assert [r["target"] for r in other.seen] == ["/codeload/o/r/legacy.tar.gz/main", "/bounce"]
    assert_never_saw_token(other)
    back = [r for r in api.seen if r["target"] == "/back/o/bounce"]
    assert len(back) == 1 and "Authorization" not in back[0]["headers"]


def _echo_headers(h: BaseHTTPRequestHandler) -> str:
    auth = h.headers.get("Authorization", "")
    rest = "; ".join(f"{k}: {v}" for k, v in h.headers.items())
    return f"Bad request. You sent Authorization: {auth} -- token {TOKEN} -- headers {rest} " + "x" * 500


@pytest.mark.parametrize("where", ["json_message", "status_line"])
def test_an_error_echoing_the_request_headers_does_not_show_the_token(
    hosts: tuple[Host, Host], where: str, caplog: pytest.LogCaptureFixture
) -> None:
    api, _ = hosts
    if where == "json_message":
        api.answer = lambda host, h: (400, {}, json.dumps({"message": _echo_headers(h)}).encode())
    else:  # a body that is not JSON: the status line's reason phrase is what gets reported

        def answer(host: Host, h: BaseHTTPRequestHandler) -> Answer:
            host.reason = f"Bad Request (Authorization: {h.headers.get('Authorization')})"
            return 400, {}, b"<html>nope</html>"

        api.answer = answer
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SearchError) as err:
        list(search_repositories(api_client(api), query()))
    message = str(err.value)
    assert "400" in message and "Bad" in message  # the server's words are still there, in part
    assert TOKEN not in message and TOKEN[:12] not in message
    assert "Bearer ghp" not in message and "\n" not in message
    assert len(message) < 400  # cut: a hostile body cannot flood the terminal
    assert TOKEN not in caplog.text


def test_the_cli_error_for_an_echoing_server_does_not_show_the_token(
    hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    api, _ = hosts
    api.answer = lambda host, h: (400, {}, json.dumps({"message": _echo_headers(h)}).encode())
    proc = run_cli(
        "github",
        "search",
        str(tmp_path / "repos.jsonl"),
        "--api-url",
        api.url,
        "--token-env",
        TOKEN_ENV,
        "--created-after",
        "2023-01-01",
        env={**os.environ, TOKEN_ENV: TOKEN},
        timeout=120,
    )
    assert proc.returncode != 0 and "400" in proc.stdout + proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert api.seen and api.seen[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_a_clone_never_carries_the_token(hosts: tuple[Host, Host], tmp_path: Path) -> None:
    """Clones are anonymous: git is not handed the token in the URL, a config or a header, so a
    git server (here one that has no such repository) sees none of it, and nor does the error."""
    _, other = hosts
    fetcher = Fetcher(cache_dir=str(tmp_path / "cache"), api_url="http://127.0.0.1:1", token_env=TOKEN_ENV)
    with pytest.raises(FetchError) as err:
        fetcher.fetch({"name": "o/r", "url": f"{other.url}/o/r.git"})
    assert other.seen and TOKEN not in str(err.value)
    assert_never_saw_token(other)
    assert not list((tmp_path / "cache").rglob("config"))  # no .git/config left behind
