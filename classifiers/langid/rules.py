"""Name, interpreter and editor-mode lookups over the generated language table.

The table (``data/languages.json``) is produced by ``generate_rules`` from linguist's and Pygments'
data; this module only indexes it. Labels are the paper's 338 names plus every other linguist
language, so that a YAML or Markdown file is recognised as such (and reported as outside the list)
instead of being forced onto the nearest listed language.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from re import _constants as _sre_constants
from re import _parser as _sre_parser
from typing import Any

import regex

DATA_FILE = Path(__file__).parent / "data" / "languages.json"


@dataclass(frozen=True)
class HeuristicRule:
    """One of linguist's disambiguation rules, compiled with the `regex` module.

    `regex` rather than `re` because it takes a timeout: several of linguist's patterns backtrack
    catastrophically on long runs of spaces or many short lines (tens of seconds on 64 KiB), and a
    corpus build cannot let one odd file stall a worker. A search that runs out of time raises
    TimeoutError, which the caller turns into "heuristics gave no answer".
    """

    labels: tuple[str, ...]
    pattern: Any = None
    negative: Any = None
    all_of: tuple[HeuristicRule, ...] = ()
    #: groups of strings (see `required_strings`) that every match of `pattern` (of `negative`)
    #: contains one of each of; None when unknown
    needs: tuple[tuple[str, ...], ...] | None = None
    negative_needs: tuple[tuple[str, ...], ...] | None = None

    def matches(self, text: str, deadline: float) -> bool:
        if self.pattern is not None and not _search(self.pattern, self.needs, text, deadline):
            return False
        if self.negative is not None and _search(self.negative, self.negative_needs, text, deadline):
            return False
        return all(r.matches(text, deadline) for r in self.all_of)


def _search(pattern: Any, needs: tuple[tuple[str, ...], ...] | None, text: str, deadline: float) -> bool:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("heuristic time budget spent")
    if needs is not None and not all(any(s in text for s in group) for group in needs):
        return False  # substring searches are far cheaper than the pattern, and the answer is the same
    return pattern.search(text, timeout=remaining) is not None


#: the most strings one requirement may hold; a larger one costs more than it saves
_MAX_NEEDS = 32
#: patterns the standard-library parser would read differently from `regex`: POSIX classes
#: (``[[:alpha:]]``) and fuzzy constraints (``{e<=1}``)
_OTHER_SYNTAX = re.compile(r"\[:|\{\s*[a-zA-Z]")

Needs = frozenset[str]


def required_strings(pattern: str) -> tuple[tuple[str, ...], ...] | None:
    """Groups of strings such that every match of `pattern` contains one string of each group, or
    None when none are known; cheapest group first.

    Read from the pattern's parse tree (the standard library's parser, which reads linguist's
    patterns as `regex` does in VERSION0; anything it does not read, or may read differently,
    gives None): literal runs, expanded through small groups, character sets of a few literals and
    alternations (``@(interface|class)`` needs ``@interface`` or ``@class``), and through every
    branch of an alternation. Case-insensitive parts need nothing. Checking these with ``in``
    before a search skips most searches that would fail: linguist's patterns mostly look for
    markers that a file of the other candidate language never contains. Two groups are kept: the
    single string that costs least to look for (``<emu-``) and the most selective group
    (``<emu-alg``, ``<emu-annex``...).
    """
    if _OTHER_SYNTAX.search(pattern):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = _sre_parser.parse(pattern, re.MULTILINE)
    except Exception:  # a pattern the stdlib parser rejects simply gets no shortcut
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    found, _ = _scan(list(parsed))
    if not found:
        return None
    selective = max(found, key=_selectivity)
    singles = [n for n in found if len(n) == 1]
    groups = [max(singles, key=_selectivity)] if singles else []
    if selective not in groups:
        groups.append(selective)
    return tuple(tuple(sorted(g)) for g in groups)


def _selectivity(needs: Needs) -> tuple[int, int]:
    return min(map(len, needs)), -len(needs)


def _usable(needs: Needs | None) -> bool:
    return bool(needs) and "" not in needs and len(needs) <= _MAX_NEEDS  # type: ignore[arg-type]


def _scan(items: list[Any]) -> tuple[list[Needs], Needs | None]:
    """(requirements, exact) of a parsed sequence: groups as in `required_strings`, every one of
    them necessary, and the set of every text the sequence can match when that set is small."""
    c = _sre_constants
    found: list[Needs] = []
    cur: Needs = frozenset({""})  # the exact texts of the items since the last one that is not exact
    whole = True
    for op, av in items:
        exact: Needs | None = None
        inner: list[Needs] = []
        if op is c.LITERAL:
            exact = frozenset({chr(av)})
        elif op is c.AT:
            exact = frozenset({""})  # zero width: the texts on each side are adjacent
        elif op is c.IN:
            if len(av) <= 4 and all(o is c.LITERAL for o, _ in av):
                exact = frozenset(chr(v) for _, v in av)
        elif op is c.SUBPATTERN:
            _, add_flags, _, sub = av
            if not add_flags & re.IGNORECASE:
                inner, exact = _scan(sub)
        elif op is c.ATOMIC_GROUP:
            inner, exact = _scan(av)
        elif op is c.BRANCH:
            scans = [_scan(alt) for alt in av[1]]
            if all(f for f, _ in scans):
                union = frozenset().union(*(max(f, key=_selectivity) for f, _ in scans))
                inner = [union] if _usable(union) else []
            if all(e is not None for _, e in scans):
                exact = frozenset().union(*(e for _, e in scans if e is not None))
                exact = exact if len(exact) <= _MAX_NEEDS else None
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, high, sub = av
            if low >= 1:
                inner, exact = _scan(sub)
                if not low == high == 1:
                    exact = None
        found.extend(inner)
        if exact is not None and len(cur) * len(exact) <= _MAX_NEEDS:
            if _usable(cur):
                found.append(cur)  # `<emu-` alone, before `<emu-alg`, `<emu-annex`...
            cur = frozenset(a + b for a in cur for b in exact)
            continue
        if _usable(cur):
            found.append(cur)
        if exact is not None and _usable(exact):
            found.append(exact)
        cur, whole = frozenset({""}), False
    if _usable(cur):
        found.append(cur)
    return found, (cur if whole else None)


@dataclass
class LanguageTable:
    names: list[str]
    labels: dict[str, dict[str, Any]]
    sources: dict[str, str]
    by_filename: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_filename_lower: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_extension: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_interpreter: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_alias: dict[str, str] = field(default_factory=dict)
    globs: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    primary: dict[str, set[str]] = field(default_factory=dict)
    heuristic_blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def listed(self) -> frozenset[str]:
        """The 338 names as a set."""
        cached = self.__dict__.get("_listed")
        if cached is None:
            cached = self.__dict__["_listed"] = frozenset(self.names)
        return cached

    def in_list(self, label: str) -> bool:
        return label in self.listed

    def by_name(self, filename: str) -> tuple[tuple[str, ...], str, str]:
        """Candidates from a file name: (labels, how, matched key); exact names before extensions."""
        if filename in self.by_filename:
            return self.by_filename[filename], "filename", filename
        low = filename.lower()
        if low in self.by_filename_lower:
            return self.by_filename_lower[low], "filename", filename
        for ext in extensions_of(low):
            if ext in self.by_extension:
                return self.by_extension[ext], "extension", ext
        hits = tuple(sorted({label for rx, label in self.globs if rx.match(filename)}))
        if hits:
            return hits, "filename", filename
        return (), "", ""

    def order(self, labels: tuple[str, ...] | list[str], ext: str = "") -> list[str]:
        """Candidates ordered for a fallback: listed names first, then those whose primary extension it is."""
        return sorted(labels, key=lambda x: (not self.in_list(x), ext not in self.primary.get(x, ()), x))

    @cache  # noqa: B019 - one table per process, kept for its lifetime
    def heuristics_for(self, ext: str) -> tuple[HeuristicRule, ...]:
        blocks = self.heuristic_blocks.get(ext, [])
        rules: list[HeuristicRule] = []
        for block in blocks:
            rules.extend(_compile_rule(r) for r in block["rules"])
        return tuple(rules)

    def __hash__(self) -> int:
        return id(self)


def _compile_rule(rule: dict[str, Any]) -> HeuristicRule:

    flags = regex.MULTILINE | regex.VERSION0
    return HeuristicRule(
        labels=tuple(rule.get("labels", ())),
        pattern=regex.compile(rule["pattern"], flags) if "pattern" in rule else None,
        negative=regex.compile(rule["negative_pattern"], flags) if "negative_pattern" in rule else None,
        all_of=tuple(_compile_rule(r) for r in rule.get("and", [])),
        needs=required_strings(rule["pattern"]) if "pattern" in rule else None,
        negative_needs=required_strings(rule["negative_pattern"]) if "negative_pattern" in rule else None,
    )


def extensions_of(filename: str) -> list[str]:
    """All dotted suffixes, longest first: 'a.blade.php' -> ['.blade.php', '.php']; '.bashrc' -> ['.bashrc']."""
    out = []
    start = 1 if filename.startswith(".") else 0
    if start:
        out.append(filename)
    i = filename.find(".", start)
    while i != -1:
        out.append(filename[i:])
        i = filename.find(".", i + 1)
    return out


def _add(index: dict[str, tuple[str, ...]], key: str, label: str) -> None:
    cur = index.get(key, ())
    if label not in cur:
        index[key] = tuple(sorted((*cur, label)))


@cache
def load_table(path: str = str(DATA_FILE)) -> LanguageTable:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    t = LanguageTable(names=raw["names"], labels=raw["labels"], sources=raw["sources"])
    alias_owner: dict[str, tuple[bool, str]] = {}
    for label, e in raw["labels"].items():
        for name in e["filenames"]:
            _add(t.by_filename, name, label)
            _add(t.by_filename_lower, name.lower(), label)
        for ext in e["extensions"]:
            _add(t.by_extension, ext, label)
        for interp in e["interpreters"]:
            _add(t.by_interpreter, interp, label)
        for pat in e["patterns"]:
            t.globs.append((re.compile(fnmatch.translate(pat)), label))
        t.primary[label] = set(e.get("primary_extensions", []))
        for alias in e["aliases"]:
            # a listed name wins an alias over a label outside the list; otherwise first come
            prev = alias_owner.get(alias)
            mine = (e["in_list"], label)
            if prev is None or (mine[0] and not prev[0]) or alias == label.lower():
                alias_owner[alias] = mine
    t.by_alias = {a: owner for a, (_, owner) in alias_owner.items()}
    for label in raw["labels"]:
        t.by_alias[label.lower()] = label
    for block in raw["heuristics"]:
        for ext in block["extensions"]:
            t.heuristic_blocks.setdefault(ext, []).append(block)
    return t
