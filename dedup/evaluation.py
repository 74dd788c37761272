"""Measuring near-dedup against exact ground truth.

Ground truth is computed independently of the production code: words come from a regular
expression with the same rule (ASCII letters, digits and underscore, plus any non-ASCII character,
after lower-casing), shingles are Python tuples, and the Jaccard similarity of every pair that
shares a shingle is counted exactly through an inverted index. Planted near-duplicates are made by
replacing words of a real text with fresh tokens until the shingle-set Jaccard similarity to the
original reaches a target, so each test pair's true similarity is known, not assumed.
"""

from __future__ import annotations

import random
import re
import sysconfig
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

_WORD = re.compile(r"[a-z0-9_\u0080-\U0010ffff]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingle_set(text: str, ngram: int = 5) -> frozenset[tuple[str, ...]]:
    w = words(text)
    if not w:
        return frozenset()
    if len(w) < ngram:
        return frozenset([tuple(w)])
    return frozenset(tuple(w[i : i + ngram]) for i in range(len(w) - ngram + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def similar_pairs(sets: Sequence[frozenset], min_similarity: float) -> dict[tuple[int, int], float]:
    """Every pair (i < j) with Jaccard >= min_similarity, found exactly via an inverted index."""
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            index[sh].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for docs in index.values():
        if len(docs) < 2:
            continue
        for x in range(len(docs)):
            for y in range(x + 1, len(docs)):
                shared[(docs[x], docs[y])] += 1
    out = {}
    for (i, j), inter in shared.items():
        sim = inter / (len(sets[i]) + len(sets[j]) - inter)
        if sim >= min_similarity:
            out[(i, j)] = sim
    return out


def plant_variant(text: str, target: float, rng: random.Random, ngram: int = 5) -> tuple[str, float]:
    """A copy of `text` with words replaced by fresh tokens, Jaccard (shingle sets) close to target."""
    base = words(text)
    original = shingle_set(text, ngram)
    lo, hi = 0, len(base)
    best = (" ".join(base), 1.0)
    positions = list(range(len(base)))
    rng.shuffle(positions)
    for _ in range(20):  # bisection on the number of replaced words
        k = (lo + hi) // 2
        w = list(base)
        for p in positions[:k]:
            w[p] = f"zq{rng.getrandbits(40):x}"
        variant = " ".join(w)
        sim = jaccard(original, shingle_set(variant, ngram))
        if abs(sim - target) < abs(best[1] - target):
            best = (variant, sim)
        if sim > target:
            lo = k + 1
        else:
            hi = k - 1
        if lo > hi:
            break
    return best


def components(n: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def pair_set(labels: Sequence[int]) -> set[tuple[int, int]]:
    """All pairs (i < j) that share a label (cluster membership as pairs)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(labels):
        groups[g].append(i)
    out = set()
    for members in groups.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                out.add((members[x], members[y]))
    return out


def precision_recall_f1(predicted: set, truth: set) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def real_texts(limit: int, min_chars: int = 1_500, max_chars: int = 20_000, seed: int = 0) -> list[str]:
    """Real text from this machine: Python standard-library sources, a deterministic sample."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    rng = random.Random(seed)
    rng.shuffle(files)
    out: list[str] = []
    for p in files:
        try:
            t = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if min_chars <= len(t) <= max_chars:
            out.append(t)
            if len(out) >= limit:
                break
    return out


def planted_corpus(
    n_base: int, targets: Sequence[float], seed: int = 0, ngram: int = 5
) -> tuple[list[str], list[str]]:
    """(ids, texts): real texts plus, for every `len(targets)`-th text, one variant per target."""
    rng = random.Random(seed)
    base = real_texts(n_base, seed=seed)
    ids, texts = [], []
    for i, t in enumerate(base):
        ids.append(f"doc{i:05d}")
        texts.append(t)
        if i % 2 == 0:
            for k, target in enumerate(targets):
                variant, _ = plant_variant(t, target, rng, ngram)
                ids.append(f"doc{i:05d}~{k}")
                texts.append(variant)
    return ids, texts
