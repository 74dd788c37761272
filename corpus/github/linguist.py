"""Vendored, generated and minified files, decided with GitHub linguist's knowledge.

The path patterns and header banners come from linguist's own data files (see
``generate_linguist.py``, which writes ``data/linguist.json``); each list is joined into one
compiled alternation so that a path costs one regex search, not a hundred. The two rules linguist
computes rather than matches are implemented from their definitions: a ``.js``/``.css`` file is
minified when its average line length (integer division over the pieces of ``split("\\n")``, so
a final newline counts as one more, empty line) exceeds 110 characters, and a file that ends with a
``sourceMappingURL`` comment (or is a ``.map`` file) was produced from other files.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).parent / "data" / "linguist.json"

#: linguist's threshold for minified JavaScript and CSS (average characters per line)
MINIFIED_AVG_LINE = 110
#: how many leading lines a generated-file banner may sit in
MARKER_LINES = 10
_SOURCE_MAP_COMMENT = re.compile(r"^/[*/][#@] source(?:Mapping)?URL|sourceURL=", re.M)


@dataclass(frozen=True)
class LinguistRules:
    vendor: PatternSet
    documentation: PatternSet
    generated_paths: PatternSet
    generated_markers: re.Pattern[str]
    commit: str


_SEGMENT_START = ("(^|/)", "(?:^|/)", "(^|\\/)", "(?:^|\\/)")
_REDUNDANT_LEAD = ("(.*?)", "([^\\s]*)")


def _lead_literal(p: str) -> str | None:
    """The literal first token of a pattern (`a`, `\\.`) when factoring it out is safe."""
    if p[:1] == "\\" and p[1:2] in (".", "-", "_", "/", "+"):
        token = p[:2]
    elif p[:1].isalnum() or p[:1] in ("_", "-", "~", "@"):
        token = p[:1]
    else:
        return None
    if p[len(token) : len(token) + 1] in ("*", "+", "?", "{"):
        return None
    depth, i, in_class = 0, 0, False
    while i < len(p):  # a top-level `|` would change meaning once the token is factored out
        c = p[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return None
        i += 1
    return token


def _alternation(patterns: list[str]) -> str:
    """`a|b|...` with patterns sharing a literal first token grouped under it, so that at each
    position only the patterns that can start there are tried."""
    groups: dict[str, list[str]] = {}
    rest: list[str] = []
    for p in patterns:
        token = _lead_literal(p)
        if token is None:
            rest.append(f"(?:{p})")
        else:
            groups.setdefault(token, []).append(p[len(token) :])
    parts = [t + "(?:" + "|".join(f"(?:{r})" for r in tails) + ")" for t, tails in sorted(groups.items())]
    return "|".join(parts + rest)


_PLAIN = re.compile(r"(?:[A-Za-z0-9_~@ -]|\\[.\-_/+])+")


def _required_literal(p: str) -> str | None:
    """The longest literal that every match of `p` contains, or None when there is no such
    literal that is easy to prove (a top-level `|`, or only classes and groups)."""
    if "(?i" in p:  # case-insensitive: a literal would have to match any case
        return None
    depth, i, in_class = 0, 0, False
    runs: list[str] = []
    current = ""
    while i < len(p):
        c = p[i]
        escaped = c == "\\" and i + 1 < len(p)
        token = p[i : i + 2] if escaped else c
        quantified = p[i + len(token) : i + len(token) + 1] in ("?", "*", "{") or (
            p[i + len(token) : i + len(token) + 1] == "+"
        )
        literal = None
        if in_class:
            in_class = c != "]" or escaped
        elif c == "[" and not escaped:
            in_class = True
        elif c == "(" and not escaped:
            depth += 1
        elif c == ")" and not escaped:
            depth -= 1
        elif c == "|" and not escaped and depth == 0:
            return None
        elif depth == 0:
            if escaped and p[i + 1] in ".-_/+":
                literal = p[i + 1]
            elif not escaped and (c.isalnum() or c in "_~@ -/"):
                literal = c
        if literal is not None and not quantified:
            current += literal
        else:
            if current:
                runs.append(current)
            current = ""
            if literal is not None and p[i + len(token) : i + len(token) + 1] == "+":
                current = literal  # one occurrence at least is required
        i += len(token)
    if current:
        runs.append(current)
    best = max(runs, key=len, default="")
    return best if len(best) >= 3 else None


def _literal_filter(p: str) -> tuple[str, bool] | None:
    """(literal, case-insensitive) that a path must contain for `p` to match it, if provable.
    A whole pattern scoped `(?i:...)` (linguist's trailing /i) is checked in lower case."""
    if p.startswith("(?i:") and p.endswith(")") and "(?i" not in p[4:]:
        inner = p[4:-1]
        for lead in _SEGMENT_START:
            inner = inner.removeprefix(lead)
        literal = _required_literal(inner)
        return (literal.lower(), True) if literal else None
    literal = _required_literal(p)
    return (literal, False) if literal else None


class PatternSet:
    """Many path regexes searched as one: the patterns that start at a path segment share one
    `(?:^|/)` alternation (grouped by first literal), and each other pattern is tried only when
    the path contains a literal that any of its matches must contain. Same answers as joining
    them all with `|`, ~4x cheaper per path on linguist's lists."""

    def __init__(self, patterns: list[str]) -> None:
        segment: list[str] = []
        self.others: list[tuple[tuple[str, bool] | None, re.Pattern[str]]] = []
        for p in patterns:
            for lead in _REDUNDANT_LEAD:  # a leading "anything" adds nothing to a search
                if p.startswith(lead):
                    p = p[len(lead) :]
            for lead in _SEGMENT_START:
                if p.startswith(lead):
                    segment.append(p[len(lead) :])
                    break
            else:
                self.others.append((_literal_filter(p), re.compile(p)))
        self.segment = re.compile("(?:^|/)(?:" + _alternation(segment) + ")") if segment else None

    def search(self, path: str) -> re.Match[str] | None:
        if self.segment is not None:
            m = self.segment.search(path)
            if m:
                return m
        lowered = None
        for need, rx in self.others:
            if need is not None:
                literal, any_case = need
                if any_case:
                    lowered = path.lower() if lowered is None else lowered
                    if literal not in lowered:
                        continue
                elif literal not in path:
                    continue
            m = rx.search(path)
            if m:
                return m
        return None


@lru_cache(maxsize=1)
def load_rules() -> LinguistRules:
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return LinguistRules(
        vendor=PatternSet(data["vendor"]),
        documentation=PatternSet(data["documentation"]),
        generated_paths=PatternSet(data["generated_paths"]),
        generated_markers=re.compile("|".join(re.escape(m) for m in data["generated_markers"]) or r"(?!x)x"),
        commit=data.get("commit", ""),
    )


def vendored(path: str) -> bool:
    return load_rules().vendor.search(path) is not None


def documentation(path: str) -> bool:
    return load_rules().documentation.search(path) is not None


def minified(path: str, text: str) -> bool:
    ext = posixpath.splitext(path)[1].lower()
    if ext not in (".js", ".css") or not text:
        return False
    lines = text.split("\n")
    return (len(text) - (len(lines) - 1)) // len(lines) > MINIFIED_AVG_LINE


def generated_path(path: str) -> str | None:
    """Why linguist would call a file of this name generated, before reading it; or None."""
    m = load_rules().generated_paths.search(path)
    if m:
        return f"path matches {m.group(0)!r}"
    if path.lower().endswith((".js.map", ".css.map")):
        return "source map"
    return None


def generated_content(path: str, text: str) -> str | None:
    """Why linguist would call this content generated (banner near the top, source-map trailer)."""
    ext = posixpath.splitext(path)[1].lower()
    if ext in (".js", ".css"):
        tail = text[-2000:].rstrip("\n").rsplit("\n", 2)[-2:]
        if any(_SOURCE_MAP_COMMENT.search(line) for line in tail):
            return "ends with a source-map reference"
    head_end = 0
    for _ in range(MARKER_LINES):
        nxt = text.find("\n", head_end)
        if nxt < 0:
            head_end = len(text)
            break
        head_end = nxt + 1
    m = load_rules().generated_markers.search(text, 0, min(head_end, 4000))
    if m:
        return f"header says {m.group(0).strip()!r}"
    return None


def generated(path: str, text: str) -> str | None:
    """Why linguist would call this file generated, or None."""
    return generated_path(path) or generated_content(path, text)


def classify_path(path: str) -> tuple[str, str] | None:
    """(reason, detail) for what the name alone decides: the walker skips such files unread."""
    if vendored(path):
        return "vendored", "linguist vendor.yml"
    why = generated_path(path)
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
