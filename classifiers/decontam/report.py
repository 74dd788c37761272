"""How much decontamination removed, and which n-grams removed it.

Real contamination is rare: a corpus of permissively licensed code and web text shares only a small
fraction of its bytes with a few hundred benchmark problems. When a stage removes a large share, the
cause is almost always an n-gram that is common in ordinary code, and the only way to see that is to
look at which n-grams did the removing. So each task of a decontamination stage writes
`decontamination/<rank>.json` beside its data: the bytes it scanned, the bytes it removed and, per
matched n-gram, how many documents or files it removed and how many bytes. `removed_share` sums the
ranks (a resumed task rewrites its own file, so the sum is the whole stage) and `removal_warning`
words the alarm the build summary shows when the share is implausible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from corpus.core.atomic import atomic_open, split_url

SIDE_FOLDER = "decontamination"


@dataclass
class NgramRemoval:
    """What one matched n-gram (or exact string) removed."""

    ngram: str
    benchmark: str
    item_id: str
    rule: str
    removals: int = 0  # documents dropped plus files cut out of repository samples
    bytes: int = 0


@dataclass
class Removals:
    """One task's (or, summed, one stage's) account of what decontamination removed."""

    bytes_scanned: int = 0
    bytes_removed: int = 0
    ngrams: dict[str, NgramRemoval] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.bytes_removed / self.bytes_scanned if self.bytes_scanned else 0.0

    def add(self, ngram: str, benchmark: str, item_id: str, rule: str, removed_bytes: int) -> None:
        entry = self.ngrams.get(ngram)
        if entry is None:
            entry = self.ngrams[ngram] = NgramRemoval(ngram, benchmark, item_id, rule)
        entry.removals += 1
        entry.bytes += removed_bytes
        self.bytes_removed += removed_bytes

    def merge(self, other: Removals) -> None:
        self.bytes_scanned += other.bytes_scanned
        self.bytes_removed += other.bytes_removed
        for key, hit in other.ngrams.items():
            entry = self.ngrams.get(key)
            if entry is None:
                self.ngrams[key] = NgramRemoval(**hit.__dict__)
            else:
                entry.removals += hit.removals
                entry.bytes += hit.bytes

    def top(self, k: int = 10) -> list[NgramRemoval]:
        """The n-grams that removed the most bytes first."""
        return sorted(self.ngrams.values(), key=lambda h: (-h.bytes, -h.removals, h.ngram))[:k]

    def to_json(self) -> str:
        return json.dumps(
            {
                "bytes_scanned": self.bytes_scanned,
                "bytes_removed": self.bytes_removed,
                "ngrams": [h.__dict__ for h in self.top(len(self.ngrams))],
            },
            ensure_ascii=False,
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Removals:
        data = json.loads(text)
        hits = [NgramRemoval(**h) for h in data.get("ngrams", [])]
        return cls(int(data["bytes_scanned"]), int(data["bytes_removed"]), {h.ngram: h for h in hits})


def side_file(stage_folder: str, rank: int) -> str:
    return f"{stage_folder.rstrip('/')}/{SIDE_FOLDER}/{rank:05d}.json"


def write_removals(stage_folder: str, rank: int, removals: Removals) -> None:
    with atomic_open(side_file(stage_folder, rank), "w", encoding="utf-8") as f:
        f.write(removals.to_json())


def read_removals(stage_folder: str) -> Removals:
    """The stage's removals summed over its tasks; empty when the stage has not run."""
    fs, root = split_url(f"{stage_folder.rstrip('/')}/{SIDE_FOLDER}")
    total = Removals()
    if not fs.exists(root):
        return total
    for path in sorted(fs.glob(f"{root}/*.json")):
        with fs.open(path, "r", encoding="utf-8") as f:
            total.merge(Removals.from_json(f.read()))
    return total


def removed_share(stage_folder: str, top: int = 10) -> tuple[float, list[NgramRemoval]]:
    """The share of the scanned bytes a decontamination stage removed, and the n-grams that removed
    the most."""
    removals = read_removals(stage_folder)
    return removals.share, removals.top(top)


def describe(hits: Iterable[NgramRemoval]) -> list[str]:
    return [
        f"{h.bytes:,} bytes, {h.removals} removal(s): {h.benchmark} {h.item_id} {h.rule}: {h.ngram}"
        for h in hits
    ]


def removal_warning(stage_folder: str, warn_share: float, top: int = 5) -> str | None:
    """A warning when the stage removed more than `warn_share` of its bytes (None otherwise),
    naming the n-grams responsible so the reader can tell real contamination from a common
    phrase."""
    removals = read_removals(stage_folder)
    if removals.share <= warn_share:
        return None
    lines = [
        f"decontamination removed {removals.share:.1%} of the bytes ({removals.bytes_removed:,} of "
        f"{removals.bytes_scanned:,}), more than warn_share {warn_share:.1%}: check the n-grams below "
        "before trusting the corpus (raise decontam.min_distinct if they are ordinary code)",
        *(f"  {line}" for line in describe(removals.top(top))),
    ]
    return "\n".join(lines)
