"""MinHash signatures for whole batches of documents.

Two schemes share one interface:

* ``oph``: one-permutation hashing with optimal densification (Shrivastava, ICML 2017).
  Each shingle hash is used once: its top bits choose one of ``num_perm`` bins, its low 32 bits are
  the value, and a bin keeps its minimum. Bins left empty (documents with few shingles) borrow the
  value of a non-empty bin chosen by a fixed pseudo-random probe sequence that depends only on the
  bin and the attempt, so two documents with the same non-empty bins borrow the same values. The
  probability that two signatures agree in a bin is the Jaccard similarity, as for classic MinHash,
  at a cost of O(shingles + num_perm) per document instead of O(shingles x num_perm).
* ``classic`` (default): ``num_perm`` independent hash functions and the minimum of each, the scheme of
  datasketch and datatrove, computed by rensa's ``RMinHash`` from our shingle hashes (its Rust
  kernel does the O(shingles x num_perm) work far faster than numpy can). For users who need
  independent hash functions, and for comparison.

Signatures are ``uint32`` matrices, one row per document; an empty document gets the all-ones row
and must be treated by callers as "no signature".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import rensa

EMPTY = np.uint32(0xFFFFFFFF)

Scheme = Literal["oph", "classic"]


class MinHasher:
    """Signatures of shingle-hash batches (see `dedup.shingles.shingle_hashes`)."""

    def __init__(self, num_perm: int = 256, seed: int = 1, scheme: Scheme = "classic") -> None:
        if num_perm < 1:
            raise ValueError("num_perm must be at least 1")
        if scheme not in ("oph", "classic"):
            raise ValueError(f"unknown MinHash scheme {scheme!r} (use 'oph' or 'classic')")
        self.num_perm = num_perm
        self.seed = seed
        self.scheme = scheme
        rng = np.random.default_rng(seed)
        if scheme == "classic":
            self._rensa = rensa.RMinHash
        else:
            # probe sequences for densification: bin j's t-th probe looks at bin probes[t, j]
            self._probes = rng.integers(0, num_perm, size=(64, num_perm), dtype=np.int64)
            self._probe_rng_seed = seed

    def signatures(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """One signature row per document of the batch."""
        n_docs = len(offsets) - 1
        if self.scheme == "classic":
            return self._classic(hashes, offsets, n_docs)
        return self._oph(hashes, offsets, n_docs)

    def _oph(self, hashes: np.ndarray, offsets: np.ndarray, n_docs: int) -> np.ndarray:
        p = self.num_perm
        sig = np.full(n_docs * p, EMPTY, dtype=np.uint32)
        if hashes.size:
            doc = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))
            # bin from the high 32 bits by multiply-shift (works for any num_perm), value from the low
            bins = ((hashes >> np.uint64(32)) * np.uint64(p)) >> np.uint64(32)
            values = (hashes & np.uint64(0xFFFFFFFE)).astype(np.uint32)  # never equals EMPTY
            np.minimum.at(sig, doc * p + bins.astype(np.int64), values)
        sig = sig.reshape(n_docs, p)
        self._densify(sig)
        return sig

    def _densify(self, sig: np.ndarray) -> None:
        empty = sig == EMPTY
        has_any = ~empty.all(axis=1)
        rows, cols = np.nonzero(empty & has_any[:, None])
        if rows.size == 0:
            return
        filled = np.zeros(rows.size, dtype=bool)
        attempt = 0
        rng = None
        while not filled.all():
            todo = np.flatnonzero(~filled)
            if attempt < len(self._probes):
                probe = self._probes[attempt, cols[todo]]
            else:  # rare long tails (documents with one or two shingles): keep probing, deterministically
                if rng is None:
                    rng = np.random.default_rng(self._probe_rng_seed + 1)
                extra = rng.integers(0, self.num_perm, size=(64, self.num_perm), dtype=np.int64)
                self._probes = np.concatenate([self._probes, extra])
                continue
            source = sig[rows[todo], probe]
            ok = ~empty[rows[todo], probe]
            hit = todo[ok]
            sig[rows[hit], cols[hit]] = source[ok]
            filled[hit] = True
            attempt += 1

    def _classic(self, hashes: np.ndarray, offsets: np.ndarray, n_docs: int) -> np.ndarray:
        if n_docs == 0:
            return np.zeros((0, self.num_perm), dtype=np.uint32)
        matrix = self._rensa.digest_matrix_from_flat_token_hashes(
            np.ascontiguousarray(hashes, dtype=np.uint64), offsets.astype(np.uint64), self.num_perm, self.seed
        )
        sig = np.array(matrix.to_rows(), dtype=np.uint32).reshape(n_docs, self.num_perm)
        sig &= np.uint32(0xFFFFFFFE)  # keep EMPTY free for documents without shingles
        sig[np.diff(offsets) == 0] = EMPTY
        return sig


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of signature positions where two documents agree (the MinHash Jaccard estimate)."""
    return float(np.count_nonzero(a == b)) / a.shape[-1]


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted, deduplicated shingle-hash sets."""
    if a.size == 0 and b.size == 0:
        return 1.0
    # both sides are sorted runs: a stable sort of their concatenation is a linear merge
    merged = np.sort(np.concatenate((a, b)), kind="stable")
    inter = int(np.count_nonzero(merged[1:] == merged[:-1]))
    return inter / (a.size + b.size - inter)
