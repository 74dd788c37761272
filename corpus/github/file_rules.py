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
from collections.abc import Iterator
from html.parser import HTMLParser

from datatrove.data import Document, DocumentsPipeline

from corpus.story import StoryStep

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
_KIND_BY_LANGUAGE = {"html": "html", "json": "json", "yaml": "yaml", "xslt": "xslt"}
_ASCII_ALPHA = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_INVISIBLE = {"script", "style", "template", "noscript"}
_SPACES = re.compile(r"\s+")
#: bytes counted at a time by the alphabetic rule before checking whether the bar is reached
_ALPHA_CHUNK = 4096
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def file_kind(path: str, language: str | None = None) -> str | None:
    """html, json, yaml, xslt or None: which of the special-cased kinds a file is."""
    if language:
        kind = _KIND_BY_LANGUAGE.get(language.lower())
        if kind:
            return kind
    return _KIND_BY_EXT.get(posixpath.splitext(path)[1].lower())


def alphabetic_count(text: str) -> int:
    """Characters for which `str.isalpha` holds, counted in C where possible: ASCII letters by
    deleting them from the UTF-8 bytes (multi-byte sequences never contain ASCII bytes), and only
    the non-ASCII runs one character at a time."""
    raw = text.encode("utf-8")
    count = len(raw) - len(raw.translate(None, _ASCII_ALPHA))
    if not text.isascii():
        count += sum(map(str.isalpha, "".join(_NON_ASCII.findall(text))))
    return count


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


def _ascii_letters_up_to(raw: bytes, enough: float) -> int:
    """ASCII letters in `raw`, counted chunk by chunk until there are at least `enough` of them
    (code passes the 25% bar long before its end, so most of a big file is never counted)."""
    count = 0
    for start in range(0, len(raw), _ALPHA_CHUNK):
        chunk = raw[start : start + _ALPHA_CHUNK]
        count += len(chunk) - len(chunk.translate(None, _ASCII_ALPHA))
        if count >= enough:
            break
    return count


def line_stats(text: str) -> tuple[float, int]:
    """(average line length, longest line) in characters."""
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    longest = max(map(len, lines))
    return (len(body) - (len(lines) - 1)) / len(lines), longest


def _has_line_longer_than(text: str, limit: int) -> bool:
    """Whether some line has more than `limit` characters, without splitting the text: any run of
    `limit + 1` characters covers exactly one index `i` with `i % (limit + 1) == limit`, so only the
    lines under those few indexes need measuring."""
    step = limit + 1
    n = len(text)
    for i in range(limit, n, step):
        if text[i] == "\n":
            continue
        start = text.rfind("\n", 0, i) + 1
        end = text.find("\n", i)
        if (n if end < 0 else end) - start > limit:
            return True
    return False


def check(path: str, text: str, language: str | None = None) -> tuple[str, str] | None:
    """The first rule that drops the file, as (rule, detail); None when the file is kept.

    Equivalent to computing every statistic with Python string methods (see `line_stats` and
    `alphabetic_count`), but counted with C-level scans that give the same answer: the longest
    line is probed every 1001 characters instead of splitting the text, and letters are counted on
    the UTF-8 bytes only until the 25% bar is reached."""
    if not text:
        return "empty", ""
    n = len(text)
    body = n - 1 if text.endswith("\n") else n
    lines = text.count("\n", 0, body) + 1
    avg = (body - (lines - 1)) / lines
    if avg > MAX_AVG_LINE:
        return "avg_line_length", f"{avg:.2f} > {MAX_AVG_LINE}"
    if n > MAX_LINE and _has_line_longer_than(text, MAX_LINE):
        return "max_line_length", f"{line_stats(text)[1]} > {MAX_LINE}"
    raw = text.encode("utf-8")
    # ASCII letters alone are a lower bound: the non-ASCII count is needed only below the bar
    alpha = _ascii_letters_up_to(raw, MIN_ALPHA_FRACTION * n)
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
