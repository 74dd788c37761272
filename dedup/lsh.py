"""LSH banding: how many bands of how many rows, and the keys documents are bucketed by.

Two documents with Jaccard similarity ``s`` share at least one of ``b`` bands of ``r`` rows with
probability ``1 - (1 - s**r)**b``. The bands are chosen to minimise a weighted sum of the expected
false-positive area below the threshold and the false-negative area above it (the criterion
datasketch uses). With verification on, a false positive costs one extra comparison while a false
negative is a duplicate that is never found, so with verification on the recipe's bands lean
towards recall (weights 0.05 / 0.95; without verification 0.5 / 0.5 as datasketch).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dedup.config import DedupConfig
from dedup.shingles import mix64


def detection_probability(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that a pair with this Jaccard similarity becomes a candidate."""
    return 1.0 - (1.0 - np.power(similarity, rows)) ** bands


def _integrate(f, lo: float, hi: float, steps: int = 200) -> float:
    if hi <= lo:
        return 0.0
    xs = np.linspace(lo, hi, steps + 1)
    ys = f(xs)
    return float(np.sum((ys[1:] + ys[:-1]) * 0.5 * np.diff(xs)))


@lru_cache(maxsize=64)
def choose_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.3, fn_weight: float = 0.7
) -> tuple[int, int]:
    """The (bands, rows) with bands * rows <= num_perm that best separates pairs at `threshold`."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1 (got {threshold})")
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        for bands in range(1, num_perm // rows + 1):
            fp = _integrate(lambda s, b=bands, r=rows: detection_probability(s, b, r), 0.0, threshold)
            fn = _integrate(lambda s, b=bands, r=rows: 1.0 - detection_probability(s, b, r), threshold, 1.0)
            err = fp_weight * fp + fn_weight * fn
            if best is None or err < best[0] - 1e-12:
                best = (err, bands, rows)
    assert best is not None
    return best[1], best[2]


def detection_curve(
    bands: int, rows: int, points: tuple[float, ...] | None = None
) -> list[tuple[float, float]]:
    """(similarity, probability of becoming a candidate) at a few similarities, for printing."""
    points = points or (0.3, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
    return [(s, float(detection_probability(s, bands, rows))) for s in points]


def format_curve(bands: int, rows: int, threshold: float) -> str:
    """A one-screen table of the detection curve, marking the similarities above the threshold."""
    lines = [f"LSH {bands} bands x {rows} rows (S-curve midpoint ~{(1 / bands) ** (1 / rows):.3f})"]
    lines.append("  jaccard  P(candidate)")
    for s, p in detection_curve(bands, rows):
        mark = " *" if s >= threshold else ""
        lines.append(f"  {s:7.2f}  {p:12.4f}{mark}")
    return "\n".join(lines)


def band_keys(signatures: np.ndarray, bands: int, rows: int, salts: np.ndarray) -> np.ndarray:
    """A 64-bit key per document and band: equal keys mean an identical band (up to hash collisions).

    `salts` (one uint64 per document) keeps documents of different partitions (level, language)
    out of each other's buckets; the band index is mixed in so that bands never collide.
    """
    n = signatures.shape[0]
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    band_salt = (np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(0x632BE59BD9B4E019))[None, :]
    with np.errstate(over="ignore"):
        acc = mix64(salts.astype(np.uint64)[:, None] ^ band_salt)  # (documents, bands)
        for r in range(rows):
            acc = mix64(acc * np.uint64(0x9E3779B97F4A7C15) + sig[:, :, r])
    return np.ascontiguousarray(acc.T)


def bands_rows(config: DedupConfig) -> tuple[int, int]:
    """(bands, rows) in effect: the config's own, or the best split of its permutations."""
    if config.bands is not None and config.rows is not None:
        return config.bands, config.rows
    # verified candidates cost a comparison each, missed ones are lost: lean towards recall
    weights = (0.5, 0.5) if config.verify == "none" else (0.05, 0.95)
    return choose_bands(config.threshold, config.num_perm, *weights)
