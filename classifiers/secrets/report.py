"""What a secrets stage changed: per task, counts by kind, and one record per redaction.

Each task writes, beside its stage's data:

- `redactions/<rank>.parquet`: one row per replaced span — the document (or, inside a repository
  sample, the file) id, kind, detector, placeholder and `[start, end)` character offsets in that
  text as the stage received it. Never the value: the story of a redaction must not be a copy of
  the secret;
- `secrets/<rank>.json`: documents and bytes scanned, documents changed, counts per kind and per
  drop reason. `credential_share` sums the ranks; `secrets_warning` words the alarm the build
  prints when the share is implausible (a detector gone wrong on some common code pattern, which
  the counts per detector point at).

Dropped key files are ordinary story drops (`drops/<step>/`) with the kind as reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.core.atomic import atomic_open, split_url

REDACTIONS_FOLDER = "redactions"
COUNTS_FOLDER = "secrets"

REDACTION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("document", pa.string()),
        ("kind", pa.string()),
        ("detector", pa.string()),
        ("placeholder", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
    ]
)


@dataclass
class Redaction:
    id: str
    document: str
    kind: str
    detector: str
    placeholder: str
    start: int
    end: int


@dataclass
class SecretCounts:
    documents: int = 0
    bytes_scanned: int = 0
    #: documents that held a credential (redacted or dropped); personal data alone does not count
    with_credentials: int = 0
    #: documents changed in any way (a credential or personal data redacted)
    redacted_documents: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    detectors: Counter[str] = field(default_factory=Counter)

    @property
    def share(self) -> float:
        return self.with_credentials / self.documents if self.documents else 0.0

    def merge(self, other: SecretCounts) -> None:
        self.documents += other.documents
        self.bytes_scanned += other.bytes_scanned
        self.with_credentials += other.with_credentials
        self.redacted_documents += other.redacted_documents
        self.dropped.update(other.dropped)
        self.kinds.update(other.kinds)
        self.detectors.update(other.detectors)

    def to_json(self) -> str:
        data = {
            "documents": self.documents,
            "bytes_scanned": self.bytes_scanned,
            "with_credentials": self.with_credentials,
            "redacted_documents": self.redacted_documents,
            "dropped": dict(sorted(self.dropped.items())),
            "kinds": dict(sorted(self.kinds.items())),
            "detectors": dict(sorted(self.detectors.items())),
        }
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> SecretCounts:
        d = json.loads(text)
        return cls(
            d["documents"],
            d["bytes_scanned"],
            d["with_credentials"],
            d["redacted_documents"],
            Counter(d["dropped"]),
            Counter(d["kinds"]),
            Counter(d["detectors"]),
        )


def write_task_report(stage_folder: str, rank: int, counts: SecretCounts, rows: list[Redaction]) -> None:
    root = stage_folder.rstrip("/")
    with atomic_open(f"{root}/{COUNTS_FOLDER}/{rank:05d}.json", "w", encoding="utf-8") as f:
        f.write(counts.to_json())
    table = pa.Table.from_pylist([r.__dict__ for r in rows], schema=REDACTION_SCHEMA)
    with atomic_open(f"{root}/{REDACTIONS_FOLDER}/{rank:05d}.parquet", "wb") as f:
        pq.write_table(table, f, compression="zstd")


def read_counts(stage_folder: str) -> SecretCounts:
    """The stage's counts summed over its tasks; empty when it has not run."""
    fs, root = split_url(f"{stage_folder.rstrip('/')}/{COUNTS_FOLDER}")
    total = SecretCounts()
    if fs.exists(root):
        for path in sorted(fs.glob(f"{root}/*.json")):
            with fs.open(path, "r", encoding="utf-8") as f:
                total.merge(SecretCounts.from_json(f.read()))
    return total


def secrets_warning(stage_folder: str, label: str, warn_share: float) -> str | None:
    """A warning when more than `warn_share` of the stage's documents held a credential."""
    counts = read_counts(stage_folder)
    if counts.share <= warn_share:
        return None
    top = ", ".join(f"{d} {n:,}" for d, n in counts.detectors.most_common(5))
    return (
        f"{label}: {counts.share:.1%} of the documents held a credential ({counts.with_credentials:,} of "
        f"{counts.documents:,}), more than secrets.warn_share {warn_share:.1%}: a detector may be firing on "
        f"ordinary code; check the redactions/ records of the busiest detectors ({top})"
    )
