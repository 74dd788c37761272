"""What the dedup stages need to know about a document besides its text.

Partition: documents are compared only within one level (repository sample, file, web page,
plain document) and, by default, one language, as the paper deduplicates repository samples of
Python/Java/C#/C/C++ separately from files of other languages. Exact duplicates are found across
partitions and sources. Priority: the fields the keep-policy orders a cluster by.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import numpy as np
from datatrove.data import Document

from dedup.config import DedupConfig

MISSING_DATE = -(1 << 40)


def level_of(doc: Document, config: DedupConfig) -> str:
    meta = doc.metadata
    explicit = meta.get("dedup_level")
    if explicit:
        return str(explicit)
    source = meta.get("source")
    if source == "commoncrawl":
        return "page"
    if source == "github":
        return "repository" if meta.get("language") in config.repository_languages else "file"
    return "document"


def partition_of(doc: Document, config: DedupConfig) -> str:
    level = level_of(doc, config)
    language = doc.metadata.get("language")
    return f"{level}|{language}" if config.per_language and language else level


def partition_salt(partition: str) -> int:
    return int.from_bytes(hashlib.blake2b(partition.encode("utf-8"), digest_size=8).digest(), "little")


def _digest_words(data: bytes | memoryview) -> tuple[int, int]:
    d = hashlib.blake2b(data, digest_size=16).digest()
    return int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little")


def _ascii_space(buf: np.ndarray) -> np.ndarray:
    """`str.split()`'s whitespace among ASCII bytes: 9-13 (tab to carriage return) and 28-32
    (the four separators and space); two range tests by unsigned wrap-around, no table lookup."""
    return (buf - np.uint8(9) <= 4) | (buf - np.uint8(28) <= 4)


def exact_digests(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """128-bit digests (hi, lo) of each text with whitespace runs collapsed to one space and the
    ends stripped; case and punctuation kept. A text of only whitespace gets (0, 0).

    The digest is blake2b of `" ".join(text.split())`. Building that string costs one Python
    object per word, so ASCII texts (`str.isascii` is free) are normalised for a whole batch in a
    few numpy passes over their joined bytes instead; the rest take the string route. Both give
    the same bytes, hence the same digest.
    """
    hi = np.zeros(len(texts), dtype=np.uint64)
    lo = np.zeros(len(texts), dtype=np.uint64)
    ascii_rows: list[int] = []
    for i, text in enumerate(texts):
        if text.isascii():
            ascii_rows.append(i)
            continue
        normalised = " ".join(text.split())
        if normalised:
            hi[i], lo[i] = _digest_words(normalised.encode("utf-8", "replace"))
    if not ascii_rows:
        return hi, lo
    encoded = [texts[i].encode("ascii") for i in ascii_rows]
    # texts joined and closed by one space, which is whitespace: no word runs across two texts
    encoded.append(b"")
    buf = np.frombuffer(b" ".join(encoded), dtype=np.uint8)
    encoded.pop()
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    space = _ascii_space(buf)
    # keep every non-space byte and the first byte of each space run, written as b" "
    keep = np.empty(buf.size, dtype=bool)
    keep[0] = True
    np.logical_not(space[1:] & space[:-1], out=keep[1:])
    # whitespace bytes become b" " (x ^ (x ^ 32) = 32; a select with a scalar is ~10x slower)
    out = (buf ^ (space.view(np.uint8) * (buf ^ np.uint8(32))))[keep]
    # kept bytes per text and per following separator, so text i spans [begin[i], end[i]) of `out`
    starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    counts = np.empty(2 * len(encoded), dtype=np.int64)
    counts[0::2] = [
        np.count_nonzero(keep[a : a + n]) for a, n in zip(starts.tolist(), lengths.tolist(), strict=True)
    ]
    counts[1::2] = keep[starts + lengths]  # the separator after each text (the last is the closing one)
    ends = np.cumsum(counts)
    begin, end = ends[0::2] - counts[0::2], ends[0::2]
    # runs are collapsed already, so stripping takes at most one space off each end
    last = max(out.size - 1, 0)
    begin += (end > begin) & (out[np.minimum(begin, last)] == 32)
    end -= (end > begin) & (out[np.maximum(np.minimum(end - 1, last), 0)] == 32)
    view = memoryview(out)
    has_text = end > begin
    rows = np.asarray(ascii_rows)[has_text].tolist()
    for row, a, b in zip(rows, begin[has_text].tolist(), end[has_text].tolist(), strict=True):
        hi[row], lo[row] = _digest_words(view[a:b])
    return hi, lo


def _days(value: Any) -> int:
    """Days since 1970 of a date, datetime, ISO string or epoch number; missing sorts as oldest."""
    if value is None or value == "":
        return MISSING_DATE
    if isinstance(value, datetime):
        return (value.date() - date(1970, 1, 1)).days
    if isinstance(value, date):
        return (value - date(1970, 1, 1)).days
    if isinstance(value, int | float):
        return int(value // 86400) if value > 10**6 else int(value)
    try:
        return (date.fromisoformat(str(value)[:10]) - date(1970, 1, 1)).days
    except ValueError:
        return MISSING_DATE


def _stars(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def priority_fields(doc: Document, config: DedupConfig) -> tuple[int, int]:
    meta = doc.metadata
    return _stars(meta.get(config.stars_key)), _days(meta.get(config.created_key))


def keep_order(
    keys: list[str], ids: list[str], stars: np.ndarray, created: np.ndarray, length: np.ndarray
) -> list[np.ndarray]:
    """Sort keys (most significant first) whose ascending order puts the copy to keep first."""
    id_rank = np.empty(len(ids), dtype=np.int64)
    id_rank[np.argsort(np.array(ids, dtype=object), kind="stable")] = np.arange(len(ids))
    table = {
        "most_stars": -stars,
        "fewest_stars": stars,
        "newest": -created,
        "oldest": created,
        "lowest_id": id_rank,
        "longest": -length,
        "shortest": length,
    }
    out = [table[k] for k in keys]
    if "lowest_id" not in keys:
        out.append(id_rank)  # always a total order, so the choice never depends on input order
    return out
