"""Vendored / documentation / generated-by-name verdicts of a path, decided once per folder and
once per file name wherever that provably gives the answer of searching the whole path.

A repository lists thousands of files in few folders, with many names repeated; `path_scope` sorts
each of linguist's path patterns by the part of a path it can depend on, so that `PathRules` can
remember verdicts per folder and per name and search whole paths only with the few patterns that
can span both.
"""

from __future__ import annotations

import functools
import re
from re import _constants as sre
from re import _parser as sre_parse

from corpus.github.linguist_patterns import (
    REDUNDANT_LEAD,
    PatternSet,
    end_suffixes,
    literal_absent,
    literal_filter,
)

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
        self.patterns = patterns
        self.folder_patterns = [p for p in patterns if self.scopes[p] in (DIR, BOTH)]
        self.name_patterns = [p for p in patterns if self.scopes[p] in (NAME, BOTH)]
        self.whole: list[_Whole] = []
        for p in patterns:
            if self.scopes[p] == WHOLE:
                lead_free = p
                for lead in REDUNDANT_LEAD:
                    lead_free = lead_free.removeprefix(lead)
                self.whole.append((literal_filter(lead_free), end_suffixes(p), re.compile(p)))

    # The per-list sets are compiled when first asked for: `PathRules` asks only after its joined
    # sets hit, and compiling every list's alternations up front was most of a reader's start-up.
    @functools.cached_property
    def all(self) -> PatternSet:
        return PatternSet(self.patterns)

    @functools.cached_property
    def on_folder(self) -> PatternSet:
        return PatternSet(self.folder_patterns)

    @functools.cached_property
    def on_name(self) -> PatternSet:
        return PatternSet(self.name_patterns)

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
            if not hits[i] and not literal_absent(need, path, lowered) and rx.search(path):
                hits[i] = True
        v, d, g = hits
        return v, d, g
