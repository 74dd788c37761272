"""The anchor prefilter: no anchor a text holds goes unreported, also where anchors overlap, nest
or share a pivot; and every match of a rule or name regex starts with one of its anchors."""

from __future__ import annotations

import random
from base64 import b64encode

import pytest

from classifiers.secrets.anchors import Anchors, spellings
from classifiers.secrets.entropy import _ASSIGNED, _NAMES, SECRET_NAMES
from classifiers.secrets.patterns import _ON_LOWER, _ON_TEXT, RULES
from tests.secrets.generate import GENERATORS
from tests.secrets.plant import render

#: anchors of which none can surround another's pivot: reported exactly
APART = [
    ("token", 1),
    ("_authToken", 2),
    ("sk-", 3),
    ("kk", 4),
    ("AKIA", 5),
    ("SKa", 6),
    ("x", 7),
    ("no pivot", 8),
]
#: anchors that nest or overlap at a shared pivot (`apikey-`, `sk-ant-`): none may be missed
OVERLAPPING = [*APART, ("apikey", 9), ("api_key", 10), ("key-", 11), ("key", 12), ("sk-ant-", 13), ("en", 14)]
PIECES = [a for a, _ in OVERLAPPING] + ["k", "K", "s", "-", "_", "e", "y", "a", "pi", "ant", " ", "A", "IA"]


def test_spellings():
    assert spellings(r"api[_\-]?key") == ("apikey", "api_key", "api-key")
    assert spellings("secret") == ("secret",)
    with pytest.raises(ValueError):
        spellings(r"pass(?:word)?")


@pytest.mark.parametrize("seed", range(3))
def test_present_reports_every_anchor_in_the_text(seed):
    apart, overlapping = Anchors(APART), Anchors(OVERLAPPING)
    rng = random.Random(seed)
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))
        assert apart.present(text) == {t for a, t in APART if a in text}, text
        # an anchor sharing a pivot position with another also reports the other's targets
        assert overlapping.present(text) >= {t for a, t in OVERLAPPING if a in text}, text
        assert not overlapping.present(text) or any(a in text for a, _ in OVERLAPPING), text


def test_every_rule_and_name_has_anchors():
    assert all(rule.anchors for rule in RULES)
    assert _ON_TEXT.present("") == _ON_LOWER.present("") == _NAMES.present("") == set()
    assert _NAMES.present("x = my_api-key") == {SECRET_NAMES.index(r"api[_\-]?key")}


def test_every_match_starts_with_an_anchor():
    """What makes skipping a rule safe, checked on lines of every generated secret kind."""
    rng = random.Random(5)
    lines = [
        render(kind, name, gen(rng), lang, rng)
        for kind, (name, gen) in GENERATORS.items()
        for lang in ("py", "c", "yaml", "json", "env")
        for _ in range(3)
    ]
    # formats the generators leave out
    lines += [
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKey=" + b64encode(rng.randbytes(32)).decode(),
        "GOOGLE_CLIENT_SECRET=GOCSPX-" + rng.randbytes(21).hex()[:28],
        "//registry.npmjs.org/:_authToken=" + rng.randbytes(20).hex(),
    ]
    text = "\n".join(lines)
    lower = text.lower()
    matched = set()
    for i, rule in enumerate(RULES):
        scanned = lower if rule.on_lower else text
        for m in rule.regex.finditer(scanned):
            assert scanned.startswith(rule.anchors, m.start()), (rule.kind, m.group())
            matched.add(i)
    for regex, name in zip(_ASSIGNED, SECRET_NAMES, strict=True):
        for m in regex.finditer(lower):
            assert lower.startswith(spellings(name), m.start()), (name, m.group())
    assert matched == set(range(len(RULES)))
