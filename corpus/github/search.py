"""Repository lists from the GitHub REST search API, polite and resumable.

The paper's list is "public repositories created before November 2023"; here that is a search over
`created:<CUTOFF` with optional star, language and pushed-date limits. GitHub answers at most 1000
results per query, so a query with more is split into halves of its creation-date window until
each half fits; a single day that still has more is split into its 24 hours (`created:` takes UTC
times, `2023-01-02T05:00:00Z..2023-01-02T05:59:59Z`), and such an hour into its 60 minutes. Every
window is paged through (`per_page=100`, the `Link: rel="next"` chain).

Politeness: a 403/429 with `x-ratelimit-remaining: 0` (or a `retry-after`) waits until the reset
time and asks again; 5xx and dropped connections are retried with exponential backoff. Every
answer is kept in an on-disk cache keyed by URL (never by token), so a re-run asks nothing twice;
with `refresh=True` a cached answer is revalidated with its ETag (a 304 costs no rate limit).

The token: read from the environment, never logged or written, and sent only to the API's own
origin (the scheme, host and port of `api_url`). A `next` link or any other URL on another origin
is refused, not fetched: a paginated answer that points elsewhere is not GitHub's answer, and
following it without the token would only swap a leak for pages from an unknown host. Redirects
are followed while they stay on the API origin (with the token, as GitHub's own moved-resource
redirects need) and refused when they leave it; urllib's own redirect handling would carry the
`Authorization` header to any host. What a server says back in an error (its message or status
line, which a hostile or misconfigured host may fill with the request's headers) is scrubbed of
the token and of any `Authorization`/`Bearer` value, put on one line and cut to 300 characters
before it goes into an exception.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from corpus.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

#: GitHub's search API stops at this many results per query
SEARCH_RESULT_LIMIT = 1000
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
_REDIRECTS = (301, 302, 303, 307, 308)
#: how much of a server's error text reaches an exception message
ERROR_TEXT_LIMIT = 300
#: how much of an error body is read at all (a hostile server may send a lot)
_ERROR_BODY_READ = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}
# credentials as they appear in echoed headers or text: an Authorization header's value, the
# value after an auth scheme, and GitHub's own token formats (classic, fine-grained)
_SECRET_PATTERNS = (
    (re.compile(r"""(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?)[^"'\r\n,;}]+"""), r"\1***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"(?i)\b(token)\s+[A-Za-z0-9._~+/=-]{20,}"), r"\1 ***"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,})"), "***"),
)


class SearchError(Exception):
    """The API refused for good (bad query, bad credentials, retries exhausted, a redirect or
    link to another host)."""


def origin(url: str) -> tuple[str, str, int] | None:
    """A URL's (scheme, host, port), with the scheme's default port filled in and case folded,
    so `https://API.github.com:443/x` and `https://api.github.com/y` compare equal; None for a
    URL without a host or with a malformed port (which then matches nothing)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def same_origin(url: str, base: str) -> bool:
    """Whether `url` is on `base`'s scheme, host and port: the only place a token may go."""
    mine = origin(url)
    return mine is not None and mine == origin(base)


def origin_text(url: str) -> str:
    """`scheme://host:port` of a URL for a message: never its path, query or user info."""
    o = origin(url)
    return f"{o[0]}://{o[1]}:{o[2]}" if o else "an unsupported URL"


def scrub(text: str, *secrets: str | None) -> str:
    """Server- or tool-supplied text made safe for an exception or a log: every given secret and
    every credential-looking value replaced by `***`, whitespace folded onto one line, and cut to
    `ERROR_TEXT_LIMIT` characters (after scrubbing, so a cut never leaves part of a secret)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


@dataclass
class RepoQuery:
    created_before: date = date(2023, 11, 1)
    created_after: date = date(2008, 1, 1)
    min_stars: int = 0
    languages: list[str] = field(default_factory=list)
    pushed_after: date | None = None
    extra: str = ""
    max_repos: int | None = None

    def qualifiers(self, start: date, end: date, language: str | None) -> str:
        """`created:START..END` is inclusive on both ends, so END is the day (or, for a window
        within one day, the second) before the next window."""
        q = [f"created:{_stamp(start)}..{_stamp(end)}", "is:public", "fork:false"]
        if self.min_stars:
            q.append(f"stars:>={self.min_stars}")
        if language:
            q.append(f'language:"{language}"' if " " in language else f"language:{language}")
        if self.pushed_after:
            q.append(f"pushed:>={self.pushed_after.isoformat()}")
        if self.extra:
            q.append(self.extra)
        return " ".join(q)


@dataclass
class GithubApi:
    """A small, careful client for the parts of the REST API the corpus build uses."""

    api_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"
    cache_dir: str | None = None
    refresh: bool = False
    retries: int = 5
    backoff_s: float = 1.0
    max_wait_s: float = 3600.0
    timeout_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    cache_hits: int = 0
    #: epoch seconds before which the quota is known to be spent (from the last answer's headers)
    blocked_until: float = 0.0

    def get_json(self, path_or_url: str, params: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        """GET a JSON document (from the cache when it has one), with its response headers. A URL
        on another origin than `api_url` (a `next` link pointing away) is refused unasked."""
        url = self._url(path_or_url, params)
        if not same_origin(url, self.api_url):
            raise SearchError(
                f"refusing a GitHub API link to {origin_text(url)}: only {origin_text(self.api_url)} "
                "(the configured API) is asked, and it alone gets the token"
            )
        token = self._token()
        cached = self._cache_read(url)
        if cached is not None and not self.refresh:
            self.cache_hits += 1
            return cached["body"], cached["headers"]
        attempt = 0
        while True:
            if self.blocked_until > time.time():  # the last answer used the quota up: wait first
                wait = min(self.blocked_until - time.time() + 1.0, self.max_wait_s)
                log.warning("GitHub rate limit used up: waiting %.0f s until it resets", wait)
                self.sleep(wait)
                self.blocked_until = 0.0
            req = urllib.request.Request(url, headers=self._headers(url, token, cached))
            opener = urllib.request.build_opener(_StayOnApiOrigin(self.api_url))
            self.requests_made += 1
            try:
                with opener.open(req, timeout=self.timeout_s) as resp:
                    body = json.loads(resp.read().decode("utf-8"))
                    headers = {k.lower(): v for k, v in resp.headers.items()}
                self._note_quota(headers)
                self._cache_write(url, body, headers)
                return body, headers
            except urllib.error.HTTPError as e:
                headers = {k.lower(): v for k, v in e.headers.items()} if e.headers else {}
                if e.code == 304 and cached is not None:
                    self.cache_hits += 1
                    return cached["body"], cached["headers"]
                if e.code in _REDIRECTS:  # refused by _StayOnApiOrigin: it leads off the API origin
                    target = urllib.parse.urljoin(url, headers.get("location", ""))
                    raise SearchError(
                        f"GitHub API answered {e.code} for {_path(url)} with a redirect to "
                        f"{origin_text(target)}; not followed: only {origin_text(self.api_url)} "
                        "(the configured API) is asked, and it alone gets the token"
                    ) from None
                wait = self._rate_limit_wait(e.code, headers)
                if wait is not None:
                    log.warning("GitHub rate limit reached: waiting %.0f s until it resets", wait)
                    self.sleep(wait)
                    continue  # waiting for a reset is not a failed attempt
                if e.code >= 500 and attempt < self.retries:
                    self.sleep(self.backoff_s * 2**attempt)
                    attempt += 1
                    continue
                detail = scrub(_error_message(e), token)
                raise SearchError(f"GitHub API answered {e.code} for {_path(url)}: {detail}") from None
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError, ValueError) as e:
                if attempt < self.retries:
                    self.sleep(self.backoff_s * 2**attempt)
                    attempt += 1
                    continue
                raise SearchError(f"GitHub API unreachable at {_path(url)}: {scrub(str(e), token)}") from None

    # -- internals ----------------------------------------------------------------------------
    def _url(self, path_or_url: str, params: dict[str, Any] | None) -> str:
        url = (
            path_or_url if "://" in path_or_url else self.api_url.rstrip("/") + "/" + path_or_url.lstrip("/")
        )
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(sorted(params.items()))
        return url

    def _token(self) -> str | None:
        return (os.environ.get(self.token_env) or None) if self.token_env else None

    def _headers(self, url: str, token: str | None, cached: dict[str, Any] | None) -> dict[str, str]:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "coderforge",
        }
        if token and same_origin(url, self.api_url):  # get_json refuses other origins; belt and braces
            headers["Authorization"] = f"Bearer {token}"
        if cached is not None and cached["headers"].get("etag"):
            headers["If-None-Match"] = cached["headers"]["etag"]
        return headers

    def _note_quota(self, headers: dict[str, str]) -> None:
        if headers.get("x-ratelimit-remaining") == "0":
            try:
                self.blocked_until = float(headers.get("x-ratelimit-reset", "0"))
            except ValueError:
                self.blocked_until = 0.0

    def _rate_limit_wait(self, code: int, headers: dict[str, str]) -> float | None:
        if code not in (403, 429):
            return None
        if "retry-after" in headers:
            try:
                return min(float(headers["retry-after"]), self.max_wait_s)
            except ValueError:
                return None
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                reset = float(headers["x-ratelimit-reset"])
            except ValueError:
                return None
            return min(max(reset - time.time(), 0.0) + 1.0, self.max_wait_s)
        return None

    def _cache_path(self, url: str) -> str | None:
        if not self.cache_dir:
            return None
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return os.path.join(self.cache_dir, key[:2], key + ".json")

    def _cache_read(self, url: str) -> dict[str, Any] | None:
        path = self._cache_path(url)
        if not path or not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                entry = json.load(f)
        except (OSError, ValueError):
            return None  # a damaged entry is asked again
        return entry if entry.get("url") == url else None

    def _cache_write(self, url: str, body: Any, headers: dict[str, str]) -> None:
        path = self._cache_path(url)
        if not path:
            return
        keep = {k: v for k, v in headers.items() if k in ("etag", "link", "last-modified")}
        atomic_write_text(path, json.dumps({"url": url, "headers": keep, "body": body}, sort_keys=True))


class _StayOnApiOrigin(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only while it stays on the API origin (the token goes along, as GitHub's
    moved-resource redirects need); one that leaves it is not followed at all, so it comes back as
    the 3xx answer itself and `get_json` refuses it in words."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if not same_origin(newurl, self.api_url):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _error_message(e: urllib.error.HTTPError) -> str:
    """The server's own words for an error, raw: the caller scrubs and cuts them."""
    try:
        return str(json.loads(e.read(_ERROR_BODY_READ).decode("utf-8")).get("message", ""))
    except (ValueError, OSError, AttributeError):
        return e.reason if isinstance(e.reason, str) else ""


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def repo_record(item: dict[str, Any], api_url: str, method: str) -> dict[str, Any]:
    """A search hit as a repository entry of the build (the same keys as a recipe's repos)."""
    name = item["full_name"]
    branch = item.get("default_branch") or "HEAD"
    record: dict[str, Any] = {
        "name": name,
        "stars": int(item.get("stargazers_count") or 0),
        "created_at": (item.get("created_at") or "")[:10] or None,
        "pushed_at": (item.get("pushed_at") or "")[:10] or None,
        "license": ((item.get("license") or {}).get("spdx_id")) or None,
        "size_kb": item.get("size"),
        "default_branch": branch,
        "github_language": item.get("language"),
    }
    if method == "tarball":
        record["archive"] = f"{api_url.rstrip('/')}/repos/{name}/tarball/{urllib.parse.quote(branch)}"
    else:
        record["url"] = item.get("clone_url") or f"https://github.com/{name}.git"
    return record


def _stamp(moment: date) -> str:
    """A `created:` bound: a day as `YYYY-MM-DD`, a moment within one as UTC `...THH:MM:SSZ`."""
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def _windows(start: date, end: date) -> list[tuple[date, date]] | None:
    """Smaller windows covering `start..end` (both inclusive), or None when it cannot be split:
    several days are halved; one day becomes its 24 hours, an hour its 60 minutes (a minute is
    as far as it goes)."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        if end - start >= timedelta(minutes=59, seconds=59):  # an hour: its minutes
            minute, second = timedelta(minutes=1), timedelta(seconds=1)
            return [(start + i * minute, start + (i + 1) * minute - second) for i in range(60)]
        return None
    if start < end:
        mid = start + (end - start) // 2
        return [(start, mid), (mid + timedelta(days=1), end)]
    day = datetime(start.year, start.month, start.day)
    hour, second = timedelta(hours=1), timedelta(seconds=1)
    return [(day + i * hour, day + (i + 1) * hour - second) for i in range(24)]


def search_repositories(
    api: GithubApi, query: RepoQuery, method: str = "git", progress: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Every repository matching `query`, each once, in a stable order (by window, then GitHub's
    order by stars within a window)."""
    seen: set[str] = set()
    last_day = query.created_before - timedelta(days=1)
    for language in query.languages or [None]:
        stack: list[tuple[date, date]] = [(query.created_after, last_day)]
        while stack:
            start, end = stack.pop(0)
            q = query.qualifiers(start, end, language)
            params = {"q": q, "sort": "stars", "order": "desc", "per_page": 100}
            body, headers = api.get_json("/search/repositories", params)
            total = int(body.get("total_count", 0))
            parts = _windows(start, end) if total > SEARCH_RESULT_LIMIT else None
            if parts:
                stack[:0] = parts
                continue
            if total > SEARCH_RESULT_LIMIT:
                log.warning(
                    "%d repositories created in %s..%s; only the first %d are reachable",
                    total,
                    _stamp(start),
                    _stamp(end),
                    SEARCH_RESULT_LIMIT,
                )
            while True:
                for item in body.get("items", []):
                    name = item.get("full_name")
                    if not name or name in seen:
                        continue
                    seen.add(name)
                    if progress:
                        progress(1)
                    yield repo_record(item, api.api_url, method)
                    if query.max_repos is not None and len(seen) >= query.max_repos:
                        return
                nxt = _NEXT_LINK.search(headers.get("link", ""))
                if not nxt:
                    break
                body, headers = api.get_json(nxt.group(1))
