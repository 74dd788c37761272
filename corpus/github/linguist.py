"""Vendored, documentation, generated and minified files, decided with GitHub linguist's knowledge.

This is the rule API the walker calls. The path patterns and header banners come from linguist's
own data files (``data/linguist.json``, written by ``generate_linguist.py``); the path lists are
searched per folder and per file name (`linguist_paths`), and the rules linguist computes from the
content rather than matches (minified code, source-map trailers, checks tied to particular file
types and lines) are in `linguist_generated`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from corpus.github.linguist_generated import (
    MINIFIED_AVG_LINE,
    generated_by_type,
    minified,
    source_map_trailer,
)
from corpus.github.linguist_paths import PathRules, PathRuleSet

DATA_FILE = Path(__file__).parent / "data" / "linguist.json"

#: how many leading lines a generated-file banner may sit in, and at most how many characters
MARKER_LINES = 10
MARKER_WINDOW = 4000
_HEAD_LINES = re.compile(rf"(?:[^\n]*\n){{{MARKER_LINES}}}")


@dataclass(frozen=True)
class LinguistRules:
    """linguist's data compiled once per process (`load_rules`); `paths` answers all three path
    lists at once, the single lists give the matching pattern for a drop's detail."""

    vendor: PathRuleSet
    documentation: PathRuleSet
    generated_paths: PathRuleSet
    generated_markers: re.Pattern[str]
    commit: str
    paths: PathRules


@lru_cache(maxsize=1)
def load_rules() -> LinguistRules:
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    vendor = PathRuleSet(data["vendor"])
    docs = PathRuleSet(data["documentation"])
    generated_paths = PathRuleSet(data["generated_paths"])
    return LinguistRules(
        vendor=vendor,
        documentation=docs,
        generated_paths=generated_paths,
        generated_markers=re.compile("|".join(re.escape(m) for m in data["generated_markers"]) or r"(?!x)x"),
        commit=data.get("commit", ""),
        paths=PathRules(vendor, docs, generated_paths),
    )


def vendored(path: str) -> bool:
    return load_rules().paths.verdicts(path)[0]


def documentation(path: str) -> bool:
    return load_rules().paths.verdicts(path)[1]


def generated_path(path: str) -> str | None:
    """Why linguist would call a file of this name generated, before reading it; or None."""
    rules = load_rules()
    return _generated_why(rules, path, rules.paths.verdicts(path)[2])


def _generated_why(rules: LinguistRules, path: str, by_pattern: bool) -> str | None:
    m = rules.generated_paths.search(path) if by_pattern else None  # the match only when needed
    if m:
        return f"path matches {m.group(0)!r}"
    if path[-8:].lower().endswith((".js.map", ".css.map")):
        return "source map"
    return None


def generated_content(path: str, text: str) -> str | None:
    """Why linguist would call this content generated (banner near the top, source-map trailer,
    or one of the checks for particular file types in `generated_by_type`)."""
    trailer = source_map_trailer(path, text)
    if trailer:
        return trailer
    # the first MARKER_LINES lines, and at most MARKER_WINDOW characters: when those characters
    # hold fewer newlines, the window (or the whole text, if shorter) is the head
    lines = _HEAD_LINES.match(text, 0, MARKER_WINDOW)
    m = load_rules().generated_markers.search(text, 0, lines.end() if lines else MARKER_WINDOW)
    if m:
        return f"header says {m.group(0).strip()!r}"
    return generated_by_type(path, text)


def generated(path: str, text: str) -> str | None:
    """Why linguist would call this file generated, or None."""
    return generated_path(path) or generated_content(path, text)


def classify_path(path: str) -> tuple[str, str] | None:
    """(reason, detail) for what the name alone decides: the walker skips such files unread."""
    rules = load_rules()
    vendor, _docs, generated = rules.paths.verdicts(path)
    if vendor:
        return "vendored", "linguist vendor.yml"
    why = _generated_why(rules, path, generated)
    return ("generated", why) if why else None


def classify_content(path: str, text: str) -> tuple[str, str] | None:
    """(reason, detail) for what needs the content: generated banners and minified code."""
    why = generated_content(path, text)
    if why:
        return "generated", why
    if minified(path, text):
        return "minified", f"average line over {MINIFIED_AVG_LINE} characters"
    return None


def classify(path: str, text: str) -> tuple[str, str] | None:
    """(reason, detail) when the file is vendored, generated or minified; None when it is kept."""
    return classify_path(path) or classify_content(path, text)
