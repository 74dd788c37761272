"""Which rules can match a text at all, decided by a few fast passes instead of a regex per rule.

A rule names its anchors: literals of which every match of its regex contains at least one (a token
prefix such as `ghp_`, the name a value is assigned to such as `twilio`). A text that holds none of
a rule's anchors cannot match the rule, so not running its regex there changes no finding; and most
anchors occur in no file of ordinary code, so most regexes never run.

Why the search is built this way: `re` scans for a pattern that starts with one fixed character at
about 2 GB/s, but tries an alternation or a character class at every position, about ten times
slower (pyahocorasick, stepping its automaton per character, is slower still). So each anchor is
looked for at one of its characters, its pivot, taken from a few characters that are rare in code,
and the anchors sharing a pivot share one pass, `k(?=ey(?<=apikey)()|en(?<=token)()|...)`: it stops
at the pivot only, checks the rest of each anchor around it with lookarounds and names the anchor
by its empty group. A match consumes the pivot alone, so no later pivot is skipped. Two anchors
that can surround the same pivot (`apikey` and `key-` in `apikey-`) would report only the first, so
each anchor reports the targets of every anchor it can coincide with.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)

#: the characters anchors are looked for at, by preference: rare in source code and shared by many
#: anchors (each distinct pivot costs one pass). The choice changes speed only, never the result.
PIVOTS = "kKAJGgxwc_"


def spellings(name: str) -> tuple[str, ...]:
    """Every string that `name`, literal words joined by `[_\\-]?`, matches (`api[_\\-]?key`:
    `apikey`, `api_key`, `api-key`)."""
    words = name.split(r"[_\-]?")
    if any(re.escape(w) != w for w in words):
        raise ValueError(f"not literal words joined by [_\\-]?: {name!r}")
    out = [words[0]]
    for word in words[1:]:
        out = [f"{o}{sep}{word}" for o in out for sep in ("", "_", "-")]
    return tuple(out)


def _pivot(anchor: str) -> int:
    return next((anchor.index(c) for c in PIVOTS if c in anchor), len(anchor) - 1)


def _coincide(a: str, i: int, b: str, j: int) -> bool:
    """Whether `a` and `b` can both occur with their pivots (`a[i]`, `b[j]`) at one position: the
    shorter of their parts before the pivot ends the longer, the shorter from the pivot on starts it."""
    short_before, long_before = sorted((a[:i], b[:j]), key=len)
    short_after, long_after = sorted((a[i:], b[j:]), key=len)
    return long_before.endswith(short_before) and long_after.startswith(short_after)


class Anchors(Generic[T]):
    """Anchors with their targets (rules): `present(text)` holds the targets of every anchor in
    `text`, and those of anchors that could share a pivot with one there."""

    def __init__(self, anchors: Iterable[tuple[str, T]]) -> None:
        targets: dict[str, set[T]] = defaultdict(set)
        for anchor, target in anchors:
            targets[anchor].add(target)
        by_pivot: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for anchor in targets:
            i = _pivot(anchor)
            by_pivot[anchor[i]].append((anchor, i))
        self._passes: list[tuple[re.Pattern[str], list[frozenset[T]]]] = []
        for pivot, group in by_pivot.items():
            rest = "|".join(f"{re.escape(a[i + 1 :])}(?<={re.escape(a)})()" for a, i in group)
            reports = [
                frozenset(t for b, j in group if _coincide(a, i, b, j) for t in targets[b]) for a, i in group
            ]
            self._passes.append((re.compile(f"{re.escape(pivot)}(?={rest})"), reports))

    def present(self, text: str) -> set[T]:
        found: set[T] = set()
        for regex, reports in self._passes:
            for m in regex.finditer(text):
                found |= reports[m.lastindex - 1]  # type: ignore[operator]
        return found
