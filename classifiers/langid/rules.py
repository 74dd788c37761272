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

from classifiers.langid.extensions import EXTRA_EXTENSIONS

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
    #: the top-level alternatives of `pattern` (of `negative`), each compiled with its own required
    #: strings (see `top_level_branches`); empty when the pattern is searched whole
    parts: tuple[tuple[Any, RequiredStrings], ...] = ()
    negative_parts: tuple[tuple[Any, RequiredStrings], ...] = ()

    def matches(self, text: str, deadline: float) -> bool:
        if self.pattern is not None and not _search(self.pattern, self.needs, self.parts, text, deadline):
            return False
        if self.negative is not None and _search(
            self.negative, self.negative_needs, self.negative_parts, text, deadline
        ):
            return False
        return all(r.matches(text, deadline) for r in self.all_of)


RequiredStrings = tuple[tuple[str, ...], ...] | None


def _has(needs: RequiredStrings, text: str) -> bool:
    return needs is None or all(any(s in text for s in group) for group in needs)


def _search(
    pattern: Any,
    needs: RequiredStrings,
    parts: tuple[tuple[Any, RequiredStrings], ...],
    text: str,
    deadline: float,
) -> bool:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("heuristic time budget spent")
    if not _has(needs, text):
        return False  # substring searches are far cheaper than the pattern, and the answer is the same
    if not parts:
        return pattern.search(text, timeout=remaining) is not None
    # the alternation matches somewhere exactly when one of its alternatives does; each one is
    # searched only where its own strings are present, and alone it runs far faster than inside
    # an alternation of ``^\s*`` branches that is tried at every position
    for part, part_needs in parts:
        if _has(part_needs, text):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("heuristic time budget spent")
            if part.search(text, timeout=remaining) is not None:
                return True
    return False


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


#: what makes an alternative mean something else when it stands alone: backreferences (a group
#: of another alternative), conditionals, and the syntax `required_strings` leaves alone
_NOT_SPLITTABLE = re.compile(r"\\[1-9]|\\g<|\(\?P=|\(\?\(|\(\?[a-zA-Z]*x|\[:|\{\s*[a-zA-Z]")


def top_level_branches(pattern: str) -> list[str] | None:
    """The alternatives of a pattern that is one alternation at its top level (``A|B|C``), as
    pattern texts; None for any other pattern or one that cannot be cut safely.

    The text is cut at each ``|`` outside groups and character sets, and the cut is kept only
    when it agrees with the standard library's parse (as many alternatives, each one parsing
    alone) and the pattern has no global inline flags.
    """
    if _NOT_SPLITTABLE.search(pattern):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = _sre_parser.parse(pattern, re.MULTILINE)
    except Exception:  # a pattern the stdlib parser rejects is searched whole
        return None
    if parsed.state.flags & ~(re.MULTILINE | re.UNICODE):
        return None
    items = list(parsed)
    if len(items) != 1 or items[0][0] is not _sre_constants.BRANCH:
        return None
    pieces, depth, start, i, size = [], 0, 0, 0, len(pattern)
    while i < size:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i += 1
            if i < size and pattern[i] == "^":
                i += 1
            if i < size and pattern[i] == "]":
                i += 1  # a ']' first in a set is a literal
            while i < size and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            pieces.append(pattern[start:i])
            start = i + 1
        i += 1
    pieces.append(pattern[start:])
    if len(pieces) != len(items[0][1][1]):
        return None
    for piece in pieces:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _sre_parser.parse(piece, re.MULTILINE)
        except Exception:
            return None
    return pieces


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


_FLAGS = regex.MULTILINE | regex.VERSION0


def _parts(pattern: str | None) -> tuple[tuple[Any, RequiredStrings], ...]:
    pieces = top_level_branches(pattern) if pattern is not None else None
    if not pieces:
        return ()
    return tuple((regex.compile(p, _FLAGS), required_strings(p)) for p in pieces)


def _compile_rule(rule: dict[str, Any]) -> HeuristicRule:
    pattern, negative = rule.get("pattern"), rule.get("negative_pattern")
    return HeuristicRule(
        labels=tuple(rule.get("labels", ())),
        pattern=regex.compile(pattern, _FLAGS) if pattern is not None else None,
        negative=regex.compile(negative, _FLAGS) if negative is not None else None,
        all_of=tuple(_compile_rule(r) for r in rule.get("and", [])),
        needs=required_strings(pattern) if pattern is not None else None,
        negative_needs=required_strings(negative) if negative is not None else None,
        parts=_parts(pattern),
        negative_parts=_parts(negative),
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
    for ext, labels in EXTRA_EXTENSIONS.items():
        # extensions the generated rules do not know (see `extensions`); theirs always win
        if ext not in t.by_extension and all(label in t.labels for label in labels):
            t.by_extension[ext] = labels
    return t
