"""Personal data: e-mail addresses and IP addresses.

Kept, because they identify nobody: documentation domains (`example.com/.org/.net`, the `.test`,
`.example`, `.invalid`, `.localhost` TLDs), `noreply`/`no-reply` senders and GitHub's
`users.noreply.github.com`; private (10/8, 172.16/12, 192.168/16), loopback, link-local,
unspecified (`0.0.0.0`), broadcast (`255.255.255.255`), multicast and the documentation ranges of
RFC 5737 (192.0.2/24, 198.51.100/24, 203.0.113/24) and RFC 3849 (2001:db8::/32); and dotted
numbers that are versions (`version 1.2.3.4`, `v1.2.3.4`, `==1.2.3.4`) or longer dotted runs
(OIDs, `1.2.3.4.5`).

Code is full of near-e-mails: `a@b.T` (matrix products), `icon@2x.png`, `pkg@1.2.3`, decorators.
An address must end in a lower-case (or all upper-case) top-level domain of two or more letters
that is not a file extension, and its local part must not end in a dot.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from classifiers.secrets.findings import Finding

# Both searches start at a literal (`@`, `.`, `:`), which the regex engine finds at substring
# speed; the rest of the address is matched around it.
_DOMAIN = re.compile(
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w\-]|\.[A-Za-z0-9])"
)
_LOCAL = re.compile(r"[A-Za-z0-9][\w.%+\-]{0,63}\Z")
#: a local part right after these was cut by the search window, or is an escape (`"\\n@x.com"`)
_NOT_BEFORE_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.%+-\\")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_TAIL = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_IPV6_SEED = re.compile(r":[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{1,4}")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")
_WORD_AFTER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_NOT_BEFORE_IP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_VERSION_BEFORE = re.compile(
    r"(?:(?<![a-z])(?:version|ver|release|v)|==|>=|<=|~=|!=|@|\^|~)[\s:=\"'(\-_,]*$", re.IGNORECASE
)

DOC_DOMAINS = ("example.com", "example.org", "example.net", "users.noreply.github.com")
DOC_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "internal", "lan"})
#: file extensions that follow `@2x`, `name@host` lookalikes in asset names and code
FILE_TLDS = frozenset(
    {
        "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "js", "ts", "mjs", "cjs", "jsx", "tsx",
        "css", "scss", "py", "rb", "go", "rs", "cc", "cpp", "hpp", "hh", "java", "kt", "md", "txt", "json",
        "yaml", "yml", "toml", "xml", "html", "htm", "so", "dll", "exe", "zip", "gz", "tar", "bz", "xz",
        "whl", "pdf", "mp", "wav", "mp3", "mp4", "lock", "log", "sh", "bat", "pt", "pth", "bin", "onnx",
        "npy", "npz", "csv", "tsv", "proto", "pb", "pkl", "cu", "cuh", "ipynb", "jar", "class", "dat", "db",
    }
)  # fmt: skip
#: generic top-level domains seen in addresses; any two-letter (country) domain also counts. A name
#: after `@` ending in anything else (`n@triton.jit`, `x@w.data`) is code, not an address.
GENERIC_TLDS = frozenset(
    {
        "com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "mobi", "aero",
        "coop", "museum", "jobs", "travel", "dev", "app", "io", "ai", "xyz", "tech", "cloud", "online",
        "site", "email", "mail", "team", "company", "systems", "solutions", "services", "digital",
        "software", "network", "science", "academy", "institute", "foundation", "global", "world",
        "website", "space", "store", "shop", "blog", "news", "media", "agency", "studio", "design",
        "consulting", "engineering", "group", "ltd", "llc", "inc", "page", "codes", "tools", "zone",
    }
)  # fmt: skip
NOREPLY = re.compile(r"^no[\-_.]?reply", re.IGNORECASE)


def _keep_email(local: str, domain: str, tld: str) -> bool:
    d = domain.lower()
    t = tld.lower()
    if not (tld.islower() or tld.isupper()) or t in FILE_TLDS or local.endswith("."):
        return True
    if len(t) != 2 and t not in GENERIC_TLDS:
        return True
    if tld.lower() in DOC_TLDS or NOREPLY.match(local):
        return True
    return any(d == doc or d.endswith("." + doc) for doc in DOC_DOMAINS)


def find_emails(text: str) -> Iterator[Finding]:
    at = text.find("@")
    while at >= 0:
        local = _LOCAL.search(text, max(0, at - 64), at)
        domain = _DOMAIN.match(text, at + 1)
        if local and domain:
            start = local.start()
            # the local part's regex may have started mid-run when the 64-character window cut it
            if not (start and text[start - 1] in _NOT_BEFORE_LOCAL) and not _keep_email(
                local.group(), domain.group(1), domain.group(2)
            ):
                yield Finding(start, domain.end(), "email", "pii:email")
        at = text.find("@", (domain.end() if domain else at) + 1)


def _public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast


def find_ips(text: str) -> Iterator[Finding]:
    last = -1
    for seed in _IPV4_TAIL.finditer(text):
        start = seed.start()
        while start > 0 and start > seed.start() - 3 and text[start - 1].isdigit():
            start -= 1
        if start <= last or (start and text[start - 1] in _NOT_BEFORE_IP):
            continue
        m = _IPV4.match(text, start)
        if m is None:
            continue
        last = m.end()
        if (
            _public(m.group())
            and not m.group().endswith(".0")
            and not _VERSION_BEFORE.search(text, max(0, start - 24), start)
        ):
            yield Finding(start, m.end(), "ip_address", "pii:ipv4")
    last = -1
    for seed in _IPV6_SEED.finditer(text):
        start, end = seed.start(), seed.end()
        if start < last:
            continue
        while start > 0 and text[start - 1] in _HEX_COLON:
            start -= 1
        while end < len(text) and text[end] in _HEX_COLON:
            end += 1
        last = end
        value = text[start:end]
        if (start and text[start - 1] in _NOT_BEFORE_IP) or (end < len(text) and text[end] in _WORD_AFTER):
            continue
        if value.count(":") >= 3 and any(c.isdigit() for c in value) and _public(value):
            yield Finding(start, end, "ip_address", "pii:ipv6")
