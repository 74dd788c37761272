"""The n-gram index behind decontamination.

Rule (DeepSeek-Coder-V2 §2, after DeepSeekMath): a document is contaminated when it shares a 10-gram
with benchmark test data; benchmark strings too short for a 10-gram (3 to 9 tokens) must occur in
the document exactly.

Tokens are lower-cased `\\w+` runs for the 10-gram rule, so a solution re-indented, re-wrapped,
re-quoted or reformatted by a code formatter still matches. Two guards keep clean documents that
merely share common phrases: a benchmark 10-gram with fewer than `min_distinct` different tokens
(`0 0 0 0 ...`, `self self ...`) is not indexed, and a short test string is matched on tokens that
keep punctuation and operators and only when it has at least `min_short_chars` characters, so
`return x + y` (a whole HumanEval solution) does not drop every file that adds two numbers.
Both thresholds are recipe parameters; the indexed and skipped counts are reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

WORD = re.compile(r"\w+", re.UNICODE)
#: tokens for exact short-string matching: words, and every other non-space character on its own
SYMBOL_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def symbol_tokens(text: str) -> list[str]:
    return SYMBOL_TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Item:
    """One benchmark test item (a problem, its solution, ...)."""

    benchmark: str
    item_id: str
    text: str


@dataclass(frozen=True)
class Match:
    benchmark: str
    item_id: str
    rule: str  # "10-gram" or "exact"
    ngram: str


@dataclass
class IndexStats:
    items: int = 0
    ngrams: int = 0
    low_information_ngrams: int = 0
    short_strings: int = 0
    short_strings_too_generic: int = 0
    per_benchmark: dict[str, int] = field(default_factory=dict)


class NgramIndex:
    def __init__(
        self, n: int = 10, short_min: int = 3, min_distinct: int = 4, min_short_chars: int = 20
    ) -> None:
        if n < 2:
            raise ValueError("n must be at least 2")
        self.n = n
        self.short_min = short_min
        self.min_distinct = min_distinct
        self.min_short_chars = min_short_chars
        self._ngrams: dict[tuple[str, ...], int] = {}
        self._short: dict[int, dict[tuple[str, ...], int]] = {}
        self._items: list[Item] = []
        self.stats = IndexStats()

    def add(self, items: Iterable[Item]) -> None:
        for item in items:
            idx = len(self._items)
            self._items.append(item)
            self.stats.items += 1
            self.stats.per_benchmark[item.benchmark] = self.stats.per_benchmark.get(item.benchmark, 0) + 1
            toks = words(item.text)
            if len(toks) >= self.n:
                for i in range(len(toks) - self.n + 1):
                    gram = tuple(toks[i : i + self.n])
                    if len(set(gram)) < self.min_distinct:
                        self.stats.low_information_ngrams += 1
                        continue
                    if gram not in self._ngrams:
                        self._ngrams[gram] = idx
                        self.stats.ngrams += 1
            elif len(toks) >= self.short_min:
                sym = tuple(symbol_tokens(item.text))
                if len(" ".join(item.text.split())) < self.min_short_chars:
                    self.stats.short_strings_too_generic += 1
                    continue
                self._short.setdefault(len(sym), {}).setdefault(sym, idx)
                self.stats.short_strings += 1

    def __len__(self) -> int:
        return len(self._ngrams) + sum(len(v) for v in self._short.values())

    def find(self, text: str) -> Match | None:
        """The first benchmark n-gram (or exact short string) in `text`, or None."""
        n = self.n
        if self._ngrams:
            toks = words(text)
            table = self._ngrams
            for i in range(len(toks) - n + 1):
                idx = table.get(tuple(toks[i : i + n]))
                if idx is not None:
                    item = self._items[idx]
                    return Match(item.benchmark, item.item_id, f"{n}-gram", " ".join(toks[i : i + n]))
        if self._short:
            sym = symbol_tokens(text)
            for length, table in self._short.items():
                for i in range(len(sym) - length + 1):
                    idx = table.get(tuple(sym[i : i + length]))
                    if idx is not None:
                        item = self._items[idx]
                        return Match(item.benchmark, item.item_id, "exact", " ".join(sym[i : i + length]))
        return None
