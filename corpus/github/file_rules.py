"""The DeepSeek-Coder file rules (DeepSeek-Coder V1 §2.1, restated in V2 §2), exactly.

A file is dropped when, in this order:

- ``avg_line_length``: its average line length is over 100 characters;
- ``max_line_length``: any line is over 1000 characters;
- ``alphabetic_fraction``: fewer than 25% of its characters are alphabetic;
- ``xml_declaration``: its first 100 characters contain ``<?xml version=`` (XSLT files excepted);
- ``html_visible_text``: it is HTML and its visible text is under 20% of the file or under 100
  characters;
- ``json_yaml_size``: it is JSON or YAML and has fewer than 50 or more than 5000 characters.

Definitions the paper leaves open, fixed here so that results are reproducible: lengths count
characters (not bytes); lines are the pieces between ``\\n`` (a trailing newline does not start an
extra line, ``\\r`` counts as a character); "alphabetic" is Python's ``str.isalpha``; HTML visible
text is the text outside tags, comments, ``<script>``, ``<style>``, ``<template>`` and
``<noscript>``, with runs of whitespace collapsed to one space. A file's kind (HTML, JSON, YAML,
XSLT) comes from its language tag (or the label language identification gave a file outside
the 338 languages, such as YAML) and, when that names none of them, from its extension.
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser

import numpy as np
from datatrove.data import Document, DocumentsPipeline

from corpus.core.story import StoryStep

MAX_AVG_LINE = 100
MAX_LINE = 1000
MIN_ALPHA_FRACTION = 0.25
XML_DECLARATION = "<?xml version="
XML_WINDOW = 100
HTML_MIN_VISIBLE_FRACTION = 0.20
HTML_MIN_VISIBLE_CHARS = 100
JSON_YAML_MIN_CHARS = 50
JSON_YAML_MAX_CHARS = 5000

_KIND_BY_EXT = {
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".xsl": "xslt",
    ".xslt": "xslt",
}
#: an extension that lower-cases to one of these ends the path's last six characters lower-cased
_KIND_ENDINGS = tuple(_KIND_BY_EXT)
_KIND_BY_LANGUAGE = {"html": "html", "json": "json", "yaml": "yaml", "xslt": "xslt"}
_ASCII_ALPHA = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_INVISIBLE = {"script", "style", "template", "noscript"}
_SPACES = re.compile(r"\s+")
#: below this many bytes the newline and letter counts use bytes methods, above it numpy
_NUMPY_MIN_BYTES = 2048


def file_kind(path: str, language: str | None = None) -> str | None:
    """html, json, yaml, xslt or None: which of the special-cased kinds a file is."""
    if language:
        kind = _KIND_BY_LANGUAGE.get(language.lower())
        if kind:
            return kind
    if not path[-6:].lower().endswith(_KIND_ENDINGS):  # most paths: no splitext needed
        return None
    return _KIND_BY_EXT.get(posixpath.splitext(path)[1].lower())


def alphabetic_count(text: str) -> int:
    """Characters for which `str.isalpha` holds, counted in C: ASCII letters by deleting them from
    the bytes, any other text through a per-code-point table of `str.isalpha` itself (built once,
    on first need), so that a mostly non-ASCII file costs one vectorised lookup, not one Python
    call per character."""
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw) - len(raw.translate(None, _ASCII_ALPHA))
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    table = _alpha_table(0x10000 if int(codes.max()) < 0x10000 else sys.maxunicode + 1)
    return int(np.count_nonzero(table[codes]))


@cache
def _alpha_table(size: int) -> np.ndarray:
    """`str.isalpha` of the first `size` code points: the Basic Multilingual Plane costs
    milliseconds to tabulate, all of Unicode a sixth of a second, so the latter waits for a text
    that needs it."""
    everything = "".join(map(chr, range(size)))
    return np.fromiter(map(str.isalpha, everything), dtype=bool, count=size)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return _SPACES.sub(" ", "".join(parser.parts)).strip()


def _counts(raw: bytes) -> tuple[int, int]:
    """(newlines, ASCII letters) in `raw`. Large inputs are counted with numpy in one vectorised
    pass each (about 3x cheaper per byte than `bytes.count` plus `bytes.translate`); small ones,
    where numpy's per-call cost would dominate, with the bytes methods."""
    if len(raw) < _NUMPY_MIN_BYTES:
        return raw.count(b"\n"), len(raw) - len(raw.translate(None, _ASCII_ALPHA))
    a = np.frombuffer(raw, np.uint8)
    newlines = int(np.count_nonzero(a == 10))
    folded = a | 32  # A-Z onto a-z; no other byte lands on a-z
    folded -= 97
    return newlines, int(np.count_nonzero(folded < 26))


def line_stats(text: str) -> tuple[float, int]:
    """(average line length, longest line) in characters."""
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    longest = max(map(len, lines))
    return (len(body) - (len(lines) - 1)) / len(lines), longest


def _has_line_longer_than(text: str, limit: int) -> bool:
    """Whether some line has more than `limit` characters, without splitting the text: from a line
    start, the last newline among the next `limit + 1` characters ends every line that starts
    before it, each no longer than `limit`; no newline there means a longer line (or the end of
    the text). One backward search per ~`limit` characters."""
    n = len(text)
    start = 0
    while n - start > limit:
        last = text.rfind("\n", start, start + limit + 1)
        if last < 0:
            return True
        start = last + 1
    return False


def check(path: str, text: str, language: str | None = None) -> tuple[str, str] | None:
    """The first rule that drops the file, as (rule, detail); None when the file is kept.

    Equivalent to computing every statistic with Python string methods (see `line_stats` and
    `alphabetic_count`), but counted with C-level scans that give the same answer: newlines and
    ASCII letters are counted on the UTF-8 bytes (a multi-byte sequence holds neither), and the
    longest line is bounded by one backward search per 1001 characters instead of splitting."""
    if not text:
        return "empty", ""
    n = len(text)
    raw = text.encode("utf-8")
    newlines, alpha = _counts(raw)
    body = n
    if text.endswith("\n"):
        body, newlines = n - 1, newlines - 1
    lines = newlines + 1
    avg = (body - (lines - 1)) / lines
    if avg > MAX_AVG_LINE:
        return "avg_line_length", f"{avg:.2f} > {MAX_AVG_LINE}"
    if n > MAX_LINE and _has_line_longer_than(text, MAX_LINE):
        return "max_line_length", f"{line_stats(text)[1]} > {MAX_LINE}"
    # ASCII letters alone are a lower bound: the non-ASCII count is needed only below the bar
    if alpha < MIN_ALPHA_FRACTION * n and len(raw) != n:
        alpha = alphabetic_count(text)
    if alpha < MIN_ALPHA_FRACTION * n:
        return "alphabetic_fraction", f"{alpha / n:.4f} < {MIN_ALPHA_FRACTION}"
    kind = file_kind(path, language)
    if kind != "xslt" and XML_DECLARATION in text[:XML_WINDOW]:
        return "xml_declaration", f"{XML_DECLARATION!r} in the first {XML_WINDOW} characters"
    if kind == "html":
        visible = len(visible_text(text))
        if visible < HTML_MIN_VISIBLE_CHARS or visible < HTML_MIN_VISIBLE_FRACTION * n:
            return "html_visible_text", f"{visible} visible of {n} characters"
    elif kind in ("json", "yaml") and not JSON_YAML_MIN_CHARS <= n <= JSON_YAML_MAX_CHARS:
        return "json_yaml_size", f"{n} characters ({kind})"
    return None


class DeepSeekFileRules(StoryStep):
    """Drop files by the DeepSeek-Coder rules; each drop is recorded with the rule that fired.

    `kinds` limits the rules to documents whose metadata `kind` is listed (``code``, ``text``);
    by default both source files and code-related text are checked, as in the paper, which
    applied the rules to everything it collected from GitHub.
    """

    name = "deepseek file rules"

    def __init__(self, kinds: tuple[str, ...] = ("code", "text")) -> None:
        super().__init__()
        self.kinds = tuple(kinds)

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        for doc in data or ():
            with self.track_time():
                meta = doc.metadata
                verdict = None
                if meta.get("kind", "code") in self.kinds:
                    language = meta.get("language") or meta.get("language_label")
                    verdict = check(str(meta.get("path") or doc.id), doc.text, language)
            if verdict:
                self.drop(doc.id, *verdict)
                continue
            self.stat_update("kept")
            yield doc
