"""Vendored, generated and minified files, decided with GitHub linguist's knowledge.

The path patterns and header banners come from linguist's own data files (see
``generate_linguist.py``, which writes ``data/linguist.json``); each list is joined into one
compiled alternation so that a path costs one regex search, not a hundred. The two rules linguist
computes rather than matches are implemented from their definitions: a ``.js``/``.css`` file is
minified when its average line length (integer division over the pieces of ``split("\\n")``, so
a final newline counts as one more, empty line) exceeds 110 characters, and a file that ends with a
``sourceMappingURL`` comment (or is a ``.map`` file) was produced from other files. linguist's
other computed checks, each tied to a few file extensions and particular lines (compiled
CoffeeScript, Go's ``// Code generated``, HTML from documentation tools, PostScript from known
programs, ...), are in `generated_by_type`, looked up by extension so other files pay one lookup.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from re import _constants as sre
from re import _parser as sre_parse

DATA_FILE = Path(__file__).parent / "data" / "linguist.json"

#: linguist's threshold for minified JavaScript and CSS (average characters per line)
MINIFIED_AVG_LINE = 110
#: how many leading lines a generated-file banner may sit in, and at most how many characters
MARKER_LINES = 10
MARKER_WINDOW = 4000
_HEAD_LINES = re.compile(rf"(?:[^\n]*\n){{{MARKER_LINES}}}")
_SOURCE_MAP_COMMENT = re.compile(r"^/[*/][#@] source(?:Mapping)?URL|sourceURL=", re.M)


@dataclass(frozen=True)
class LinguistRules:
    vendor: PathRuleSet
    documentation: PathRuleSet
    generated_paths: PathRuleSet
    generated_markers: re.Pattern[str]
    commit: str
    paths: PathRules


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


def _literal_absent(need: tuple[str, bool] | None, path: str, lowered: str) -> bool:
    """Whether a pattern's required literal (`_literal_filter`) is certainly missing from `path`,
    so the pattern cannot match. Case-insensitive literals decide only on ASCII paths: the regex
    engine also folds ſ to s and ı to i, which `str.lower` does not."""
    if need is None:
        return False
    literal, any_case = need
    if any_case:
        return path.isascii() and literal not in lowered
    return literal not in path


def _plain_literal(pattern: str) -> str | None:
    """The text a pattern matches when it is nothing but literal characters (`Cargo\\.lock`)."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & ~sre.SRE_FLAG_UNICODE or not all(op == sre.LITERAL for op, _ in parsed):
        return None
    return "".join(chr(av) for _op, av in parsed)  # type: ignore[arg-type]


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
        # for `hit`: plain literals as one alternation, end-anchored patterns behind one test
        # of the path's ending, the rest behind their literal filters as in `search`
        literals: list[str] = []
        self._ending: list[tuple[tuple[str, ...], bool, re.Pattern[str]]] = []
        self._rest: list[tuple[tuple[str, bool] | None, re.Pattern[str]]] = []
        for need, rx in self.others:
            literal = _plain_literal(rx.pattern)
            ending = None if literal is not None else end_suffixes(rx.pattern)
            if literal is not None:
                literals.append(literal)
            elif ending is not None:
                self._ending.append((ending[0], ending[1], rx))
            else:
                self._rest.append((need, rx))
        self._literals = re.compile("|".join(map(re.escape, literals))) if literals else None
        self._endings = tuple(sorted({e for endings, _d, _rx in self._ending for e in endings}))

    def hit(self, path: str) -> bool:
        """Whether any pattern matches (`search` is not None), answered with cheaper tests."""
        if self.segment is not None and self.segment.search(path):
            return True
        if self._literals is not None and self._literals.search(path):
            return True
        if self._endings and (path.endswith(self._endings) or path.endswith("\n")):
            for endings, dollar, rx in self._ending:
                ends = path.endswith(endings) or (
                    dollar and path.endswith("\n") and path[:-1].endswith(endings)
                )
                if ends and rx.search(path):
                    return True
        if self._rest:
            lowered = path.lower()
            for need, rx in self._rest:
                if not _literal_absent(need, path, lowered) and rx.search(path):
                    return True
        return False

    def search(self, path: str) -> re.Match[str] | None:
        if self.segment is not None:
            m = self.segment.search(path)
            if m:
                return m
        lowered = None
        for need, rx in self.others:
            if need is not None:
                literal, any_case = need
                if any_case:  # lower case stands for re's case folding in ASCII only (not ſ, K)
                    lowered = path.lower() if lowered is None else lowered
                    if path.isascii() and literal not in lowered:
                        continue
                elif literal not in path:
                    continue
            m = rx.search(path)
            if m:
                return m
        return None


#: the three places a path rule can be decided: its folder (once per folder), its file name
#: (once per distinct name), or, for a rule that can span both, the whole path
DIR, NAME, BOTH, WHOLE = "dir", "name", "both", "whole"
_SLASH = ord("/")
#: operators whose matching looks only at the characters they consume (and `^` at position 0)
_CONSUMING = {
    sre.LITERAL,
    sre.NOT_LITERAL,
    sre.ANY,
    sre.IN,
    sre.BRANCH,
    sre.SUBPATTERN,
    sre.MAX_REPEAT,
    sre.MIN_REPEAT,
    sre.POSSESSIVE_REPEAT,
    sre.ATOMIC_GROUP,
}
_NO_SLASH_CATEGORIES = {
    sre.CATEGORY_DIGIT,
    sre.CATEGORY_SPACE,
    sre.CATEGORY_WORD,
    sre.CATEGORY_LINEBREAK,
}


def _children(op: object, av: object) -> list[list[tuple[object, object]]]:
    """The sub-sequences of one parsed regex node."""
    if op == sre.BRANCH:
        return list(av[1])  # type: ignore[index]
    if op == sre.SUBPATTERN:
        return [av[3]]  # type: ignore[index]
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        return [av[2]]  # type: ignore[index]
    if op == sre.ATOMIC_GROUP:
        return [av]  # type: ignore[list-item]
    return []


def _only(items: list[tuple[object, object]], allowed: set[object], anchors: set[object]) -> bool:
    """Every node (recursively) is an `allowed` operator or an `AT` in `anchors`; scoped flags
    other than IGNORECASE (which cannot change what `/` or an anchor matches) refuse."""
    for op, av in items:
        if op == sre.AT:
            if av not in anchors:
                return False
            continue
        if op not in allowed:
            return False
        if op == sre.SUBPATTERN and (av[1] | av[2]) & ~sre.SRE_FLAG_IGNORECASE:  # type: ignore[index]
            return False
        if not all(_only(list(c), allowed, anchors) for c in _children(op, av)):
            return False
    return True


def _class_has_slash(items: list[tuple[object, object]]) -> bool:
    """Whether a character class `[...]` matches `/` (True when unsure)."""
    negate = bool(items) and items[0][0] == sre.NEGATE
    hit = False
    for op, av in items[1:] if negate else items:
        if op == sre.LITERAL:
            hit = hit or av == _SLASH
        elif op == sre.RANGE:
            hit = hit or av[0] <= _SLASH <= av[1]  # type: ignore[index]
        elif op == sre.CATEGORY and av in _NO_SLASH_CATEGORIES:
            continue
        else:
            return True
    return hit != negate


def _may_match_slash(items: list[tuple[object, object]]) -> bool:
    """Whether any match of the node sequence can contain `/` (True when unsure)."""
    for op, av in items:
        if op == sre.LITERAL:
            if av == _SLASH:
                return True
        elif op == sre.NOT_LITERAL:
            if av != _SLASH:
                return True
        elif op == sre.IN:
            if _class_has_slash(list(av)):  # type: ignore[arg-type]
                return True
        elif op in (sre.ANY, sre.GROUPREF) or any(_may_match_slash(list(c)) for c in _children(op, av)):
            return True
    return False


def _is_lead(node: tuple[object, object]) -> bool:
    """Whether a parsed node is the segment lead `(^|/)` (or `(?:^|/)`, `(/|^)`)."""
    op, av = node
    if op == sre.SUBPATTERN and not av[1] and not av[2] and len(av[3]) == 1:  # type: ignore[index]
        op, av = av[3][0]  # type: ignore[index]
    if op != sre.BRANCH or len(av[1]) != 2:  # type: ignore[index]
        return False
    branches = sorted(str(list(b)) for b in av[1])  # type: ignore[index]
    return branches == sorted([str([(sre.AT, sre.AT_BEGINNING)]), str([(sre.LITERAL, _SLASH)])])


def path_scope(pattern: str) -> str:
    """Where a path pattern can be decided without changing whether it matches (`search`) a path
    `FOLDER/NAME` (NAME not empty, without `/`; a file at the top is always searched whole):

    - DIR: every match ends with `/` and its success depends only on the characters up to its
      end (no `$`, `\\b` or lookaround), so it matches the path iff it matches `FOLDER/`;
    - NAME: after an optional `(^|/)` lead, nothing can match `/` or `^` and it must end at
      `$`: every match lies in NAME (`$` holds only at the end), so search NAME alone;
    - BOTH: like NAME, without the end anchor: a match lies either in `FOLDER/`, where (as for
      DIR) searching `FOLDER/` finds it, or in NAME. `$`, `\\b` and `\\B` are allowed when the
      part after the lead cannot be empty: such a match never reaches the end of `FOLDER/`
      (that would take the `/`), so the anchors see the same characters either way;
    - WHOLE: anything else (a match may span folders and name), searched on the whole path.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return WHOLE
    if parsed.state.flags & ~(sre.SRE_FLAG_IGNORECASE | sre.SRE_FLAG_UNICODE):
        return WHOLE
    items = list(parsed.data)
    if len(items) == 1 and items[0][0] == sre.SUBPATTERN:  # (?i:...) around the whole pattern
        _group, add, remove, inner = items[0][1]  # type: ignore[misc]
        if not (add | remove) & ~sre.SRE_FLAG_IGNORECASE:
            items = list(inner.data)
    first = items[0] if items else (None, None)
    if first[0] == sre.SUBPATTERN and len(first[1][3]) == 1:  # type: ignore[index]
        first = first[1][3][0]  # type: ignore[index]
    if first[0] in (sre.MIN_REPEAT, sre.MAX_REPEAT) and first[1][0] == 0:  # type: ignore[index]
        items = items[1:]  # a `.*` in front of a search adds no match and removes none
    starts = {sre.AT_BEGINNING, sre.AT_BEGINNING_STRING}
    if items and items[-1] == (sre.LITERAL, _SLASH) and _only(items, _CONSUMING, starts):
        return DIR
    body = items[1:] if items and _is_lead(items[0]) else items
    if _may_match_slash(body):
        return WHOLE
    ends = {sre.AT_END, sre.AT_END_STRING}
    if body and body[-1][0] == sre.AT and body[-1][1] in ends and _only(body[:-1], _CONSUMING, set()):
        return NAME
    if _only(body, _CONSUMING, set()):
        return BOTH
    never_empty = sre_parse.SubPattern(parsed.state, body).getwidth()[0] > 0
    if never_empty and _only(body, _CONSUMING, ends | {sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY}):
        return BOTH
    return WHOLE


def _finite(items: list[tuple[object, object]], limit: int = 64) -> set[str] | None:
    """Every string the node sequence can match, when that is a small finite set; else None."""
    result = {""}
    for op, av in items:
        options: set[str] | None
        if op == sre.LITERAL:
            options = {chr(av)}  # type: ignore[arg-type]
        elif op == sre.IN and all(o == sre.LITERAL for o, _ in av):  # type: ignore[attr-defined]
            options = {chr(c) for _, c in av}  # type: ignore[attr-defined]
        elif op == sre.SUBPATTERN and not av[1] and not av[2]:  # type: ignore[index]
            options = _finite(list(av[3]), limit)  # type: ignore[index]
        elif op == sre.BRANCH:
            options = set()
            for branch in av[1]:  # type: ignore[index]
                sub = _finite(list(branch), limit)
                if sub is None:
                    return None
                options |= sub
        elif op == sre.MAX_REPEAT and av[0] == 0 and av[1] == 1:  # type: ignore[index]
            sub = _finite(list(av[2]), limit)  # type: ignore[index]
            options = None if sub is None else sub | {""}
        else:
            return None
        if options is None:
            return None
        result = {a + b for a in result for b in options}
        if len(result) > limit:
            return None
    return result


def end_suffixes(pattern: str) -> tuple[tuple[str, ...], bool] | None:
    """(endings, at `$`) for a pattern anchored at the end: every match ends the path with one of
    `endings` (or, for `$`, with one of them and a final newline). None when there is no such
    short list, the endings could hold `/`, or case is ignored: no cheap test of the name then."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & ~sre.SRE_FLAG_UNICODE:
        return None
    items = list(parsed.data)
    if not items or items[-1][0] != sre.AT or items[-1][1] not in (sre.AT_END, sre.AT_END_STRING):
        return None
    dollar = items[-1][1] == sre.AT_END
    endings = {""}
    for item in reversed(items[:-1]):
        options = _finite([item])
        if options is None:
            break
        longer = {o + e for o in options for e in endings}
        if len(longer) > 64:
            break
        endings = longer
    if "" in endings or any("/" in e or "\n" in e for e in endings):
        return None
    return tuple(sorted(endings)), dollar


#: what a path must end with for a pattern to match (see `end_suffixes`)
_Ending = tuple[tuple[str, ...], bool]
#: a pattern that can span folder and name, with what a path must contain and end with for it
#: to match: (literal filter, endings from `end_suffixes`, compiled)
_Whole = tuple[tuple[str, bool] | None, "_Ending | None", re.Pattern[str]]


class PathRuleSet:
    """One list of linguist's path patterns, split by `path_scope` so that `PathRules` can decide
    a path from per-folder and per-name verdicts; `search` still gives the first match of the
    plain `PatternSet` (for the detail of a drop)."""

    def __init__(self, patterns: list[str]) -> None:
        self.scopes = {p: path_scope(p) for p in patterns}
        self.all = PatternSet(patterns)
        self.folder_patterns = [p for p in patterns if self.scopes[p] in (DIR, BOTH)]
        self.name_patterns = [p for p in patterns if self.scopes[p] in (NAME, BOTH)]
        self.on_folder = PatternSet(self.folder_patterns)
        self.on_name = PatternSet(self.name_patterns)
        self.whole: list[_Whole] = []
        for p in patterns:
            if self.scopes[p] == WHOLE:
                lead_free = p
                for lead in _REDUNDANT_LEAD:
                    lead_free = lead_free.removeprefix(lead)
                self.whole.append((_literal_filter(lead_free), end_suffixes(p), re.compile(p)))

    def search(self, path: str) -> re.Match[str] | None:
        return self.all.search(path)


#: whole-path patterns left to run on a path: (which list, literal filter, compiled)
_Candidates = tuple[tuple[int, tuple[str, bool] | None, re.Pattern[str]], ...]
_NONE = (False, False, False)


class PathRules:
    """Vendored / documentation / generated-by-name verdicts of a path, decided per folder and
    per file name where `path_scope` proves that gives the same answer as searching the whole
    path: the files of one folder share its verdict, files sharing a name share theirs, and
    only the few patterns that can span both (after cheap literal and ending tests) run on each
    path. The three lists are searched as one first, since most folders and names match none.
    Memos are bounded and start afresh when full."""

    #: folders and names remembered before the memo starts afresh (memory bound)
    MEMO = 8192

    def __init__(self, vendor: PathRuleSet, documentation: PathRuleSet, generated: PathRuleSet) -> None:
        self.sets = (vendor, documentation, generated)
        self.any_folder = PatternSet([p for s in self.sets for p in s.folder_patterns])
        self.any_name = PatternSet([p for s in self.sets for p in s.name_patterns])
        self.endings = tuple(sorted({e for s in self.sets for w in s.whole if w[1] for e in w[1][0]}))
        self.always: _Candidates = tuple(
            (i, need, rx) for i, s in enumerate(self.sets) for need, ending, rx in s.whole if ending is None
        )
        #: the other whole-path patterns by the last character of their endings, so that a name
        #: is tested only against the endings it could have
        self._by_last: dict[str, list[tuple[int, tuple[str, bool] | None, re.Pattern[str], _Ending]]] = {}
        for i, s in enumerate(self.sets):
            for need, ending, rx in s.whole:
                if ending is not None:
                    for last in sorted({e[-1] for e in ending[0]}):
                        self._by_last.setdefault(last, []).append((i, need, rx, ending))
        # one search for the literals that the name-independent candidates need (when each
        # has a case-sensitive one): most paths contain none, and then none of them can match
        needs = [need for _i, need, _rx in self.always]
        self._always_gate = (
            re.compile("|".join(re.escape(n[0]) for n in needs))  # type: ignore[index]
            if needs and all(n is not None and not n[1] for n in needs)
            else None
        )
        self._folders: dict[str, tuple[bool, bool, bool]] = {}
        self._names: dict[str, tuple[tuple[bool, bool, bool], _Candidates]] = {}
        self._last: tuple[str, tuple[bool, bool, bool]] = ("", _NONE)

    def clear(self) -> None:
        """Forget every remembered verdict (benchmarks measure a first encounter this way)."""
        self._folders.clear()
        self._names.clear()
        self._last = ("", _NONE)

    def _folder(self, folder: str) -> tuple[bool, bool, bool]:
        if not self.any_folder.hit(folder + "/"):
            return _NONE
        v, d, g = (s.on_folder.hit(folder + "/") for s in self.sets)
        return v, d, g

    def _name(self, name: str) -> tuple[tuple[bool, bool, bool], _Candidates]:
        hits = _NONE
        if self.any_name.hit(name):
            v, d, g = (s.on_name.hit(name) for s in self.sets)
            hits = (v, d, g)
        if not name.endswith(self.endings) and not name.endswith("\n"):
            candidates = self.always
        else:
            found = {}  # an entry can be listed under two characters: keep it once
            for i, need, rx, (endings, _dollar) in self._by_last.get(name[-1], ()):
                if name.endswith(endings):
                    found[i, rx] = (i, need, rx)
            if name.endswith("\n"):  # `$` also holds before a final newline
                for i, need, rx, (endings, dollar) in self._by_last.get(name[-2:-1], ()):
                    if dollar and name[:-1].endswith(endings):
                        found[i, rx] = (i, need, rx)
            candidates = self.always + tuple(found.values())
        if hits != _NONE:
            candidates = tuple(c for c in candidates if not hits[c[0]])
        return hits, candidates

    def verdicts(self, path: str) -> tuple[bool, bool, bool]:
        """(vendored, documentation, generated by name) of `path`."""
        last_path, last = self._last
        if path == last_path and path:  # the reader asks again about the file it just listed
            return last
        folder, slash, name = path.rpartition("/")
        if not slash or not name:
            v, d, g = (s.all.hit(path) for s in self.sets)
            result = (v, d, g)
        else:
            in_folder = self._folders.get(folder)
            if in_folder is None:
                if len(self._folders) >= self.MEMO:
                    self._folders.clear()
                in_folder = self._folders[folder] = self._folder(folder)
            by_name = self._names.get(name)
            if by_name is None:
                if len(self._names) >= self.MEMO:
                    self._names.clear()
                by_name = self._names[name] = self._name(name)
            named, candidates = by_name
            if named is _NONE:
                result = in_folder
            else:
                v, d, g = in_folder
                result = (v or named[0], d or named[1], g or named[2])
            if candidates and not (
                candidates is self.always
                and self._always_gate is not None
                and self._always_gate.search(path) is None
            ):
                result = self._whole(path, result, candidates)
        self._last = (path, result)
        return result

    @staticmethod
    def _whole(path: str, found: tuple[bool, bool, bool], candidates: _Candidates) -> tuple[bool, bool, bool]:
        """`found` with the whole-path candidates that match added (cheap literal test first)."""
        hits = list(found)
        lowered = path.lower()
        for i, need, rx in candidates:
            if not hits[i] and not _literal_absent(need, path, lowered) and rx.search(path):
                hits[i] = True
        v, d, g = hits
        return v, d, g


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


def _js_or_css(path: str) -> bool:
    """Whether the extension is .js or .css (any case), as `posixpath.splitext` sees it; the
    ending is tested first, as most paths fail that (an extension lower-cased to `.js` ends the
    last four characters lower-cased)."""
    if not path[-4:].lower().endswith((".js", ".css")):
        return False
    return posixpath.splitext(path)[1].lower() in (".js", ".css")


def minified(path: str, text: str) -> bool:
    if not text or not _js_or_css(path):
        return False
    lines = text.split("\n")
    return (len(text) - (len(lines) - 1)) // len(lines) > MINIFIED_AVG_LINE


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
    if _js_or_css(path):
        tail = text[-2000:].rstrip("\n").rsplit("\n", 2)[-2:]
        if any(_SOURCE_MAP_COMMENT.search(line) for line in tail):
            return "ends with a source-map reference"
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


# --- linguist's generated-file checks that look at particular lines of particular file types ---
#
# Each check below is written from the definition of a rule in linguist's generated.rb and runs
# only for the extensions that rule applies to (one dict lookup per file), mostly on a handful of
# leading lines. Lines are the pieces of the text split at "\n" (a final newline gives one more,
# empty line; an empty text has none), with a trailing "\r" dropped. Banners that linguist accepts
# anywhere in a fixed head (protobuf, Thrift, Cython, Racc, JFlex, roxygen2, ...) are already
# found by `generated_markers` above, so they have no check here.


#: the type checks read at most this many characters at the start (and at the end) of a text,
#: so that a file of very long lines costs no more than a short one; linguist counts lines only
TYPE_WINDOW = 16384


def _lines(chunk: str) -> list[str]:
    """The lines of a part of a text that holds at least one line (an empty part is one)."""
    return [line.removesuffix("\r") for line in chunk.split("\n")]


def _head(text: str, n: int) -> list[str]:
    """The first `n` lines (all of them when there are fewer, and cut at `TYPE_WINDOW`
    characters), without splitting the rest."""
    return _lines(text[: _head_end(text, n)]) if text and n else []


def _head_end(text: str, n: int) -> int:
    """Where the first `n` lines end (at their last newline, or the end of the text), cut at
    `TYPE_WINDOW` characters."""
    pos, window = 0, min(len(text), TYPE_WINDOW)
    for _ in range(n):
        nl = text.find("\n", pos, window)
        if nl < 0:
            return window
        pos = nl + 1
    return pos - 1 if n else 0


def _tail(text: str, n: int) -> list[str]:
    """The last `n` lines (all of them when there are fewer), without splitting the rest; only
    the last `TYPE_WINDOW` characters are looked at."""
    start, window = len(text), max(0, len(text) - TYPE_WINDOW)
    for _ in range(n):
        nl = text.rfind("\n", window, start)
        if nl < 0:
            return _lines(text[window:]) if text else []
        start = nl
    return _lines(text[start + 1 :]) if n else []


_COFFEE_LOCALS = re.compile(r"_fn|_i|_len|_ref|_results")
_COFFEE_HELPERS = re.compile(r"__bind|__extends|__hasProp|__indexOf|__slice")


def _coffeescript(text: str) -> str | None:
    """CoffeeScript's compiler output: its `// Generated by` first line, or the whole file wrapped
    in `(function() { ... }).call(this);` with enough of the compiler's local names and helpers
    (`_ref`, `_len`: 1 point each; `__extends`, `__bind`: 3) on `var` lines."""
    if text.startswith("// Generated by "):
        return "compiled CoffeeScript: first line '// Generated by'"
    # tested on the text first: a minified file's first line can be the whole file
    if not text.startswith("(function() {") or _head(text, 1) != ["(function() {"]:
        return None
    if _tail(text, 2) != ["}).call(this);", ""]:
        return None
    score = 0
    for line in text.split("\n"):
        if "var " in line:
            score += len(_COFFEE_LOCALS.findall(line)) + 3 * len(_COFFEE_HELPERS.findall(line))
            if score >= 3:
                return "compiled CoffeeScript: module closure with compiler helpers"
    return None


def _pegjs(text: str) -> str | None:
    """A parser written by PEG.js: its first block comment (within five lines) names it."""
    end = _head_end(text, 5)
    if text.find("Generated by PEG.js", 0, end) < 0:  # most scripts: nothing to split
        return None
    head = "".join(_lines(text[:end]))
    opened = head.find("/*")
    if opened >= 0:
        closed = head.find("*/", opened + 2)
        if "Generated by PEG.js" in head[opened + 2 : closed if closed >= 0 else len(head)]:
            return "parser generated by PEG.js"
    return None


def _javascript(text: str) -> str | None:
    return _coffeescript(text) or _pegjs(text)


def _net_docfile(text: str) -> str | None:
    """.NET XML documentation: `<doc>` on line 2, `<assembly>` on line 3, `</doc>` last."""
    head = _head(text, 4)
    if len(head) > 3 and "<doc>" in head[1] and "<assembly>" in head[2] and "</doc>" in _tail(text, 2)[0]:
        return ".NET XML documentation file"
    return None


_PS_EMBEDDED = re.compile(r"^\s*(?:currentfile eexec\s+|/sfnts\s+\[\s<)", re.M)
_PS_CREATOR_TOOL = re.compile(
    r"[0-9]|draw|mpage|ImageMagick|inkscape|MATLAB|PCBNEW|pnmtops|\(Unknown\)|Serif Affinity|Filterimage -tops"
)


def _postscript(text: str) -> str | None:
    """PostScript written by a program: an encrypted or embedded font section anywhere, or a
    `%%Creator:` line (in the first ten) naming a known tool or carrying a version number."""
    if _PS_EMBEDDED.search(text):
        return "PostScript with an embedded font program"
    head = _head(text, 10)
    creator = next((line for line in head if line.startswith("%%Creator: ")), None)
    if creator is None:
        return None
    if _PS_CREATOR_TOOL.search(creator):
        return f"PostScript {creator.strip()!r}"
    if "EAGLE" in creator and any(line.startswith("%%Title: EAGLE Drawing ") for line in head[:5]):
        return "PostScript drawn by EAGLE"
    return None


def _go(text: str) -> str | None:
    """Go's convention: a `// Code generated ... ` line among the first 40."""
    head = _head(text, 40)
    if len(head) > 1 and any(line.startswith("// Code generated ") for line in head):
        return "Go 'Code generated' comment"
    return None


def _go_to_protobuf(text: str) -> str | None:
    head = _head(text, 20)
    if len(head) > 1 and any("This file was autogenerated by go-to-protobuf" in line for line in head):
        return ".proto written by go-to-protobuf"
    return None


_DART_BANNER = re.compile(r"generated code\W{2,3}do not modify")


def _dart(text: str) -> str | None:
    """Dart code generators' `GENERATED CODE - DO NOT MODIFY` banner in the first three lines."""
    head = _head(text, 3)
    if len(head) > 1 and any(_DART_BANNER.search(line.lower()) for line in head):
        return "Dart 'generated code - do not modify' banner"
    return None


_GMS_VERSIONED = re.compile(r"\d\.\d\.\d.+\|\{")


def _gamemaker(text: str) -> str | None:
    """GameMaker Studio project files, which the IDE writes as JSON (or `1.2.3...|{` records)."""
    head = _head(text, 4)
    if len(head) > 3 and ("".join(head[:3]).lstrip()[:1] in ("{", "[") or _GMS_VERSIONED.match(head[0])):
        return "GameMaker Studio project data"
    return None


_GIMP_DUMP = re.compile(
    r"/\* GIMP [a-zA-Z0-9\- ]+ C\-Source image dump \(.+?\.c\) \*/"
    r"|/\*  GIMP header image file format \([a-zA-Z0-9\- ]+\): .+?\.h  \*/"
)


def _gimp(text: str) -> str | None:
    if not text.startswith(("/* GIMP ", "/*  GIMP ")):  # most C files: no line to look at
        return None
    head = _head(text, 1)
    if _GIMP_DUMP.match(head[0]):
        return "image exported as C by GIMP"
    return None


def _visual_studio6(text: str) -> str | None:
    if any("# Microsoft Developer Studio Generated Build File" in line for line in _head(text, 3)):
        return "Visual Studio 6 build file"
    return None


def _jooq(text: str) -> str | None:
    if any("This file is generated by jOOQ." in line for line in _head(text, 2)):
        return "Java generated by jOOQ"
    return None


def _mysql_view(text: str) -> str | None:
    head = _head(text, 1)
    if head and "TYPE=VIEW" in head[0]:
        return "MySQL view definition"
    return None


_MAP_START = re.compile(r'\{"version":\d+,|/\*\* Begin line maps\. \*\*/\{')


def _source_map_content(text: str) -> str | None:
    """A `.map` file that begins like a source map (revision 2+ JSON, or revision 1's comment)."""
    if _MAP_START.match(text):  # cannot reach past the first line
        return "source map"
    return None


def _vcr_cassette(text: str) -> str | None:
    """A VCR recording: the second-to-last line (the last one before a final newline) says so."""
    tail = _tail(text, 3)
    if len(tail) > 2 and "recorded_with: VCR" in tail[1]:
        return "VCR cassette ('recorded_with: VCR' at the end)"
    return None


_HTML_DOXYGEN = re.compile(r"<!--\s+Generated by Doxygen\s+[.0-9]+\s*-->", re.I)
_HTML_META = re.compile(r"<meta(\s+[^>]++)>", re.I)
_HTML_ATTR = re.compile(r"""(?:^|(?<=\s))(name|content|value)\s*=\s*("[^"]+"|'[^']+'|[^\s"']+)""", re.I)
_HTML_UNQUOTE = re.compile(r"^[\"']|[\"']$")
_HTML_GENERATORS = re.compile(r"(?:org\s+mode|j?latex2html|groff|makeinfo|texi2html|ronn)\b", re.I)


def _meta_attributes(inside: str) -> dict[str, str]:
    """name/content/value of one `<meta ...>` tag (quotes dropped; a later repeat wins)."""
    inside = inside.removesuffix("/").strip()
    return {k.lower(): _HTML_UNQUOTE.sub("", v) for k, v in _HTML_ATTR.findall(inside)}


def _html(text: str) -> str | None:
    """HTML from a documentation tool: pkgdown's or Doxygen's comment, a generated-file notice on
    line 3, or a `<meta name="generator">` naming org mode, (j)latex2html, groff, makeinfo,
    texi2html or ronn (within the first 31 lines)."""
    head = _head(text, 31)
    if len(head) < 2:
        return None
    if any("<!-- Generated by pkgdown: do not edit by hand -->" in line for line in head[:2]):
        return "HTML generated by pkgdown"
    if len(head) > 2 and head[2].startswith("<!-- This is an automatically generated file."):
        return "HTML with a generated-file notice"
    if any(_HTML_DOXYGEN.search(line) for line in head):
        return "HTML generated by Doxygen"
    joined = " ".join(head)
    if "<meta" not in joined.lower():
        return None
    for inside in _HTML_META.findall(joined):
        attrs = _meta_attributes(inside)
        if attrs.get("name", "").lower() != "generator":
            continue
        for value in (attrs.get("content"), attrs.get("value")):
            if value and _HTML_GENERATORS.match(value):
                return f"HTML meta generator {value!r}"
    return None


#: extension (as linguist compares it, case kept) -> the checks for it
_BY_EXTENSION: dict[str, tuple[Callable[[str], str | None], ...]] = {
    ".js": (_javascript,),
    ".ps": (_postscript,),
    ".eps": (_postscript,),
    ".pfa": (_postscript,),
    ".go": (_go,),
    ".proto": (_go_to_protobuf,),
    ".dart": (_dart,),
    ".yy": (_gamemaker,),
    ".yyp": (_gamemaker,),
    ".c": (_gimp,),
    ".h": (_gimp,),
    ".yml": (_vcr_cassette,),
}
#: extensions linguist compares in lower case -> the checks for them
_BY_LOWER_EXTENSION: dict[str, tuple[Callable[[str], str | None], ...]] = {
    ".xml": (_net_docfile,),
    ".dsp": (_visual_studio6,),
    ".java": (_jooq,),
    ".frm": (_mysql_view,),
    ".map": (_source_map_content,),
    ".html": (_html,),
    ".htm": (_html,),
    ".xhtml": (_html,),
}


def _extension(path: str) -> str:
    """The extension as `posixpath.splitext` (and Ruby's File.extname) sees it, or ""."""
    return posixpath.splitext(path)[1]


def generated_by_type(path: str, text: str) -> str | None:
    """Why a type-specific check of linguist calls this content generated, or None. The text after
    the last dot is looked up first (most files have no check), the exact extension rules after."""
    ext = path[path.rfind(".") :]
    checks = _BY_EXTENSION.get(ext) or _BY_LOWER_EXTENSION.get(ext.lower())
    if checks is None or _extension(path) != ext:  # e.g. `.c` of a name `..c` is no extension
        return None
    for check in checks:
        why = check(text)
        if why:
            return why
    return None
