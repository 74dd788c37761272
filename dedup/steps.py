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
from collections.abc import Iterator

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


class DedupSignatures(DedupStep):
    """Stage 1: per-task signatures and LSH keys; consumes its documents (yields nothing)."""

    name = "dedup signatures"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        if world_size != self.signature_tasks:
            raise ValueError(
                f"signature stage runs with {world_size} tasks, configured for {self.signature_tasks}"
            )
        hasher = MinHasher(cfg.num_perm, cfg.seed, cfg.scheme)
        salts_cache: dict[str, int] = {}

        def salt_of(partition: str) -> int:
            salt = salts_cache.get(partition)
            if salt is None:
                salt = salts_cache[partition] = partition_salt(partition)
            return salt

        store_sets = cfg.near and cfg.verify == "exact"
        columns: dict[str, list] = {name: [] for name in DOCS_SCHEMA.names}
        band_parts: list[list[np.ndarray]] = [[] for _ in range(self.units)]
        ref_parts: list[list[np.ndarray]] = [[] for _ in range(self.units)]
        set_offset = 0
        set_offsets = [np.zeros(1, dtype=np.int64)]
        salt_parts: list[np.ndarray] = [np.zeros(0, dtype=np.uint64)]
        position = 0
        with (
            intermediate_open(self.layout.sigs(rank)) as sig_f,
            intermediate_open(self.layout.shingles(rank)) as set_f,
        ):

            def flush(batch: list[Document]) -> None:
                nonlocal position, set_offset
                texts = [d.text for d in batch]
                refs = make_ref(rank, np.arange(position, position + len(batch)))
                position += len(batch)
                digest_hi, digest_lo = exact_digests(texts)
                partitions = [partition_of(d, cfg) for d in batch]
                shingle_counts = np.zeros(len(batch), dtype=np.int64)
                salts = np.array([salt_of(p) for p in partitions], dtype=np.uint64)
                salt_parts.append(salts)
                if cfg.near:
                    with self.track_time("shingles+signatures"):
                        hashes, offsets = shingle_hashes(texts, cfg.ngram)
                        sigs = hasher.signatures(hashes, offsets)
                        sig_f.write(sigs.tobytes())
                        shingle_counts = np.diff(offsets)
                        if store_sets:
                            sets, set_off = per_document_sets(hashes, offsets)
                            shingle_counts = np.diff(set_off)
                            set_f.write(sets.tobytes())
                            set_offsets.append(set_off[1:] + set_offset)
                            set_offset += int(set_off[-1])
                    has = shingle_counts > 0
                    keys = band_keys(sigs[has], self.bands, self.rows, salts[has])
                    for b in range(self.bands):
                        self._add(band_parts, ref_parts, b, keys[b], refs[has])
                if cfg.exact:
                    has_text = (digest_hi != 0) | (digest_lo != 0)
                    self._add(band_parts, ref_parts, self.bands, mix64(digest_hi[has_text]), refs[has_text])
                for doc, hi_, lo_, part, n_sh in zip(
                    batch, digest_hi.tolist(), digest_lo.tolist(), partitions, shingle_counts, strict=True
                ):
                    stars, created = priority_fields(doc, cfg)
                    columns["id"].append(str(doc.id))
                    columns["stars"].append(stars)
                    columns["created"].append(created)
                    columns["length"].append(len(doc.text))
                    columns["partition"].append(part)
                    columns["shingles"].append(int(n_sh))
                    columns["digest_hi"].append(hi_)
                    columns["digest_lo"].append(lo_)
                self.stat_update("documents_in", value=len(batch))
                self.stat_update(
                    "bytes_in", value=sum(len(t) if t.isascii() else len(t.encode("utf-8")) for t in texts)
                )
                if cfg.near:
                    self.stat_update("no_shingles", value=int(np.count_nonzero(shingle_counts == 0)))

            batch: list[Document] = []
            batch_chars = 0
            for doc in data or ():
                batch.append(doc)
                batch_chars += len(doc.text)
                if len(batch) >= cfg.batch_documents or batch_chars >= cfg.batch_bytes:
                    flush(batch)
                    batch, batch_chars = [], 0
            if batch:
                flush(batch)
        write_array(self.layout.shingle_offsets(rank), np.concatenate(set_offsets))
        write_array(self.layout.partitions(rank), np.concatenate(salt_parts))
        for unit in range(self.units):
            keys = np.concatenate(band_parts[unit]) if band_parts[unit] else np.zeros(0, np.uint64)
            refs = np.concatenate(ref_parts[unit]) if ref_parts[unit] else np.zeros(0, np.uint64)
            rec = np.empty(keys.size, dtype=BAND_DTYPE)
            rec["key"], rec["ref"] = keys, refs
            rec = rec[np.lexsort((refs, keys))]
            write_array(self.layout.band(unit, rank), rec)
        write_table(self.layout.docs(rank), pa.table(columns, schema=DOCS_SCHEMA))
        if rank == 0:
            write_json(self.layout.params(), self.config.model_dump(mode="json"))
        return
        yield  # a generator that yields nothing: the stage ends here

    def _add(self, band_parts, ref_parts, band: int, keys: np.ndarray, refs: np.ndarray) -> None:
        shards = self.config.key_shards
        if shards == 1:
            band_parts[band].append(keys)
            ref_parts[band].append(refs)
            return
        shard = (keys % np.uint64(shards)).astype(np.int64)
        for s in range(shards):
            sel = shard == s
            band_parts[band * shards + s].append(keys[sel])
            ref_parts[band * shards + s].append(refs[sel])


class DedupBuckets(DedupStep):
    """Stage 2: candidate pairs from equal band keys, verified; band units spread over the tasks."""

    name = "dedup buckets"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        sim = Similarity(self.layout, cfg)
        exact_units = set(range(self.bands * cfg.key_shards, self.units))
        pairs: dict[tuple[int, int], tuple[float, int]] = {}
        # components of the pairs accepted so far in this task: a candidate already connected to
        # its representative (by another band) needs no comparison and adds no edge
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while x != root:
                parent[x], x = root, parent.get(x, x)
            return root

        hist = np.zeros(HIST_BINS, dtype=np.int64)
        accepted = rejected = buckets = 0
        for unit in range(rank, self.units, world_size):
            parts = [read_array(self.layout.band(unit, r), BAND_DTYPE) for r in range(self.signature_tasks)]
            rec = np.concatenate(parts) if parts else np.zeros(0, BAND_DTYPE)
            if rec.size < 2:
                continue
            # by key, then ref: each bucket's members come out sorted, as one Python list slice
            rec = rec[np.lexsort((rec["ref"], rec["key"]))]
            keys = rec["key"]
            starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
            ends = np.append(starts[1:], keys.size)
            multi = ends - starts > 1
            refs = rec["ref"].tolist()
            with self.track_time("verify"):
                for begin, end in zip(starts[multi].tolist(), ends[multi].tolist(), strict=True):
                    buckets += 1
                    members = refs[begin:end]
                    if unit in exact_units:
                        first_of: dict[int, int] = {}
                        for m in members:
                            lo = sim.digest_lo(m)
                            if lo in first_of:
                                pairs[(first_of[lo], m)] = (1.0, 1)
                                parent[find(m)] = find(first_of[lo])
                            else:
                                first_of[lo] = m
                        continue
                    reps: list[int] = [members[0]]
                    for m in members[1:]:
                        root_m = find(m)  # path compression below never changes a root
                        for rep in reps:
                            root_rep = find(rep)
                            if root_rep == root_m:  # joined through earlier pairs: nothing to add
                                break
                            s = sim.similarity(rep, m)
                            key = (rep, m)
                            if key not in pairs:
                                hist[min(int(s * HIST_BINS), HIST_BINS - 1)] += 1
                            if cfg.verify == "none" or s >= cfg.threshold:
                                if key not in pairs:
                                    accepted += 1
                                    pairs[key] = (s, 0)
                                    parent[root_m] = root_rep
                                break
                        else:
                            rejected += 1
                            if len(reps) < cfg.max_representatives:
                                reps.append(m)
        edges = np.empty(len(pairs), dtype=EDGE_DTYPE)
        if pairs:
            items = sorted(pairs.items())
            edges["a"] = [k[0] for k, _ in items]
            edges["b"] = [k[1] for k, _ in items]
            edges["sim"] = [v[0] for _, v in items]
            edges["exact"] = [v[1] for _, v in items]
        shards = cfg.cluster_shards
        if cfg.cluster_rounds:
            # component rounds: each pair goes to the task that holds its larger end (round 0 is a
            # small-star step, which looks at every edge from there)
            shard = node_shard(np.maximum(edges["a"], edges["b"]), shards)
            for c in range(shards):
                write_array(self.layout.edges(rank, c), edges[shard == c])
        elif shards == 1:
            write_array(self.layout.edges(rank), edges)
        else:
            # a near-only pass: both ends of a pair share a partition (level, language), which picks
            # the clustering task; an exact-only pass: both ends share a content digest, which does
            spread = sim.partition_salts(edges["a"]) if cfg.near else sim.digests_lo_of(edges["a"])
            shard = (spread % np.uint64(shards)).astype(np.int64)
            for c in range(shards):
                write_array(self.layout.edges(rank, c), edges[shard == c])
        self.stat_update("buckets", value=buckets)
        self.stat_update("pairs_verified", value=int(hist.sum()))
        self.stat_update("pairs_accepted", value=accepted)
        self.stat_update("pairs_rejected", value=rejected)
        write_json(
            self.layout.bucket_report(rank),
            {
                "buckets": buckets,
                "compared": int(hist.sum()),
                "accepted": accepted,
                "rejected": rejected,
                "similarity_histogram": hist.tolist(),
            },
        )
        return
        yield


def _histogram(values: np.ndarray) -> list[int]:
    idx = np.minimum((values * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    return np.bincount(idx, minlength=HIST_BINS).tolist()


def _size_bucket(n: int) -> str:
    lo = 2
    while lo * 2 <= n:
        lo *= 2
    return str(lo) if lo == 2 else f"{lo}-{lo * 2 - 1}"


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
        if cfg.cluster_rounds:
            # the component rounds and the labels stage did the graph work: this task gets whole
            # components, those whose smallest ref hashes to it, with their verified pairs
            edges, nodes, root = routed_components(self.layout, cfg.cluster_shards, shard)
        else:
            parts = [
                read_array(self.layout.edges(r, shard), EDGE_DTYPE, mmap=False)
                for r in range(self.bucket_tasks)
            ]
            edges = np.concatenate(parts) if parts else np.zeros(0, EDGE_DTYPE)
            with self.track_time("components"):
                nodes, root = connected_components(edges["a"], edges["b"])
        sim = Similarity(self.layout, cfg)
        # documents' keep fields, read only for ranks and rows that appear in a cluster
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
            no_shingles += int(np.count_nonzero(table.column("shingles").to_numpy() == 0)) if cfg.near else 0
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
        order = np.lexsort([*reversed(keep_order(cfg.keep, ids, stars, created, length)), root])
        sorted_root = root[order]
        first = (
            np.concatenate(([True], sorted_root[1:] != sorted_root[:-1])) if order.size else np.zeros(0, bool)
        )
        group_start = np.flatnonzero(first)
        group_sizes = np.diff(np.append(group_start, order.size))
        kept_pos = np.repeat(order[group_start], group_sizes)  # for order[i], the kept node's position
        size_of = np.repeat(group_sizes, group_sizes)
        kept = np.empty(nodes.size, np.int64)
        cluster_size = np.empty(nodes.size, np.int64)
        kept[order] = kept_pos
        cluster_size[order] = size_of
        similarity = np.ones(nodes.size, np.float32)
        exact = np.zeros(nodes.size, bool)
        with self.track_time("similarity to kept"):
            dropped_pos = np.flatnonzero(kept != np.arange(nodes.size))
            kept_pos = kept[dropped_pos]
            exact[dropped_pos] = (
                (digest_hi[dropped_pos] == digest_hi[kept_pos])
                & (digest_lo[dropped_pos] == digest_lo[kept_pos])
                & ((digest_hi[dropped_pos] != 0) | (digest_lo[dropped_pos] != 0))
            )
            near = dropped_pos[~exact[dropped_pos]]
            if cfg.near and near.size:
                similarity[near] = sim.estimated_many(nodes[near], nodes[kept[near]])
                # where the kept copy is a verified partner, report the verified similarity
                pair_dtype = np.dtype([("a", "<u8"), ("b", "<u8")])
                known = np.empty(edges.size, dtype=pair_dtype)
                known["a"] = np.minimum(edges["a"], edges["b"])
                known["b"] = np.maximum(edges["a"], edges["b"])
                order_e = np.argsort(known, order=["a", "b"])
                known = known[order_e]
                query = np.empty(near.size, dtype=pair_dtype)
                query["a"] = np.minimum(nodes[near], nodes[kept[near]])
                query["b"] = np.maximum(nodes[near], nodes[kept[near]])
                at = np.minimum(np.searchsorted(known, query), max(known.size - 1, 0))
                hit = known[at] == query
                similarity[near[hit]] = edges["sim"][order_e[at[hit]]]
        kept_ids = [ids[k] for k in kept]
        for r in range(self.signature_tasks):
            sel = np.flatnonzero(ranks == r)
            table = pa.table(
                {
                    "index": idx[sel],
                    "id": [ids[j] for j in sel],
                    "kept_id": [kept_ids[j] for j in sel],
                    "similarity": similarity[sel],
                    "exact": exact[sel],
                    "cluster_size": cluster_size[sel],
                },
                schema=ASSIGN_SCHEMA,
            )
            write_table(self.layout.assign(r, shard), table)
        dropped = kept != np.arange(nodes.size)
        self.stat_update("clusters", value=int(group_start.size))
        self.stat_update("duplicates", value=int(dropped.sum()))
        write_json(
            self.layout.report(shard),
            self._report(
                edges,
                ids,
                kept_ids,
                group_sizes,
                order,
                group_start,
                dropped,
                similarity,
                exact,
                total_docs if shard == 0 else 0,
                no_shingles if shard == 0 else 0,
            ),
        )
        return
        yield

    def _report(
        self,
        edges,
        ids,
        kept_ids,
        group_sizes,
        order,
        group_start,
        dropped,
        similarity,
        exact,
        total_docs,
        no_shingles,
    ):
        cfg = self.config
        bucket_hist = np.zeros(HIST_BINS, np.int64)
        compared = accepted = rejected = 0
        # whole-run figures (candidates, document counts) are reported by shard 0 only, so that
        # shard reports add up (see dedup.report.merge_reports)
        for r in range(self.bucket_tasks) if self._shard == 0 else ():
            path = self.layout.bucket_report(r)
            if exists(path):
                rep = read_json(path)
                bucket_hist += np.array(rep["similarity_histogram"], dtype=np.int64)
                compared += rep["compared"]
                accepted += rep["accepted"]
                rejected += rep["rejected"]
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
            "documents": total_docs,
            "documents_without_shingles": no_shingles,
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
