"""The four dedup stages as datatrove pipeline steps.

1. `DedupSignatures` (one task per input shard): shingles, MinHash signatures, one LSH key per band,
   and the exact-content digest; keys are written per band unit (band x key-range shard), sorted.
2. `DedupBuckets` (tasks take band units round-robin): gathers one band unit from every signature
   task, finds equal keys, verifies candidate pairs and writes the verified pairs.
3. `DedupClusters` (`cluster_shards` tasks, one by default): connected components over the
   verified pairs, the keep-policy, the assignment of every clustered document to the id it
   duplicates, and the cluster report. With `cluster_rounds` > 0 the components come instead from
   rounds of parallel tasks and a labels stage (`dedup.rounds`), and this stage applies the
   keep-policy to the components hashed to each task.
4. `DedupFilter` (same tasks as stage 1, same input): passes kept documents on and records every
   dropped one with the id of the copy that was kept.

Each task writes its files atomically and datatrove's completion markers make a relaunch skip
finished tasks, so a killed run resumes where it stopped and produces the same bytes.

What one process holds. Signature, bucket and filter tasks hold their own share only (a task's
band keys, one band unit at a time, a task's assignments). Clustering is the exception: with
`cluster_shards` = 1 (the default) its single task holds every verified pair of the run (21
bytes each) and the id and keep fields of every clustered document, that is the whole duplicate
graph. With `cluster_shards` = N no task does: exact dedup runs as a pass of its own whose N
tasks each take the content digests hashed to them (copies share a digest, so a group never
spans two tasks), and the near pass's N tasks each take the partitions (level, language) hashed
to them (near-duplicates are only sought within a partition). The bound that remains is the
largest partition's graph, e.g. all near-duplicate Python files, in one task.

With `cluster_rounds` = R > 0 (and `cluster_shards` = N) no task holds a partition's graph either,
and exact and near dedup run as one pass. Each document ref belongs to task mix64(ref) % N. The
bucket tasks write each verified pair to the task of its larger end. In each of at most R component
rounds (N tasks) a task holds the current edges at the ends it owns (16 bytes an end; every edge
once or twice over all tasks) and writes the edges it derives to their ends' tasks. A star centre
(a component's smallest ref) thus holds its whole star in the last rounds: an edge per member of
its component, no more. A labels task holds the final edges at the ends it owns and the verified
pairs at their larger end, and sends both to the task of their component's smallest ref. A
keep-policy task then holds the components hashed to it: their pairs and members' keep fields.
Whole components meet only there; the keep-policy needs each one whole.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline

from corpus.core.story import StoryStep
from dedup.components import connected_components
from dedup.config import DedupConfig
from dedup.documents import exact_digests, keep_order, partition_of, partition_salt, priority_fields
from dedup.layout import (
    ASSIGN_SCHEMA,
    BAND_DTYPE,
    DOCS_SCHEMA,
    EDGE_DTYPE,
    WorkLayout,
    exists,
    intermediate_open,
    make_ref,
    read_array,
    read_json,
    read_table,
    ref_index,
    ref_rank,
    write_array,
    write_json,
    write_table,
)
from dedup.lsh import band_keys, detection_curve
from dedup.minhash import MinHasher
from dedup.rounds import node_shard, routed_components
from dedup.shingles import mix64, per_document_sets, shingle_hashes
from dedup.step_base import DedupStep
from dedup.verify import Similarity

HIST_BINS = 20


def _batches(docs: Iterable[Document], config: DedupConfig) -> Iterator[list[Document]]:
    """The documents in batches of `batch_documents`, or fewer once they reach `batch_bytes`
    characters: numpy passes over a batch that stays in the CPU cache run fastest."""
    batch: list[Document] = []
    chars = 0
    for doc in docs:
        batch.append(doc)
        chars += len(doc.text)
        if len(batch) >= config.batch_documents or chars >= config.batch_bytes:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def _utf8_size(texts: list[str]) -> int:
    """The texts' size in UTF-8; an ASCII text's length is its size, so only the rest are encoded."""
    return sum(len(t) if t.isascii() else len(t.encode("utf-8")) for t in texts)


def _sorted_band(key_parts: list[np.ndarray], ref_parts: list[np.ndarray]) -> np.ndarray:
    """One band unit's (key, ref) records sorted by key, then ref, as the bucket stage reads them."""
    keys = np.concatenate(key_parts) if key_parts else np.zeros(0, np.uint64)
    refs = np.concatenate(ref_parts) if ref_parts else np.zeros(0, np.uint64)
    rec = np.empty(keys.size, dtype=BAND_DTYPE)
    rec["key"], rec["ref"] = keys, refs
    return rec[np.lexsort((refs, keys))]


class _SignatureAccumulator:
    """What one signature task gathers batch by batch, and writes once its input is consumed.

    Signatures and shingle sets stream to their files as each batch is hashed (verification reads
    them back by document position). Band keys, partition salts and document rows are held until
    `write`: each band unit's file is sorted by key over the task's whole input.
    """

    def __init__(
        self,
        config: DedupConfig,
        bands: int,
        rows: int,
        units: int,
        rank: int,
        sig_f: IO[bytes],
        set_f: IO[bytes],
    ) -> None:
        self.config = config
        self.bands, self.rows = bands, rows
        self.rank = rank
        #: documents added so far: the next document's position in the task's input
        self.documents = 0
        self._sig_f, self._set_f = sig_f, set_f
        self._hasher = MinHasher(config.num_perm, config.seed, config.scheme)
        self._store_sets = config.near and config.verify == "exact"
        self._salts: dict[str, int] = {}
        self._set_offset = 0
        self._set_offsets = [np.zeros(1, dtype=np.int64)]
        self._salt_parts: list[np.ndarray] = [np.zeros(0, dtype=np.uint64)]
        self._band_parts: list[list[np.ndarray]] = [[] for _ in range(units)]
        self._ref_parts: list[list[np.ndarray]] = [[] for _ in range(units)]
        self._columns: dict[str, list] = {name: [] for name in DOCS_SCHEMA.names}

    def hash_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(MinHash signatures, shingle count per document) of a batch; both files get the batch's rows.

        The count is of distinct shingles where the sets are stored (exact verification), so that
        it matches what verification compares.
        """
        hashes, offsets = shingle_hashes(texts, self.config.ngram)
        sigs = self._hasher.signatures(hashes, offsets)
        self._sig_f.write(sigs.tobytes())
        shingle_counts = np.diff(offsets)
        if self._store_sets:
            sets, set_off = per_document_sets(hashes, offsets)
            shingle_counts = np.diff(set_off)
            self._set_f.write(sets.tobytes())
            self._set_offsets.append(set_off[1:] + self._set_offset)
            self._set_offset += int(set_off[-1])
        return sigs, shingle_counts

    def add(
        self, batch: list[Document], texts: list[str], sigs: np.ndarray | None, shingle_counts: np.ndarray
    ) -> None:
        """A hashed batch's LSH keys (near bands, then the exact band) and document rows.

        Documents without shingles get no near keys and whitespace-only ones no exact key: an
        empty signature or digest would put all of them in one bucket.
        """
        cfg = self.config
        refs = make_ref(self.rank, np.arange(self.documents, self.documents + len(batch)))
        self.documents += len(batch)
        digest_hi, digest_lo = exact_digests(texts)
        partitions = [partition_of(d, cfg) for d in batch]
        salts = np.array([self._salt(p) for p in partitions], dtype=np.uint64)
        self._salt_parts.append(salts)
        if cfg.near:
            has = shingle_counts > 0
            keys = band_keys(sigs[has], self.bands, self.rows, salts[has])
            for b in range(self.bands):
                self._add_keys(b, keys[b], refs[has])
        if cfg.exact:
            has_text = (digest_hi != 0) | (digest_lo != 0)
            self._add_keys(self.bands, mix64(digest_hi[has_text]), refs[has_text])
        self._add_rows(batch, partitions, shingle_counts, digest_hi, digest_lo)

    def write(self, layout: WorkLayout) -> None:
        """The held files: shingle-set offsets, partition salts, each band unit sorted, document rows."""
        write_array(layout.shingle_offsets(self.rank), np.concatenate(self._set_offsets))
        write_array(layout.partitions(self.rank), np.concatenate(self._salt_parts))
        for unit, (key_parts, ref_parts) in enumerate(zip(self._band_parts, self._ref_parts, strict=True)):
            write_array(layout.band(unit, self.rank), _sorted_band(key_parts, ref_parts))
        write_table(layout.docs(self.rank), pa.table(self._columns, schema=DOCS_SCHEMA))

    def _salt(self, partition: str) -> int:
        """The partition's salt, hashed once per partition name (a task sees only a few)."""
        salt = self._salts.get(partition)
        if salt is None:
            salt = self._salts[partition] = partition_salt(partition)
        return salt

    def _add_keys(self, band: int, keys: np.ndarray, refs: np.ndarray) -> None:
        """One band's keys, dealt to the band's units by key range (`key_shards` units a band)."""
        shards = self.config.key_shards
        if shards == 1:
            self._band_parts[band].append(keys)
            self._ref_parts[band].append(refs)
            return
        shard = (keys % np.uint64(shards)).astype(np.int64)
        for s in range(shards):
            sel = shard == s
            self._band_parts[band * shards + s].append(keys[sel])
            self._ref_parts[band * shards + s].append(refs[sel])

    def _add_rows(
        self,
        batch: list[Document],
        partitions: list[str],
        shingle_counts: np.ndarray,
        digest_hi: np.ndarray,
        digest_lo: np.ndarray,
    ) -> None:
        """A row per document with what later stages need without its text: keep fields, partition,
        shingle count and content digest."""
        columns = self._columns
        for doc, hi_, lo_, part, n_sh in zip(
            batch, digest_hi.tolist(), digest_lo.tolist(), partitions, shingle_counts, strict=True
        ):
            stars, created = priority_fields(doc, self.config)
            columns["id"].append(str(doc.id))
            columns["stars"].append(stars)
            columns["created"].append(created)
            columns["length"].append(len(doc.text))
            columns["partition"].append(part)
            columns["shingles"].append(int(n_sh))
            columns["digest_hi"].append(hi_)
            columns["digest_lo"].append(lo_)


class DedupSignatures(DedupStep):
    """Stage 1: per-task signatures and LSH keys; consumes its documents (yields nothing)."""

    name = "dedup signatures"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != self.signature_tasks:
            raise ValueError(
                f"signature stage runs with {world_size} tasks, configured for {self.signature_tasks}"
            )
        with (
            intermediate_open(self.layout.sigs(rank)) as sig_f,
            intermediate_open(self.layout.shingles(rank)) as set_f,
        ):
            task = _SignatureAccumulator(self.config, self.bands, self.rows, self.units, rank, sig_f, set_f)
            for batch in _batches(data or (), self.config):
                self._add_batch(task, batch)
        task.write(self.layout)
        if rank == 0:
            write_json(self.layout.params(), self.config.model_dump(mode="json"))
        return
        yield  # a generator that yields nothing: the stage ends here

    def _add_batch(self, task: _SignatureAccumulator, batch: list[Document]) -> None:
        """Hash one batch into the task's output; timing and statistics are recorded per batch."""
        texts = [d.text for d in batch]
        sigs, shingle_counts = None, np.zeros(len(batch), dtype=np.int64)
        if self.config.near:
            with self.track_time("shingles+signatures"):
                sigs, shingle_counts = task.hash_batch(texts)
        task.add(batch, texts, sigs, shingle_counts)
        self.stat_update("documents_in", value=len(batch))
        self.stat_update("bytes_in", value=_utf8_size(texts))
        if self.config.near:
            self.stat_update("no_shingles", value=int(np.count_nonzero(shingle_counts == 0)))


def _buckets(rec: np.ndarray) -> Iterator[list[int]]:
    """The buckets of a band unit sorted by key, then ref: every run of two or more equal keys, as
    its refs in ascending order. The bounds are found at once; each bucket is sliced when reached."""
    keys = rec["key"]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.append(starts[1:], keys.size)
    multi = ends - starts > 1
    refs = rec["ref"].tolist()
    return (refs[begin:end] for begin, end in zip(starts[multi].tolist(), ends[multi].tolist(), strict=True))


class _VerifiedPairs:
    """The pairs one bucket task accepts, the components they form so far, and its counts.

    A candidate already connected to a representative (through pairs accepted from other bands)
    needs no comparison and adds no edge, so the accepted pairs are kept in a union-find too.
    """

    def __init__(self, sim: Similarity, config: DedupConfig) -> None:
        self.config = config
        self.sim = sim
        self.pairs: dict[tuple[int, int], tuple[float, int]] = {}
        self.hist = np.zeros(HIST_BINS, dtype=np.int64)
        self.buckets = self.accepted = self.rejected = 0
        self._parent: dict[int, int] = {}

    def add_exact_bucket(self, members: list[int]) -> None:
        """Equal digest keys: each copy pairs with the first member of its full digest."""
        self.buckets += 1
        first_of: dict[int, int] = {}
        for m in members:
            lo = self.sim.digest_lo(m)
            if lo in first_of:
                self.pairs[(first_of[lo], m)] = (1.0, 1)
                self._parent[self._find(m)] = self._find(first_of[lo])
            else:
                first_of[lo] = m

    def add_near_bucket(self, members: list[int]) -> None:
        """Equal band keys: each member is compared with the bucket's representatives (distinct
        sub-clusters so far, at most `max_representatives`) until one is similar enough."""
        self.buckets += 1
        reps: list[int] = [members[0]]
        for m in members[1:]:
            if self._joins(m, reps):
                continue
            self.rejected += 1
            if len(reps) < self.config.max_representatives:
                reps.append(m)

    def edges(self) -> np.ndarray:
        """The accepted pairs as edge records, sorted by their ends."""
        edges = np.empty(len(self.pairs), dtype=EDGE_DTYPE)
        if self.pairs:
            items = sorted(self.pairs.items())
            edges["a"] = [k[0] for k, _ in items]
            edges["b"] = [k[1] for k, _ in items]
            edges["sim"] = [v[0] for _, v in items]
            edges["exact"] = [v[1] for _, v in items]
        return edges

    def report(self) -> dict:
        """The task's bucket report (the clusters stage adds them up for the run's report)."""
        return {
            "buckets": self.buckets,
            "compared": int(self.hist.sum()),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "similarity_histogram": self.hist.tolist(),
        }

    def _joins(self, m: int, reps: list[int]) -> bool:
        """Whether `m` joins a representative: already connected to it, or similar enough (the
        pair is then accepted). Every first comparison of a pair goes into the histogram."""
        cfg = self.config
        root_m = self._find(m)  # path compression below never changes a root
        for rep in reps:
            root_rep = self._find(rep)
            if root_rep == root_m:  # joined through earlier pairs: nothing to add
                return True
            s = self.sim.similarity(rep, m)
            key = (rep, m)
            if key not in self.pairs:
                self.hist[min(int(s * HIST_BINS), HIST_BINS - 1)] += 1
            if cfg.verify == "none" or s >= cfg.threshold:
                if key not in self.pairs:
                    self.accepted += 1
                    self.pairs[key] = (s, 0)
                    self._parent[root_m] = root_rep
                return True
        return False

    def _find(self, x: int) -> int:
        parent = self._parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent.get(x, x)
        return root


class DedupBuckets(DedupStep):
    """Stage 2: candidate pairs from equal band keys, verified; band units spread over the tasks."""

    name = "dedup buckets"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        sim = Similarity(self.layout, self.config)
        verified = _VerifiedPairs(sim, self.config)
        exact_units = set(range(self.bands * self.config.key_shards, self.units))
        for unit in range(rank, self.units, world_size):
            rec = self._band_unit(unit)
            if rec.size < 2:
                continue
            add = verified.add_exact_bucket if unit in exact_units else verified.add_near_bucket
            with self.track_time("verify"):
                for members in _buckets(rec):
                    add(members)
        self._write_edges(rank, verified.edges(), sim)
        report = verified.report()
        self.stat_update("buckets", value=report["buckets"])
        self.stat_update("pairs_verified", value=report["compared"])
        self.stat_update("pairs_accepted", value=report["accepted"])
        self.stat_update("pairs_rejected", value=report["rejected"])
        write_json(self.layout.bucket_report(rank), report)
        return
        yield

    def _band_unit(self, unit: int) -> np.ndarray:
        """One band unit from every signature task, by key, then ref: each bucket's members come out
        sorted, as one Python list slice."""
        parts = [read_array(self.layout.band(unit, r), BAND_DTYPE) for r in range(self.signature_tasks)]
        rec = np.concatenate(parts) if parts else np.zeros(0, BAND_DTYPE)
        if rec.size < 2:
            return rec
        return rec[np.lexsort((rec["ref"], rec["key"]))]

    def _write_edges(self, rank: int, edges: np.ndarray, sim: Similarity) -> None:
        """The accepted pairs, one file per clustering task that takes them."""
        cfg = self.config
        shards = cfg.cluster_shards
        if cfg.cluster_rounds:
            # component rounds: each pair goes to the task that holds its larger end (round 0 is a
            # small-star step, which looks at every edge from there)
            shard = node_shard(np.maximum(edges["a"], edges["b"]), shards)
        elif shards == 1:
            write_array(self.layout.edges(rank), edges)
            return
        else:
            # a near-only pass: both ends of a pair share a partition (level, language), which picks
            # the clustering task; an exact-only pass: both ends share a content digest, which does
            spread = sim.partition_salts(edges["a"]) if cfg.near else sim.digests_lo_of(edges["a"])
            shard = (spread % np.uint64(shards)).astype(np.int64)
        for c in range(shards):
            write_array(self.layout.edges(rank, c), edges[shard == c])


def _histogram(values: np.ndarray) -> list[int]:
    idx = np.minimum((values * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    return np.bincount(idx, minlength=HIST_BINS).tolist()


def _size_bucket(n: int) -> str:
    lo = 2
    while lo * 2 <= n:
        lo *= 2
    return str(lo) if lo == 2 else f"{lo}-{lo * 2 - 1}"


@dataclass
class _Members:
    """The clustered documents, one row per node: where each sits (signature task and position),
    the fields the keep-policy orders by, and the content digest; with the run's document counts
    (gathered while reading every task's table)."""

    rank: np.ndarray
    index: np.ndarray
    ids: list[str]
    stars: np.ndarray
    created: np.ndarray
    length: np.ndarray
    digest_hi: np.ndarray
    digest_lo: np.ndarray
    total_docs: int
    no_shingles: int


@dataclass
class _Clusters:
    """The keep-policy's choice, over node positions."""

    order: np.ndarray  #: positions grouped by component, each group's kept copy first
    group_start: np.ndarray  #: where each component's group starts in `order`
    group_sizes: np.ndarray
    kept: np.ndarray  #: for each node, the position of its component's kept copy
    cluster_size: np.ndarray  #: for each node, its component's size
    dropped: np.ndarray  #: for each node, whether it is dropped for the kept copy


def _keep_policy(root: np.ndarray, sort_keys: list[np.ndarray]) -> _Clusters:
    """Group the nodes by component (`root`) and keep in each the first by `sort_keys`."""
    order = np.lexsort([*reversed(sort_keys), root])
    sorted_root = root[order]
    first = np.concatenate(([True], sorted_root[1:] != sorted_root[:-1])) if order.size else np.zeros(0, bool)
    group_start = np.flatnonzero(first)
    group_sizes = np.diff(np.append(group_start, order.size))
    kept = np.empty(root.size, np.int64)
    cluster_size = np.empty(root.size, np.int64)
    kept[order] = np.repeat(order[group_start], group_sizes)
    cluster_size[order] = np.repeat(group_sizes, group_sizes)
    dropped = kept != np.arange(root.size)
    return _Clusters(order, group_start, group_sizes, kept, cluster_size, dropped)


def _verified_similarity(edges: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which pairs (a[i], b[i]) are verified pairs, either way round, and those pairs' similarity."""
    pair_dtype = np.dtype([("a", "<u8"), ("b", "<u8")])
    known = np.empty(edges.size, dtype=pair_dtype)
    known["a"] = np.minimum(edges["a"], edges["b"])
    known["b"] = np.maximum(edges["a"], edges["b"])
    order_e = np.argsort(known, order=["a", "b"])
    known = known[order_e]
    query = np.empty(a.size, dtype=pair_dtype)
    query["a"] = np.minimum(a, b)
    query["b"] = np.maximum(a, b)
    at = np.minimum(np.searchsorted(known, query), max(known.size - 1, 0))
    hit = known[at] == query
    return hit, edges["sim"][order_e[at[hit]]]


class DedupClusters(DedupStep):
    """Stage 3: components, keep-policy, per-document assignment and the cluster report.

    It holds only the verified pairs (two uint64 and a similarity each) and the keep fields of
    clustered documents, never texts or signatures; with `cluster_shards` > 1 each task holds
    only the pairs of its partitions (near pass) or of its content digests (exact pass); with
    `cluster_rounds` > 0 only the components whose smallest ref hashes to it, found by the rounds.
    """

    name = "dedup clusters"

    def __init__(
        self, root: str, config: DedupConfig, signature_tasks: int, bucket_tasks: int, prefix: str = "dedup"
    ):
        super().__init__(root, config, signature_tasks, prefix)
        self.bucket_tasks = bucket_tasks

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        if world_size != cfg.cluster_shards:
            raise ValueError(
                f"clusters stage runs with {world_size} tasks, configured for {cfg.cluster_shards}"
            )
        shard = self._shard = rank
        edges, nodes, root = self._graph(shard)
        members = self._members(nodes)
        clusters = _keep_policy(
            root, keep_order(cfg.keep, members.ids, members.stars, members.created, members.length)
        )
        similarity, exact = self._similarity_to_kept(edges, nodes, members, clusters)
        kept_ids = [members.ids[k] for k in clusters.kept]
        self._write_assignments(shard, members, kept_ids, similarity, exact, clusters.cluster_size)
        self.stat_update("clusters", value=int(clusters.group_start.size))
        self.stat_update("duplicates", value=int(clusters.dropped.sum()))
        write_json(
            self.layout.report(shard), self._report(edges, members, kept_ids, clusters, similarity, exact)
        )
        return
        yield

    def _graph(self, shard: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(verified pairs, their distinct ends sorted, each end's component as its smallest ref)."""
        if self.config.cluster_rounds:
            # the component rounds and the labels stage did the graph work: this task gets whole
            # components, those whose smallest ref hashes to it, with their verified pairs
            return routed_components(self.layout, self.config.cluster_shards, shard)
        parts = [
            read_array(self.layout.edges(r, shard), EDGE_DTYPE, mmap=False) for r in range(self.bucket_tasks)
        ]
        edges = np.concatenate(parts) if parts else np.zeros(0, EDGE_DTYPE)
        with self.track_time("components"):
            nodes, root = connected_components(edges["a"], edges["b"])
        return edges, nodes, root

    def _members(self, nodes: np.ndarray) -> _Members:
        """The documents' keep fields, read only for ranks and rows that appear in a cluster; every
        task's table is opened, for the run's document counts."""
        ranks = ref_rank(nodes)
        idx = ref_index(nodes)
        ids: list[str] = [""] * nodes.size
        stars = np.zeros(nodes.size, np.int64)
        created = np.zeros(nodes.size, np.int64)
        length = np.zeros(nodes.size, np.int64)
        digest_lo = np.zeros(nodes.size, np.uint64)
        digest_hi = np.zeros(nodes.size, np.uint64)
        total_docs = no_shingles = 0
        for r in range(self.signature_tasks):
            table = read_table(self.layout.docs(r))
            total_docs += table.num_rows
            if self.config.near:
                no_shingles += int(np.count_nonzero(table.column("shingles").to_numpy() == 0))
            sel = np.flatnonzero(ranks == r)
            if sel.size == 0:
                continue
            sub = table.take(pa.array(idx[sel]))
            for j, value in zip(sel, sub.column("id").to_pylist(), strict=True):
                ids[j] = value
            stars[sel] = sub.column("stars").to_numpy()
            created[sel] = sub.column("created").to_numpy()
            length[sel] = sub.column("length").to_numpy()
            digest_lo[sel] = sub.column("digest_lo").to_numpy()
            digest_hi[sel] = sub.column("digest_hi").to_numpy()
        return _Members(
            ranks, idx, ids, stars, created, length, digest_hi, digest_lo, total_docs, no_shingles
        )

    def _similarity_to_kept(
        self, edges: np.ndarray, nodes: np.ndarray, members: _Members, clusters: _Clusters
    ) -> tuple[np.ndarray, np.ndarray]:
        """(similarity, exact) of each node to its kept copy: exact where their digests match (and
        the text is not empty); otherwise the verified similarity where they form a verified pair,
        else the signature estimate (a dropped copy may reach the kept one through a chain)."""
        kept = clusters.kept
        similarity = np.ones(nodes.size, np.float32)
        exact = np.zeros(nodes.size, bool)
        with self.track_time("similarity to kept"):
            dropped_pos = np.flatnonzero(clusters.dropped)
            kept_pos = kept[dropped_pos]
            hi, lo = members.digest_hi, members.digest_lo
            exact[dropped_pos] = (
                (hi[dropped_pos] == hi[kept_pos])
                & (lo[dropped_pos] == lo[kept_pos])
                & ((hi[dropped_pos] != 0) | (lo[dropped_pos] != 0))
            )
            near = dropped_pos[~exact[dropped_pos]]
            if self.config.near and near.size:
                sim = Similarity(self.layout, self.config)
                similarity[near] = sim.estimated_many(nodes[near], nodes[kept[near]])
                # where the kept copy is a verified partner, report the verified similarity
                hit, verified = _verified_similarity(edges, nodes[near], nodes[kept[near]])
                similarity[near[hit]] = verified
        return similarity, exact

    def _write_assignments(
        self,
        shard: int,
        members: _Members,
        kept_ids: list[str],
        similarity: np.ndarray,
        exact: np.ndarray,
        cluster_size: np.ndarray,
    ) -> None:
        """Per signature task, its clustered documents: position, id, the id kept in their cluster,
        similarity to it, exact or not, cluster size (the filter stage reads these)."""
        for r in range(self.signature_tasks):
            sel = np.flatnonzero(members.rank == r)
            table = pa.table(
                {
                    "index": members.index[sel],
                    "id": [members.ids[j] for j in sel],
                    "kept_id": [kept_ids[j] for j in sel],
                    "similarity": similarity[sel],
                    "exact": exact[sel],
                    "cluster_size": cluster_size[sel],
                },
                schema=ASSIGN_SCHEMA,
            )
            write_table(self.layout.assign(r, shard), table)

    def _candidate_totals(self) -> tuple[np.ndarray, int, int, int]:
        """(similarity histogram, compared, accepted, rejected) summed over the bucket reports.

        Whole-run figures (candidates, document counts) are reported by shard 0 only, so that
        shard reports add up (see dedup.report.merge_reports).
        """
        hist = np.zeros(HIST_BINS, np.int64)
        compared = accepted = rejected = 0
        for r in range(self.bucket_tasks) if self._shard == 0 else ():
            path = self.layout.bucket_report(r)
            if exists(path):
                rep = read_json(path)
                hist += np.array(rep["similarity_histogram"], dtype=np.int64)
                compared += rep["compared"]
                accepted += rep["accepted"]
                rejected += rep["rejected"]
        return hist, compared, accepted, rejected

    def _report(
        self,
        edges: np.ndarray,
        members: _Members,
        kept_ids: list[str],
        clusters: _Clusters,
        similarity: np.ndarray,
        exact: np.ndarray,
    ) -> dict:
        cfg = self.config
        ids, dropped = members.ids, clusters.dropped
        group_sizes, order, group_start = clusters.group_sizes, clusters.order, clusters.group_start
        bucket_hist, compared, accepted, rejected = self._candidate_totals()
        whole_run = self._shard == 0
        sizes = Counter(_size_bucket(int(n)) for n in group_sizes)
        largest = np.argsort(-group_sizes, kind="stable")[:10]
        near_drop = np.flatnonzero(dropped & ~exact)
        # examples: the dropped near-duplicates closest to the threshold first (the interesting ones)
        example_idx = near_drop[np.argsort(similarity[near_drop], kind="stable")][: cfg.report_examples]
        return {
            "params": {
                **cfg.model_dump(mode="json"),
                "bands_in_effect": self.bands,
                "rows_in_effect": self.rows,
                "detection_curve": [[s, round(p, 6)] for s, p in detection_curve(self.bands, self.rows)]
                if cfg.near
                else [],
            },
            "documents": members.total_docs if whole_run else 0,
            "documents_without_shingles": members.no_shingles if whole_run else 0,
            "clusters": int(group_sizes.size),
            "clustered_documents": int(group_sizes.sum()),
            "duplicates": int(dropped.sum()),
            "exact_duplicates": int((dropped & exact).sum()),
            "near_duplicates": int((dropped & ~exact).sum()),
            "cluster_sizes": dict(sorted(sizes.items(), key=lambda kv: int(kv[0].split("-")[0]))),
            "largest_clusters": [
                {"kept_id": ids[order[group_start[g]]], "size": int(group_sizes[g])} for g in largest
            ],
            "examples": [
                {"id": ids[j], "kept_id": kept_ids[j], "similarity": round(float(similarity[j]), 4)}
                for j in example_idx
            ],
            "histogram_bins": [round(i / HIST_BINS, 3) for i in range(HIST_BINS + 1)],
            "candidate_similarity_histogram": bucket_hist.tolist(),
            "kept_similarity_histogram": _histogram(similarity[near_drop]),
            "candidates_compared": compared,
            "candidates_accepted": accepted,
            "candidates_rejected": rejected,
            "verified_pairs": int(edges.size),
        }


class DedupFilter(StoryStep):
    """Stage 4: re-reads the signature stage's input and drops every clustered non-kept document."""

    name = "dedup"

    def __init__(self, root: str, config: DedupConfig, signature_tasks: int, prefix: str = "dedup") -> None:
        super().__init__()
        self.config = config
        self.layout = WorkLayout(root, prefix)
        self.signature_tasks = signature_tasks

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if world_size != self.signature_tasks:
            raise ValueError(
                f"filter stage runs with {world_size} tasks, signatures used {self.signature_tasks}"
            )
        table = pa.concat_tables(
            [read_table(self.layout.assign(rank, c)) for c in range(self.config.cluster_shards)]
        )
        assign = {
            int(i): (doc_id, kept, float(s), bool(e), int(n))
            for i, doc_id, kept, s, e, n in zip(
                *(table.column(c).to_pylist() for c in ASSIGN_SCHEMA.names), strict=True
            )
        }
        position = -1
        for position, doc in enumerate(data or ()):
            entry = assign.get(position)
            if entry is None:
                yield doc
                continue
            doc_id, kept, sim, exact, size = entry
            if doc_id != str(doc.id):
                raise ValueError(
                    f"document {position} of task {rank} is {doc.id!r} but the signatures saw {doc_id!r}: "
                    "the input changed since the signature stage; delete the dedup folders and re-run"
                )
            if kept == doc_id:
                doc.metadata["duplicates"] = size - 1
                yield doc
                continue
            reason = "exact_duplicate" if exact else "near_duplicate"
            # the bytes of json.dumps({...}, sort_keys=True), without building a dict per document
            detail = f'{{"duplicate_of": {json.dumps(kept)}, "jaccard": {round(sim, 4)!r}}}'
            self.drop(doc_id, reason, detail)
        self.stat_update("documents_in", value=position + 1)
