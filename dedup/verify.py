"""Similarity of two documents referenced by (rank, position), read lazily from the signature stage.

Buckets and clusters touch only the documents that collided, so the per-rank signature and
shingle files are memory-mapped and read row by row; nothing proportional to the corpus is loaded.
"""

from __future__ import annotations

import numpy as np

from dedup.config import DedupConfig
from dedup.layout import WorkLayout, read_array, read_table, ref_index, ref_rank
from dedup.minhash import estimated_jaccard, exact_jaccard

_INDEX_MASK = (1 << 40) - 1  # see dedup.layout: rank in the high bits, position in the low 40


class Similarity:
    def __init__(self, layout: WorkLayout, config: DedupConfig) -> None:
        self.layout = layout
        self.config = config
        self._sigs: dict[int, np.ndarray] = {}
        self._shingles: dict[int, tuple[np.ndarray, list[int]]] = {}
        self._digests: dict[int, list[int]] = {}
        self._salts: dict[int, np.ndarray] = {}
        self._cache: dict[tuple[int, int], float] = {}
        self.compared = 0

    def _sig(self, ref: int) -> np.ndarray:
        rank, index = ref >> 40, ref & _INDEX_MASK
        rows = self._sigs.get(rank)
        if rows is None:
            mapped = read_array(self.layout.sigs(rank), np.uint32).reshape(-1, self.config.num_perm)
            rows = self._sigs[rank] = np.asarray(mapped)  # plain ndarray view: cheap slicing
        return rows[index]

    def _set(self, ref: int) -> np.ndarray:
        rank, index = ref >> 40, ref & _INDEX_MASK
        stored = self._shingles.get(rank)
        if stored is None:
            values = np.asarray(read_array(self.layout.shingles(rank), np.uint64))
            offsets = read_array(self.layout.shingle_offsets(rank), np.int64, mmap=False).tolist()
            stored = self._shingles[rank] = (values, offsets)
        values, offsets = stored
        return values[offsets[index] : offsets[index + 1]]

    def digest_lo(self, ref: int) -> int:
        rank, index = ref >> 40, ref & _INDEX_MASK
        if rank not in self._digests:
            col = read_table(self.layout.docs(rank), ["digest_lo"]).column("digest_lo")
            self._digests[rank] = col.to_numpy().tolist()
        return self._digests[rank][index]

    def digests_lo_of(self, refs: np.ndarray) -> np.ndarray:
        """The low 64 bits of the exact-content digest of each referenced document."""
        out = np.zeros(refs.size, dtype=np.uint64)
        ranks, index = ref_rank(refs), ref_index(refs)
        for rank in np.unique(ranks):
            sel = np.flatnonzero(ranks == rank)
            self.digest_lo(int(rank) << 40)  # reads the rank's column once
            out[sel] = np.asarray(self._digests[int(rank)], dtype=np.uint64)[index[sel]]
        return out

    def estimated(self, a: int, b: int) -> float:
        return estimated_jaccard(self._sig(a), self._sig(b))

    def signatures_of(self, refs: np.ndarray) -> np.ndarray:
        """Signature rows of many documents, read rank by rank (memory-mapped: only those rows)."""
        out = np.empty((refs.size, self.config.num_perm), dtype=np.uint32)
        ranks, index = ref_rank(refs), ref_index(refs)
        for rank in np.unique(ranks):
            sel = np.flatnonzero(ranks == rank)
            self._sig(int(rank) << 40)  # opens the rank's file
            rows = index[sel]
            order = np.argsort(rows, kind="stable")  # sequential reads from the mapped file
            out[sel[order]] = self._sigs[int(rank)][rows[order]]
        return out

    def partition_salts(self, refs: np.ndarray) -> np.ndarray:
        """The partition salt (level, language) of each referenced document."""
        out = np.zeros(refs.size, dtype=np.uint64)
        ranks, index = ref_rank(refs), ref_index(refs)
        for rank in np.unique(ranks):
            rank = int(rank)
            if rank not in self._salts:
                self._salts[rank] = np.asarray(read_array(self.layout.partitions(rank), np.uint64))
            sel = np.flatnonzero(ranks == rank)
            out[sel] = self._salts[rank][index[sel]]
        return out

    def estimated_many(self, a: np.ndarray, b: np.ndarray, chunk: int = 65_536) -> np.ndarray:
        """Signature-estimated Jaccard of pairs (a[i], b[i]), vectorised in bounded chunks.

        The clusters stage reports each dropped document's similarity to the copy it was
        deduplicated against (possibly through a chain of pairs); one estimate per dropped
        document keeps that step linear in numpy rather than a Python loop over set intersections.
        """
        out = np.empty(a.size, dtype=np.float32)
        for s in range(0, a.size, chunk):
            sa = self.signatures_of(a[s : s + chunk])
            sb = self.signatures_of(b[s : s + chunk])
            out[s : s + chunk] = np.count_nonzero(sa == sb, axis=1) / self.config.num_perm
        return out

    def similarity(self, a: int, b: int) -> float:
        """Jaccard similarity as the recipe verifies it: exact on shingle sets, or estimated."""
        key = (a, b) if a < b else (b, a)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        self.compared += 1
        if self.config.verify == "exact":
            sim = exact_jaccard(self._set(a), self._set(b))
        else:
            sim = self.estimated(a, b)
        if len(self._cache) > 5_000_000:
            self._cache.clear()
        self._cache[key] = sim
        return sim
