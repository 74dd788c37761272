"""Generic secrets: a random-looking value assigned to a name that says it is secret.

Neither half is enough alone. Code is full of random-looking strings (hashes, ids, base64 data,
test vectors) and of names like `token` (tokenizers!) holding ordinary values, so a value is
reported only when (1) it is assigned to a secret-ish name (`secret`, `api_key`, `access_token`,
`client_secret`, `private_key`, `credentials`, `auth_token`, a `Bearer` header...), (2) it looks
random by the numbers, with separate thresholds for hex and base64-like alphabets and lengths, and
(3) none of the false-positive controls apply:

- hashes: a value under a name or in a line about hashes (`sha256`, `digest`, `checksum`,
  `commit`, `integrity`, `etag`...), Subresource-Integrity values (`sha512-...`), and every value
  in a lockfile (`package-lock.json`, `yarn.lock`, `poetry.lock`, `Cargo.lock`, `go.sum`, ...);
- UUIDs and alphabet runs (detect-secrets' `is_potential_uuid` / `is_sequential_string`);
- placeholders and documentation values (`EXAMPLE`, `xxxx`, `your-api-key`, `changeme`, `${VAR}`);
- test vectors: byte counters (`000102030405...`) and one-byte fills;
- words: identifiers and CamelCase names (`GPT2BPETokenizer`) switch character class (lower,
  upper, digit) far less often than random text does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise

from classifiers.secrets.allow import is_placeholder, is_structured_noise
from classifiers.secrets.anchors import Anchors, spellings
from classifiers.secrets.findings import Finding
from classifiers.secrets.patterns import shannon_entropy

LOCKFILES = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "pipfile.lock",
    "cargo.lock",
    "gemfile.lock",
    "composer.lock",
    "go.sum",
    "packages.lock.json",
    "pdm.lock",
    "uv.lock",
    "flake.lock",
    "mix.lock",
    "pubspec.lock",
    "podfile.lock",
)

#: the words a secret-ish name contains (literal words joined by `[_\-]?`); each starts its own
#: regex, so every match starts with one of the name's spellings, and the regex runs only on texts
#: that hold one (`anchors.py`)
SECRET_NAMES = (
    r"secret",
    r"token",
    r"api[_\-]?key",
    r"apikey",
    r"access[_\-]?key",
    r"auth[_\-]?key",
    r"private[_\-]?key",
    r"credential",
    r"signing[_\-]?key",
    r"encryption[_\-]?key",
    r"session[_\-]?key",
    r"master[_\-]?key",
    r"client[_\-]?key",
)
# on lower-cased text; group 1: the rest of the name, groups 2-5: the value (quoted or bare)
_TAIL = (
    r"([\w.\-]*)\\?[\"']?\]?(?:\s*:\s*[a-z_][\w.\[\]|]*(?=\s*=))?\s*(?:=>|:=|=|:|,)[ \t]*b?"
    r"(?:\\?\"([^\"\s\\]{16,512})\\?\"|\\?'([^'\s\\]{16,512})\\?'|`([^`\s\\]{16,512})`"
    r"|([a-z0-9+/=_\-.~]{16,512})(?![a-z0-9+/=_\-.~]))"
)
_ASSIGNED = tuple(re.compile(name + _TAIL) for name in SECRET_NAMES)
#: which of `_ASSIGNED` a lower-cased text can match, by index
_NAMES = Anchors((spelled, i) for i, name in enumerate(SECRET_NAMES) for spelled in spellings(name))
_BEARER = re.compile(r"bearer[ \t]+([a-z0-9_\-.~+/]{20,512}=*)(?![a-z0-9_\-.~+/=])")
_NAME_START = re.compile(r"[\w.\-]*$")
#: names (of the assignment) that hold something about a secret, not a secret
_NOT_VALUE_NAMES = (
    "tokeniz",
    "tokens",
    "token_type",
    "token_id",
    "tokenid",
    "token_len",
    "token_count",
    "token_num",
    "token_size",
    "num_token",
    "max_token",
    "min_token",
    "_name",
    "_path",
    "_file",
    "_dir",
    "_env",
    "_var",
    "_url",
    "_uri",
    "_type",
    "_length",
    "_size",
    "_field",
    "_header",
    "_param",
    "_prefix",
    "_ref",
    "_arn",
    "_id",
    "_key_id",
    "_hash",
    "_version",
    "_endpoint",
    "_provider",
    "_label",
    "_pattern",
    "_regex",
    "_format",
)
_HASH_WORDS = re.compile(
    r"(?<![a-z])(?:sha(?:1|224|256|384|512)?|md5|hash(?:es|ed)?|digest|checksum|integrity|etag|commit|"
    r"revision|fingerprint)(?![a-z])"
)
_HEX = frozenset("0123456789abcdefABCDEF")
_SRI = ("sha1-", "sha256-", "sha384-", "sha512-")


def is_lockfile(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return name in LOCKFILES or name.endswith(".lock")


def class_changes(value: str) -> float:
    """Share of adjacent characters whose class (lower, upper, digit, other) differs."""

    def cls(c: str) -> int:
        return 0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3

    classes = [cls(c) for c in value]
    return sum(a != b for a, b in pairwise(classes)) / max(len(value) - 1, 1)


def is_test_vector(value: str) -> bool:
    """Hex byte counters (`000102...`, `0f0e0d...`) and one-byte fills, as crypto tests write them."""
    if len(value) % 2 or not set(value) <= _HEX:
        return False
    data = bytes.fromhex(value)
    steps = {(b - a) % 256 for a, b in pairwise(data)}
    return len(steps) <= 1


def looks_random(value: str) -> bool:
    core = value.rstrip("=")
    n = len(core)
    if n < 16:
        return False
    entropy = shannon_entropy(core)
    if set(core) <= _HEX:
        return n >= 20 and entropy >= (2.9 if n < 24 else 3.2) and not is_test_vector(core)
    needed = 3.3 if n < 20 else 3.7 if n < 28 else 4.0 if n < 40 else 4.3
    alnum = sum(c.isalnum() for c in core) / n
    return (
        entropy >= needed and class_changes(core) >= 0.3 and alnum >= 0.6 and any(c.isdigit() for c in core)
    )


def _hash_context(lower: str, start: int) -> bool:
    line_start = lower.rfind("\n", 0, start) + 1
    return _HASH_WORDS.search(lower, line_start, start) is not None


def find_high_entropy(text: str, lower: str, path: str = "") -> Iterator[Finding]:
    """`lower` is `text.lower()` (the same length): the names are matched without case."""
    if is_lockfile(path):
        return
    present = _NAMES.present(lower)
    for m in (m for i, regex in enumerate(_ASSIGNED) if i in present for m in regex.finditer(lower)):
        name = (
            _NAME_START.search(lower, max(0, m.start() - 40), m.start()).group() + lower[m.start() : m.end(1)]
        )
        if any(w in name for w in _NOT_VALUE_NAMES):
            continue
        g = next(i for i in (2, 3, 4, 5) if m.group(i) is not None)
        yield from _judge(text, lower, m.start(g), m.end(g), "entropy:assignment")
    if "bearer" in lower:
        for m in _BEARER.finditer(lower):
            yield from _judge(text, lower, m.start(1), m.end(1), "entropy:bearer")


def _judge(text: str, lower: str, start: int, end: int, detector: str) -> Iterator[Finding]:
    value = text[start:end]
    if value.lower().startswith(_SRI) or not looks_random(value):
        return
    if is_placeholder(value) or is_structured_noise(value) or _hash_context(lower, start):
        return
    yield Finding(start, end, "high_entropy_secret", detector)
