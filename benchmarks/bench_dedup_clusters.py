"""Clustering duplicate pairs: our vectorised components vs datatrove's MinhashDedupCluster stage.

datatrove's third MinHash stage is one task running a Python union-find over every duplicate
pair (a dict entry per document, a Python call per pair); its users report it as the step that
takes hours at terabyte scale. Ours holds the same pairs as two uint64 arrays and finds components
by vectorised label propagation. Both get the same synthetic duplicate graph: clusters with
Zipf-distributed sizes, each given as star and chain edges, spread over several files the way a
bucket stage writes them; both read their input files, cluster, and write what they drop.

Beside them, `cluster_rounds` (dedup.rounds): the same pairs split over `--shards` tasks by node
hash, large-star/small-star rounds until two change nothing, the labels stage, and the reading of
each keep-policy task's components; each task runs and is timed (CPU seconds) in this process.
Measured at 2,000,000 pairs, 8 tasks, best of 3 on a shared 2-core machine: 12 rounds; all tasks
together 6.6x the CPU of the one-task components, the slowest task of each stage summed 1.0x
(12.5x less than datatrove); the largest input of a round task 0.26x the pairs one task reads
(a star centre: the largest synthetic clusters have 50,001 members).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dedup_clusters.py [--pairs 2000000] [--shards 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dedup.components import connected_components
from dedup.layout import EDGE_DTYPE

FILES = 8  # signature tasks (datatrove: input files)
BUCKETS = 14  # datatrove's default number of bands


def synthetic_graph(pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(file_a, doc_a, file_b, doc_b) of duplicate pairs over clusters with Zipf-like sizes."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.zipf(1.6, size=pairs), 50_000) + 1
    sizes = sizes[np.cumsum(sizes - 1) <= pairs]
    n_docs = int(sizes.sum())
    perm = rng.permutation(n_docs)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    first = np.repeat(starts, sizes - 1)
    # members 1..k-1 of each cluster linked to member 0 (star) or to the previous member (chain)
    offsets = np.arange(sizes.sum() - len(sizes)) - np.repeat(np.cumsum(sizes - 1) - (sizes - 1), sizes - 1)
    member = first + 1 + offsets
    chain = rng.random(member.size) < 0.5
    other = np.where(chain, member - 1, first)
    a, b = perm[member], perm[other]
    return a % FILES, a // FILES, b % FILES, b // FILES


def run_datatrove(fa, da, fb, db, tmp: str) -> float:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupCluster

    folder = Path(tmp, "dt_buckets")
    folder.mkdir()
    bucket = np.arange(fa.size) % BUCKETS
    for k in range(BUCKETS):
        sel = bucket == k
        rec = np.stack([fa[sel], da[sel], fb[sel], db[sel]], axis=1).astype("<u4")
        (folder / f"{k:05d}_00.dups").write_bytes(rec.tobytes())
    step = MinhashDedupCluster(str(folder), f"{tmp}/dt_remove", config=MinhashConfig(num_buckets=BUCKETS))
    t = time.process_time()
    step.run(None, 0, 1)
    return time.process_time() - t


def run_ours(fa, da, fb, db, tmp: str) -> tuple[float, int]:
    folder = Path(tmp, "edges")
    folder.mkdir()
    rec = _edges(fa, da, fb, db)
    for k, part in enumerate(np.array_split(rec, BUCKETS)):
        (folder / f"{k:05d}.bin").write_bytes(part.tobytes())
    t = time.process_time()
    edges = np.concatenate([np.fromfile(p, dtype=EDGE_DTYPE) for p in sorted(folder.glob("*.bin"))])
    nodes, root = connected_components(edges["a"], edges["b"])
    dropped = nodes[nodes != root]
    for f in range(FILES):  # what each input file loses, as the filter stage reads it
        sel = (dropped >> np.uint64(40)) == f
        np.sort(dropped[sel] & np.uint64((1 << 40) - 1)).astype("<u8").tofile(f"{tmp}/ours_{f}.remove")
    return time.process_time() - t, int(dropped.size)


def run_rounds(fa, da, fb, db, tmp: str, shards: int) -> dict[str, float]:
    """`cluster_rounds`: the round and labels tasks one after another in this process, each timed.

    What a run with `shards` workers waits for is the slowest task of each stage, summed over the
    stages ("critical path"); "total" is the CPU time of all tasks. Also returns the largest input
    a task read (bytes of edge ends) against the bytes of all pairs, the share a task holds.
    """
    from dedup.config import DedupConfig
    from dedup.layout import WorkLayout
    from dedup.rounds import DedupLabels, DedupRound, converged_round, node_shard, routed_components

    config = DedupConfig(cluster_shards=shards, cluster_rounds=64)
    layout = WorkLayout(tmp, "rounds")
    rec = _edges(fa, da, fb, db)
    for k, part in enumerate(np.array_split(rec, BUCKETS)):  # as the bucket tasks write them
        target = node_shard(np.maximum(part["a"], part["b"]), shards)
        for c in range(shards):
            path = Path(layout.edges(k, c))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(part[target == c].tobytes())
    total = critical = 0.0
    largest = dropped = 0
    stages = [
        DedupRound(tmp, config, FILES, BUCKETS, r, prefix="rounds") for r in range(config.cluster_rounds)
    ]
    rounds = 0
    for step in [*stages, DedupLabels(tmp, config, FILES, BUCKETS, prefix="rounds"), None]:
        if isinstance(step, DedupRound) and step.converged():
            continue
        rounds += isinstance(step, DedupRound)
        slowest = 0.0
        for t in range(shards):
            if isinstance(step, DedupRound) and step.round > 0:
                held = sum(os.path.getsize(layout.round_entries(step.round - 1, s, t)) for s in range(shards))
                largest = max(largest, held)
            t0 = time.process_time()
            if step is None:  # the keep-policy tasks' share of the work: their components
                _, nodes, root = routed_components(layout, shards, t)
                dropped += int(np.count_nonzero(nodes != root))
            else:
                for _ in step.run(None, t, shards):
                    pass
            spent = time.process_time() - t0
            total += spent
            slowest = max(slowest, spent)
        critical += slowest
    assert converged_round(layout, shards, config.cluster_rounds) is not None
    return {
        "total": total,
        "critical": critical,
        "rounds": rounds,
        "held": largest,
        "all": rec.nbytes,
        "dropped": dropped,
    }


def _edges(fa, da, fb, db) -> np.ndarray:
    rec = np.empty(fa.size, dtype=EDGE_DTYPE)
    rec["a"] = (fa.astype(np.uint64) << np.uint64(40)) | da.astype(np.uint64)
    rec["b"] = (fb.astype(np.uint64) << np.uint64(40)) | db.astype(np.uint64)
    rec["sim"] = 1.0
    return rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--shards", type=int, default=8, help="tasks of each component round")
    ap.add_argument("--repeats", type=int, default=3, help="runs of ours and of the rounds (best kept)")
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    fa, da, fb, db = synthetic_graph(args.pairs)
    n_docs = len(np.unique(np.concatenate([fa * (1 << 32) + da, fb * (1 << 32) + db])))
    print(f"{fa.size} duplicate pairs over {n_docs} documents in {FILES} files, one core, CPU seconds")
    with tempfile.TemporaryDirectory() as tmp:
        # best of --repeats for ours and the rounds (cheap, each in a fresh folder); datatrove once
        ours, dropped = min(run_ours(fa, da, fb, db, tempfile.mkdtemp(dir=tmp)) for _ in range(args.repeats))
        rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        theirs = run_datatrove(fa, da, fb, db, tmp)
        rss_both = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        theirs_dropped = sum(os.path.getsize(p) // 4 for p in Path(tmp, "dt_remove").glob("*.remove"))
        rounds = min(
            (run_rounds(fa, da, fb, db, tempfile.mkdtemp(dir=tmp), args.shards) for _ in range(args.repeats)),
            key=lambda r: r["critical"],
        )
    print(f"\n{'implementation':<36} {'CPU s':>8} {'pairs/s':>12} {'dropped':>10}")
    print(f"{'coderforge connected_components':<36} {ours:8.2f} {fa.size / ours:12,.0f} {dropped:10d}")
    print(
        f"{'datatrove MinhashDedupCluster':<36} {theirs:8.2f} {fa.size / theirs:12,.0f} {theirs_dropped:10d}"
    )
    print(
        f"datatrove / ours: {theirs / ours:.1f}x   peak RSS after ours {rss_ours:.0f} MiB, after both {rss_both:.0f} MiB"
    )
    shards = args.shards
    print(
        f"\ncluster_rounds over {shards} tasks: {rounds['rounds']} rounds + labels + keep-policy input"
        f" ({rounds['dropped']} dropped)\n"
        f"  CPU of all tasks      {rounds['total']:8.2f} s  ({rounds['total'] / ours:.1f}x one-task components)\n"
        f"  slowest task summed   {rounds['critical']:8.2f} s  ({rounds['critical'] / ours:.1f}x one-task components,"
        f" {theirs / rounds['critical']:.1f}x faster than datatrove)\n"
        f"  largest round input   {rounds['held'] / 2**20:8.1f} MiB of edge ends, {rounds['held'] / rounds['all']:.2f}x"
        f" the {rounds['all'] / 2**20:.1f} MiB of pairs one task reads"
    )


if __name__ == "__main__":
    main()
