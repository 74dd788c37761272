"""One pass of every detector over a text: the findings to redact, without overlaps.

Detectors run in order of how much they know: key blocks first (a key body would otherwise also
match token and entropy rules), then provider tokens, passwords, generic high-entropy values and
last personal data. Where two findings overlap the earlier detector wins, so a GitHub token inside
a basic-auth URL is one `github_token`, not a token and a password.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from classifiers.secrets.entropy import find_high_entropy
from classifiers.secrets.findings import Finding
from classifiers.secrets.keys import find_private_keys
from classifiers.secrets.passwords import find_passwords
from classifiers.secrets.patterns import find_tokens
from classifiers.secrets.pii import find_emails, find_ips


@dataclass(frozen=True)
class Detectors:
    """Which detector families run."""

    secrets: bool = True
    emails: bool = True
    ips: bool = True


def _lower(text: str) -> str:
    """`text.lower()` when it keeps every offset (always for ASCII); otherwise a copy with only
    ASCII letters lowered, which does (a few characters such as `İ` lower to two)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def scan(text: str, path: str = "", detectors: Detectors = Detectors()) -> list[Finding]:
    """The findings in `text` (from a file at `path`, which tells config files and lockfiles
    apart), sorted by offset and never overlapping."""
    groups: list[list[Finding]] = []
    if detectors.secrets:
        lower = _lower(text)
        groups.append(list(find_private_keys(text)))
        groups.append(list(find_tokens(text, lower)))
        groups.append(list(find_passwords(text, lower, path)))
        groups.append(list(find_high_entropy(text, lower, path)))
    if detectors.emails:
        groups.append(list(find_emails(text)))
    if detectors.ips:
        groups.append(list(find_ips(text)))
    kept: list[Finding] = []
    for group in groups:
        for f in sorted(group):
            i = bisect_left(kept, f)
            before_ok = i == 0 or kept[i - 1].end <= f.start
            after_ok = i == len(kept) or f.end <= kept[i].start
            if before_ok and after_ok and f.end > f.start:
                kept.insert(i, f)
    return kept
