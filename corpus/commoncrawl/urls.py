"""URL normalisation, domains, path prefixes and URL-level dedup.

Common Crawl holds the same page under many spellings (`HTTP://Example.com:80/a/./b?utm_source=x#top`
and `http://example.com/a/b`). Dedup, the domain table of the recall loop and the prefix discovery
all key on one canonical form, so the rules live here and nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

#: query parameters that only track the visitor and never change the page
TRACKING_PARAMS = frozenset(
    {
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "gclid",
        "fbclid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "ref_src",
        "sessionid",
        "phpsessid",
        "jsessionid",
        "sid",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"


def normalize_url(url: str) -> str:
    """Canonical spelling of a URL; returns the input stripped when it is not http(s).

    Lower-cases scheme and host, drops default ports, `www.`-insensitivity is *not* applied here
    (the two hosts can serve different pages) but is applied by `domain_of`. Resolves `.`/`..`,
    re-quotes the path uniformly, drops the fragment and tracking parameters and sorts the query.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    trailing = path.endswith("/")
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if trailing and path != "/":
        path += "/"
    path = quote(unquote(path), safe=_SAFE_PATH.replace("%", ""))
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in TRACKING_PARAMS
    )
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def domain_of(url: str) -> str:
    """The paper's "base URL": the host, lower-cased, without a leading `www.`."""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def path_prefixes(url: str, max_depth: int) -> list[str]:
    """`/a/`, `/a/b/`, ... up to `max_depth` directory levels of the URL's path.

    Only directories count: the last path segment is the page itself, so `/questions/123` yields
    `/questions/` and never `/questions/123`.
    """
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        return []
    segments = [s for s in path.split("/") if s]
    if not path.endswith("/"):
        segments = segments[:-1]
    out = []
    for depth in range(1, min(max_depth, len(segments)) + 1):
        out.append("/" + "/".join(segments[:depth]) + "/")
    return out


def url_key(url: str) -> bytes:
    """A 16-byte digest of the normalised URL, small enough to keep millions in memory."""
    return hashlib.blake2b(normalize_url(url).encode("utf-8", "surrogatepass"), digest_size=16).digest()


class UrlDeduper:
    """Remembers URLs seen so far and answers whether a URL is new.

    Memory is 16 bytes of digest per URL plus set overhead (~100 bytes): about 1 GB per ten
    million URLs, which is one WARC segment set per task in practice.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def is_new(self, url: str) -> bool:
        key = url_key(url)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def __len__(self) -> int:
        return len(self._seen)
