"""Provider token rules: credentials whose format names its issuer.

Most providers now give their tokens a fixed prefix (`ghp_`, `glpat-`, `xoxb-`, `sk_live_`,
`AIza`, `hf_`, `pypi-AgE`...) precisely so that scanners can find them without guessing, so these
rules are exact and need no entropy test. A few formats carry no prefix (an AWS secret access key,
a Twilio auth token); those rules start with the name the value is assigned to, matched on the
lower-cased text. Either way every match contains one of a few literals, the rule's anchors, and a
rule's regex runs only on texts that hold one of them (`anchors.py`): a clean file costs a few fast
passes for all rules together, not one regex pass per rule.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from classifiers.secrets.allow import is_placeholder, is_structured_noise
from classifiers.secrets.anchors import Anchors, spellings
from classifiers.secrets.findings import Finding

#: characters that may not come right before a token (it would be inside a longer word)
WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_E = r"(?![A-Za-z0-9_\-])"  # nor right after it


def shannon_entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def mixed_case(value: str) -> bool:
    return any(c.isupper() for c in value) and any(c.islower() for c in value)


@dataclass(frozen=True)
class Rule:
    """One format: its regex runs only on texts that hold one of its anchors."""

    kind: str
    regex: re.Pattern[str]
    #: literals of which every match contains one (in the string matched: `lower` when `on_lower`);
    #: the regex runs only on texts that hold one, so each must be provably in every match
    anchors: tuple[str, ...]
    #: extra test on the captured value (group 1); True keeps the finding
    check: Callable[[str], bool] | None = None
    #: the characters that may not come right before the match (a longer word or token)
    not_after: frozenset[str] = WORD
    #: match on the lower-cased text (names matched without case); the value is read from `text`
    on_lower: bool = False

    def find(self, text: str, lower: str) -> Iterator[Finding]:
        scanned = lower if self.on_lower else text
        for m in self.regex.finditer(scanned):
            if m.start() and scanned[m.start() - 1] in self.not_after:
                continue
            value = text[m.start(1) : m.end(1)]
            if is_placeholder(value) or (self.check is not None and not self.check(value)):
                continue
            yield Finding(m.start(1), m.end(1), self.kind, f"patterns:{self.kind}")


def _rule(
    kind: str,
    pattern: str,
    anchors: tuple[str, ...],
    check: Callable[[str], bool] | None = None,
    not_after: frozenset[str] = WORD,
    on_lower: bool = False,
) -> Rule:
    return Rule(kind, re.compile(pattern), anchors, check, not_after, on_lower)


def _random_looking(min_entropy: float) -> Callable[[str], bool]:
    return lambda v: shannon_entropy(v) >= min_entropy and not is_structured_noise(v)


#: name = value, with an optional quote around either, as in code, YAML, JSON, .env and INI
_ASSIGN = r"""["']?\s*(?:=>|:=|=|:)\s*["'`]?"""
_NAMED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")  # a name may follow `_` (`my_aws_...`)
_ANY: frozenset[str] = frozenset()
_UPPER_DIGITS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

_AWS_SECRET_NAME = r"secret[_\-]?access[_\-]?key"

#: A rule's anchors are the literal its regex starts with, or the alternatives its regex starts with
#: spelled out (`gh[pousr]_`: `ghp_`, ..., `ghr_`), so that every match provably starts with one.
RULES: tuple[Rule, ...] = (
    _rule(
        "aws_access_key_id",
        r"(A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z2-7]{16})(?![A-Z0-9])",
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        None,
        _UPPER_DIGITS,
    ),
    _rule(
        "aws_secret_access_key",
        r"aws[\w.\-]{0,24}?secret[\w.\-]{0,16}" + _ASSIGN + r"([a-z0-9/+]{40})(?![a-z0-9/+=])",
        ("aws",),
        _random_looking(4.0),
        _NAMED,
        on_lower=True,
    ),
    _rule(
        "aws_secret_access_key",
        _AWS_SECRET_NAME + r"[\w.\-]{0,8}" + _ASSIGN + r"([a-z0-9/+]{40})(?![a-z0-9/+=])",
        spellings(_AWS_SECRET_NAME),
        _random_looking(4.0),
        _NAMED,
        on_lower=True,
    ),
    *(
        _rule(
            "azure_storage_key",
            name + r"\s*=\s*([a-z0-9+/]{43,88}={0,2})",
            (name,),
            _random_looking(4.0),
            _ANY,
            True,
        )
        for name in ("accountkey", "sharedaccesskey")
    ),
    _rule("azure_sas_token", r"sig=([A-Za-z0-9%+/]{40,}(?:%3[Dd]|=){0,2})", ("sig=",), None, _ANY),
    _rule("github_token", r"(gh[pousr]_[A-Za-z0-9]{36,251})" + _E, tuple(f"gh{c}_" for c in "pousr")),
    _rule("github_token", r"(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _E, ("github_pat_",)),
    _rule(
        "gitlab_token",
        r"(gl(?:pat|rt|dt|ptt|ft)-[A-Za-z0-9_\-]{20,64})" + _E,
        ("glpat-", "glrt-", "gldt-", "glptt-", "glft-"),
    ),
    _rule(
        "slack_token",
        r"(xox[abeoprs]-(?:\d+-){0,3}[A-Za-z0-9]{8,}(?:-[A-Za-z0-9]+)*)" + _E,
        ("xox",),
        lambda v: sum(c.isdigit() for c in v) >= 4,
    ),
    _rule(
        "slack_webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(T[A-Z0-9]{6,}/[AB][A-Z0-9]{6,}/[A-Za-z0-9]{16,})",
        ("hooks.slack.com/",),
        None,
        _ANY,
    ),
    _rule("stripe_key", r"(sk_live_[A-Za-z0-9]{20,247})" + _E, ("sk_live_",)),
    _rule("stripe_key", r"(rk_live_[A-Za-z0-9]{20,247})" + _E, ("rk_live_",)),
    _rule("anthropic_key", r"(sk-ant-[a-z]{3,8}\d{0,3}-[A-Za-z0-9_\-]{32,200})" + _E, ("sk-ant-",)),
    _rule(
        "openai_key",
        r"(sk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{40,250}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"
        r"|[A-Za-z0-9]{48}))" + _E,
        ("sk-",),
        mixed_case,
    ),
    _rule("google_api_key", r"(AIza[0-9A-Za-z_\-]{35})" + _E, ("AIza",)),
    _rule("google_oauth_secret", r"(GOCSPX-[A-Za-z0-9_\-]{28})" + _E, ("GOCSPX-",)),
    _rule(
        "twilio_api_key",
        r"(SK[0-9a-f]{32})(?![A-Za-z0-9])",
        tuple(f"SK{c}" for c in "0123456789abcdef"),
        None,
        _NAMED | _UPPER_DIGITS,
    ),
    _rule(
        "twilio_auth_token",
        r"twilio[\w.\-]{0,24}?(?:token|secret)" + _ASSIGN + r"([0-9a-f]{32})(?![0-9a-z])",
        ("twilio",),
        None,
        _NAMED,
        on_lower=True,
    ),
    _rule("sendgrid_key", r"(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})" + _E, ("SG.",)),
    _rule("mailgun_key", r"(key-[0-9a-f]{32})(?![A-Za-z0-9])", ("key-",)),
    _rule("npm_token", r"(npm_[A-Za-z0-9]{36})" + _E, ("npm_",)),
    _rule("npm_token", r"_authToken\s*=\s*([A-Za-z0-9_\-.+/=]{20,})", ("_authToken",), None, _ANY),
    _rule("pypi_token", r"(pypi-AgE[A-Za-z0-9_\-]{50,})" + _E, ("pypi-AgE",)),
    _rule("huggingface_token", r"(hf_[A-Za-z0-9]{34})" + _E, ("hf_",), mixed_case),
    _rule("jwt", r"(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})" + _E, ("eyJ",)),
)
#: which rules a text can match: rules by index, their anchors found in `text` or in `lower`
_ON_TEXT = Anchors((a, i) for i, rule in enumerate(RULES) if not rule.on_lower for a in rule.anchors)
_ON_LOWER = Anchors((a, i) for i, rule in enumerate(RULES) if rule.on_lower for a in rule.anchors)


def find_tokens(text: str, lower: str) -> Iterator[Finding]:
    """Every provider token in `text`, rule by rule (overlaps are resolved by the caller); `lower`
    is `text.lower()`, the same length."""
    present = _ON_TEXT.present(text) | _ON_LOWER.present(lower)
    for i, rule in enumerate(RULES):
        if i in present:
            yield from rule.find(text, lower)
