"""The mix plan's partial epochs in passes over the count files, with the outcome of `plan_copies`.

Why: `plan.plan_copies` sorts every document of a group by its seeded order key and keeps the
costs beside it: 84 bytes a document measured (tracemalloc, 1.6 M documents), so a full-scale mix
of billions of documents would need a machine of hundreds of GB for one task. The plan only needs
a few documents one by one: the one where the partial epoch's running total crosses what it must
take, the few that first fit adds after it, and the few that the improving moves exchange. This
module finds those by reading the count files' numbers again (group, cost, order key) a few times,
and holds per group one bucket of the key space, a window of first-fit candidates and, per cost
value, the first and last few documents in and out of the partial epoch. Everything else is
decided by comparing a document's place in the seeded order with the cut.

A document's place in its group's order is (order key, place in the input), the input being the
count files in name order and their rows in order: the stable sort of `plan_copies` over the
concatenated input breaks ties between equal keys the same way. Token sums are integers (exact in
int64, and as float64 below 2**53), so every comparison `_partial_epoch` makes on float sums comes
out the same here. `tests/mix/test_plan_stream.py` holds the two to the same copies on random
inputs with many ties, tiny buckets and every move kind.

The passes (each reads three numeric columns of every count file):
1. totals: documents and tokens per group, tokens per key bucket (the key's top `BUCKET_BITS`
   bits), the least cost;
2. the bucket where the running total crosses the remainder, read whole: the prefix of the
   partial epoch ends inside it;
3. first fit after the prefix: the documents that cost at most what is left, in windows of
   buckets of at most `WINDOW` candidates (what is left shrinks with every document taken, so
   one or two windows usually finish it);
4. the improving moves: per cost value, the first `EXTREMES` documents inside and the first and
   last `EXTREMES` outside the partial epoch (a move takes the first of a cost value, or the last
   one just below a target), then `_partial_epoch`'s moves on those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from corpus.mix.config import MixSettings
from corpus.mix.plan import GroupPlan, group_plan, group_targets, whole_epochs

#: top bits of the order key that name its bucket (65,536 buckets a group)
BUCKET_BITS = 16
#: first-fit candidates held per group in one pass
WINDOW = 1 << 18
#: documents kept per cost value and end for the improving moves (more than the moves can take)
SWAPS = 8
EXTREMES = SWAPS + 2
#: bits of a document's place given to its row in the count file (the file index above them)
ROW_BITS = 40

#: (group codes, costs, order keys, places) of a batch of count rows, in input order
Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Scan = Callable[[], Iterator[Batch]]
Pos = tuple[int, int]
NONE: Pos = (-1, -1)  # below every place, as -1 is below every index in `_partial_epoch`


def places(file_index: int, first_row: int, n: int) -> np.ndarray:
    return (np.int64(file_index) << np.int64(ROW_BITS)) + first_row + np.arange(n, dtype=np.int64)


class Totals:
    """Pass 1, fed batch by batch: documents, tokens, tokens per key bucket and least cost per group."""

    def __init__(self, groups: int, bucket_bits: int = BUCKET_BITS) -> None:
        self.groups = groups
        self.bits = bucket_bits
        self.nb = 1 << bucket_bits
        self.documents = np.zeros(groups, dtype=np.int64)
        self.buckets = np.zeros((groups, self.nb), dtype=np.int64)
        self.bucket_docs = np.zeros((groups, self.nb), dtype=np.int64)
        self.least = np.full(groups, np.iinfo(np.int64).max, dtype=np.int64)

    def bucket(self, keys: np.ndarray) -> np.ndarray:
        return (keys >> np.uint64(64 - self.bits)).astype(np.int64)

    def add(self, codes: np.ndarray, costs: np.ndarray, keys: np.ndarray) -> None:
        flat = codes.astype(np.int64) * self.nb + self.bucket(keys)
        size = self.groups * self.nb
        # integer sums through float64 bins are exact while a batch's bin stays under 2**53
        self.buckets += (
            np.bincount(flat, weights=costs, minlength=size).astype(np.int64).reshape(self.groups, -1)
        )
        self.bucket_docs += np.bincount(flat, minlength=size).reshape(self.groups, -1)
        self.documents += np.bincount(codes, minlength=self.groups)
        for gi in np.unique(codes):
            self.least[gi] = min(self.least[gi], int(costs[codes == gi].min()))

    def tokens(self, gi: int) -> int:
        return int(self.buckets[gi].sum())


@dataclass
class Cut:
    """One group's partial epoch: every document placed before `pivot` in the seeded order (all
    of them when `pivot` is None), plus `added`, less `removed`."""

    full: int
    pivot: Pos | None
    added: dict[Pos, int] = field(default_factory=dict)  # place -> cost
    removed: dict[Pos, int] = field(default_factory=dict)
    documents: int = 0
    tokens: int = 0

    def taken(self, keys: np.ndarray, where: np.ndarray) -> np.ndarray:
        if self.pivot is None:
            out = np.ones(keys.size, dtype=bool)
        else:
            pk, pp = self.pivot
            key = np.uint64(max(pk, 0))  # NONE: nothing is placed before it
            out = (keys < key) | ((keys == key) & (where < pp))
        for moved, value in ((self.added, True), (self.removed, False)):
            if not moved:
                continue
            mk = np.fromiter((k for k, _ in moved), dtype=np.uint64, count=len(moved))
            for i in np.flatnonzero(np.isin(keys, mk)):
                if (int(keys[i]), int(where[i])) in moved:
                    out[i] = value
        return out


def plan_streamed(
    scan: Scan, totals: Totals, names: list[str], settings: MixSettings, window: int = WINDOW
) -> tuple[dict[str, GroupPlan], dict[str, Cut], int]:
    """The plan of `plan_copies` over the documents `scan` yields: per-group plans, cuts, total."""
    available = {g: float(totals.tokens(gi)) for gi, g in enumerate(names)}
    shares, total = group_targets(available, settings)
    plans: dict[str, GroupPlan] = {}
    cuts: dict[str, Cut] = {}
    remainders: dict[int, float] = {}
    for gi, g in enumerate(names):
        share, n = shares[g], int(totals.documents[gi])
        if n == 0 or share <= 0:
            plans[g] = GroupPlan(share, n, round(available[g]), 0, 0, 0, 0, 0.0)
            cuts[g] = Cut(0, NONE)
            continue
        full, remainders[gi] = whole_epochs(share * total, available[g])
        cuts[g] = Cut(full, NONE)
    work = {gi: cuts[names[gi]] for gi in remainders}
    left, start = _prefix(scan, totals, work, remainders)
    _first_fit(scan, totals, work, left, start, window)
    _improve(scan, work, left)
    for gi, cut in work.items():
        g = names[gi]
        n = int(totals.documents[gi])
        plans[g] = group_plan(
            shares[g], n, available[g], shares[g] * total, cut.full, cut.documents, float(cut.tokens)
        )
    return plans, cuts, round(total)


def _prefix(
    scan: Scan, totals: Totals, work: dict[int, Cut], remainders: dict[int, float]
) -> tuple[dict[int, float], dict[int, int]]:
    """Pass 2: each group's pivot (the first document in seeded order that the running total
    cannot take under the remainder), what is left of the remainder, first fit inside the pivot's
    bucket, and the bucket where first fit goes on."""
    left: dict[int, float] = {}
    start: dict[int, int] = {}
    crossing: dict[int, int] = {}
    for gi, cut in work.items():
        remainder = remainders[gi]
        cum = np.cumsum(totals.buckets[gi])
        b = int(np.searchsorted(cum, remainder, side="right"))
        if b >= totals.nb:  # the remainder takes the whole group (only at a float edge)
            cut.pivot, cut.documents, cut.tokens = None, int(totals.documents[gi]), int(cum[-1])
            left[gi] = remainder - float(cum[-1])
        elif not totals.bucket_docs[gi, b]:  # a remainder below zero (a float edge): nothing fits
            left[gi] = remainder
        else:
            crossing[gi] = b
            cut.documents = int(totals.bucket_docs[gi, :b].sum())
            cut.tokens = int(cum[b - 1]) if b else 0
    got = _collect(scan, totals, {gi: (b, b + 1, None) for gi, b in crossing.items()})
    for gi, b in crossing.items():
        cut = work[gi]
        keys, where, costs = got[gi]
        cl = cut.tokens + np.cumsum(costs)
        k = int(np.searchsorted(cl, remainders[gi], side="right"))
        cut.pivot = (int(keys[k]), int(where[k]))
        cut.documents += k
        cut.tokens = int(cl[k - 1]) if k else cut.tokens
        left[gi] = _fit(cut, keys[k:], where[k:], costs[k:], remainders[gi] - cut.tokens)
        start[gi] = b + 1
    return left, start


def _fit(cut: Cut, keys: np.ndarray, where: np.ndarray, costs: np.ndarray, left: float) -> float:
    for i in np.flatnonzero(costs <= left):
        c = int(costs[i])
        if c <= left:
            cut.added[(int(keys[i]), int(where[i]))] = c
            cut.documents += 1
            cut.tokens += c
            left -= c
    return left


def _first_fit(
    scan: Scan,
    totals: Totals,
    work: dict[int, Cut],
    left: dict[int, float],
    start: dict[int, int],
    window: int,
) -> None:
    """Pass 3: first fit after the pivot's bucket, a window of buckets per pass."""
    while True:
        active = {
            gi: (b, totals.nb, left[gi])
            for gi, b in start.items()
            if b < totals.nb and left[gi] >= totals.least[gi]
        }
        if not active:
            return
        got = _collect(scan, totals, active, window=window)
        for gi, (keys, where, costs, end) in got.items():
            left[gi] = _fit(work[gi], keys, where, costs, left[gi])
            start[gi] = end


def _collect(
    scan: Scan, totals: Totals, want: dict[int, tuple[int, int, float | None]], window: int | None = None
):
    """The documents of each group in buckets [lo, hi) costing at most the bound (None: all), in
    seeded order. With `window`, fewer buckets when more than `window` documents qualify: the
    result then also says where it stopped (at least one bucket further)."""
    parts: dict[int, list[tuple[np.ndarray, ...]]] = {gi: [] for gi in want}
    held = dict.fromkeys(want, 0)
    hi = {gi: w[1] for gi, w in want.items()}
    for codes, costs, keys, where in scan():
        buckets = totals.bucket(keys)
        for gi, (lo, _, bound) in want.items():
            m = (codes == gi) & (buckets >= lo) & (buckets < hi[gi])
            if bound is not None:
                m &= costs <= bound
            if not m.any():
                continue
            parts[gi].append((buckets[m], keys[m], where[m], costs[m]))
            held[gi] += int(m.sum())
            if window is not None and held[gi] > 2 * window:
                b = np.concatenate([p[0] for p in parts[gi]])
                cut_at = int(np.partition(b, window)[window])
                hi[gi] = max(cut_at, lo + 1)
                parts[gi] = [tuple(a[p[0] < hi[gi]] for a in p) for p in parts[gi]]
                held[gi] = sum(p[0].size for p in parts[gi])
    out = {}
    for gi, ps in parts.items():
        keys = np.concatenate([p[1] for p in ps]) if ps else np.zeros(0, np.uint64)
        where = np.concatenate([p[2] for p in ps]) if ps else np.zeros(0, np.int64)
        costs = np.concatenate([p[3] for p in ps]) if ps else np.zeros(0, np.int64)
        order = np.lexsort((where, keys))
        got = (keys[order], where[order], costs[order])
        out[gi] = (*got, hi[gi]) if window is not None else got
    return out


class _Side:
    """Documents on one side of the partial epoch, by cost value: the first (and for the outside,
    also the last) `EXTREMES` of each value in seeded order, and how many each value has."""

    def __init__(self, last: bool) -> None:
        self.last = last
        self.first_rows: list[tuple[np.ndarray, ...]] = []
        self.last_rows: list[tuple[np.ndarray, ...]] = []
        self.counts: dict[int, int] = {}

    def add(self, costs: np.ndarray, keys: np.ndarray, where: np.ndarray) -> None:
        if not costs.size:
            return
        values, n = np.unique(costs, return_counts=True)
        for v, c in zip(values.tolist(), n.tolist(), strict=True):
            self.counts[v] = self.counts.get(v, 0) + c
        self.first_rows.append(_ends(costs, keys, where, first=True))
        if self.last:
            self.last_rows.append(_ends(costs, keys, where, first=False))
        if len(self.first_rows) > 16:
            self.compact()

    def compact(self) -> None:
        if self.first_rows:
            self.first_rows = [_ends(*_joined(self.first_rows), first=True)]
        if self.last_rows:
            self.last_rows = [_ends(*_joined(self.last_rows), first=False)]

    def lists(self) -> tuple[_Places, _Places]:
        """Per cost value, its first places ascending and (outside) its last places ascending."""
        self.compact()
        return _Places(self.first_rows), _Places(self.last_rows)


class _Places:
    """Places by cost value, read from sorted rows only for the values the moves look at."""

    def __init__(self, rows: list[tuple[np.ndarray, ...]]) -> None:
        empty = (np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64))
        self.costs, self.keys, self.where = rows[0] if rows else empty
        self.changed: dict[int, list[Pos]] = {}

    def __getitem__(self, value: int) -> list[Pos]:
        if value not in self.changed:
            lo, hi = np.searchsorted(self.costs, [value, value + 1])
            self.changed[value] = list(
                zip(self.keys[lo:hi].tolist(), self.where[lo:hi].tolist(), strict=True)
            )
        return self.changed[value]


def _joined(rows: list[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    return [np.concatenate(column) for column in zip(*rows, strict=True)]


def _ends(costs: np.ndarray, keys: np.ndarray, where: np.ndarray, first: bool) -> tuple[np.ndarray, ...]:
    """Rows of the first (or last) `EXTREMES` places of each cost value, sorted by (cost, place)."""
    if not costs.size:
        return costs, keys, where
    order = np.lexsort((where, keys, costs))
    c, k, w = costs[order], keys[order], where[order]
    idx = np.arange(c.size)
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, c.size]))
    if first:
        keep = idx - run < EXTREMES
    else:
        ends = np.r_[starts[1:], c.size]
        keep = np.repeat(ends, np.diff(np.r_[starts, c.size])) - idx <= EXTREMES
    return c[keep], k[keep], w[keep]


def _improve(scan: Scan, work: dict[int, Cut], left: dict[int, float]) -> None:
    """Pass 4 and the improving moves of `plan._partial_epoch`, on each cost value's extremes."""
    todo = {gi: cut for gi, cut in work.items() if left[gi] != 0}
    if not todo:
        return
    inside = {gi: _Side(last=False) for gi in todo}
    outside = {gi: _Side(last=True) for gi in todo}
    for codes, costs, keys, where in scan():
        for gi, cut in todo.items():
            m = codes == gi
            if not m.any():
                continue
            c, k, w = costs[m], keys[m], where[m]
            t = cut.taken(k, w)
            inside[gi].add(c[t], k[t], w[t])
            outside[gi].add(c[~t], k[~t], w[~t])
    for gi, cut in todo.items():
        _moves(cut, inside[gi], outside[gi], -left[gi])


def _moves(cut: Cut, inside: _Side, outside: _Side, err: float) -> None:
    first_in, _ = inside.lists()
    first_out, last_out = outside.lists()
    n_in, n_out = dict(inside.counts), dict(outside.counts)
    for _ in range(SWAPS):
        if err == 0:
            break
        best: tuple[float, Pos, Pos] = (abs(err), NONE, NONE)
        value_of: dict[Pos, int] = {}
        v_in = np.array(sorted(v for v, c in n_in.items() if c > 0), dtype=np.int64)
        v_out = np.array(sorted(v for v, c in n_out.items() if c > 0), dtype=np.int64)
        if v_out.size:  # take one more: err + b
            d = np.abs(err + v_out.astype(np.float64))
            b, bp = _first(v_out, d, first_out)
            value_of[bp] = b
            best = min(best, (float(d.min()), NONE, bp))
        if v_in.size:  # leave one out: err - a
            d = np.abs(err - v_in.astype(np.float64))
            a, ap = _first(v_in, d, first_in)
            value_of[ap] = a
            best = min(best, (float(d.min()), ap, NONE))
        if v_in.size and v_out.size:  # swap: err - a + b, b the outside cost nearest a - err
            fo = v_out.astype(np.float64)
            pos = np.searchsorted(fo, v_in.astype(np.float64) - err, side="left")
            n = v_out.size
            for below in (False, True):
                # the element at pos of the outside sorted by (cost, place), or the one before it
                at = np.maximum(pos - 1, 0) if below else np.minimum(pos, n - 1)
                use_last = (pos >= 1) if below else (pos >= n)
                new = np.abs(err - v_in.astype(np.float64) + fo[at])
                m = float(new.min())
                ties = np.flatnonzero(new == m)
                a_pos = [first_in[int(v_in[t])][0] for t in ties]
                t = int(ties[min(range(len(ties)), key=a_pos.__getitem__)])
                b = int(v_out[at[t]])
                bp = last_out[b][-1] if use_last[t] else first_out[b][0]
                ap = first_in[int(v_in[t])][0]
                value_of[ap], value_of[bp] = int(v_in[t]), b
                best = min(best, (m, ap, bp))
        if best[0] >= abs(err) - 1e-9:
            break
        _, i, j = best
        if i != NONE:
            a = value_of[i]
            _move(i, a, (first_in, None), n_in, (first_out, last_out), n_out)
            _out(cut, i, a)
            err -= a
        if j != NONE:
            b = value_of[j]
            _move(j, b, (first_out, last_out), n_out, (first_in, None), n_in)
            _in(cut, j, b)
            err += b


def _first(values: np.ndarray, d: np.ndarray, first: _Places) -> tuple[int, Pos]:
    """Of the cost values nearest (least d), the one whose first place comes first, and that place."""
    ties = values[d == d.min()]
    return min(((int(v), first[int(v)][0]) for v in ties), key=lambda x: x[1])


def _move(pos: Pos, value: int, src: tuple, src_n: dict[int, int], dst: tuple, dst_n: dict[int, int]) -> None:
    """Take `pos` (of cost `value`) from one side's lists to the other's. A first-places list
    takes it if it holds every place of the value or `pos` comes before its last; a last-places
    list likewise from the other end."""
    for lst in src:
        if lst is not None and pos in lst[value]:
            lst[value].remove(pos)
    src_n[value] -= 1
    had = dst_n.get(value, 0)
    dst_n[value] = had + 1
    first, last = dst
    f = first[value]
    if len(f) >= had or (f and pos < f[-1]):
        f.append(pos)
        f.sort()
    if last is not None:
        tail = last[value]
        if len(tail) >= had or (tail and pos > tail[0]):
            tail.append(pos)
            tail.sort()


def _out(cut: Cut, pos: Pos, cost: int) -> None:
    if pos in cut.added:
        del cut.added[pos]
    else:
        cut.removed[pos] = cost
    cut.documents -= 1
    cut.tokens -= cost


def _in(cut: Cut, pos: Pos, cost: int) -> None:
    if pos in cut.removed:
        del cut.removed[pos]
    else:
        cut.added[pos] = cost
    cut.documents += 1
    cut.tokens += cost
