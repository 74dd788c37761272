"""Clustering duplicate pairs: our vectorised components vs datatrove's MinhashDedupCluster stage.

datatrove's third MinHash stage is one task running a Python union-find over every duplicate
pair (a dict entry per document, a Python call per pair); its users report it as the step that
takes hours at terabyte scale. Ours holds the same pairs as two uint64 arrays and finds components
by vectorised label propagation. Both get the same synthetic duplicate graph: clusters with
Zipf-distributed sizes, each given as star and chain edges, spread over several files the way a
bucket stage writes them; both read their input files, cluster, and write what they drop.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dedup_clusters.py [--pairs 2000000]
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
    t = time.perf_counter()
    step.run(None, 0, 1)
    return time.perf_counter() - t


def run_ours(fa, da, fb, db, tmp: str) -> tuple[float, int]:
    folder = Path(tmp, "edges")
    folder.mkdir()
    rec = np.empty(fa.size, dtype=EDGE_DTYPE)
    rec["a"] = (fa.astype(np.uint64) << np.uint64(40)) | da.astype(np.uint64)
    rec["b"] = (fb.astype(np.uint64) << np.uint64(40)) | db.astype(np.uint64)
    rec["sim"] = 1.0
    for k, part in enumerate(np.array_split(rec, BUCKETS)):
        (folder / f"{k:05d}.bin").write_bytes(part.tobytes())
    t = time.perf_counter()
    edges = np.concatenate([np.fromfile(p, dtype=EDGE_DTYPE) for p in sorted(folder.glob("*.bin"))])
    nodes, root = connected_components(edges["a"], edges["b"])
    dropped = nodes[nodes != root]
    for f in range(FILES):  # what each input file loses, as the filter stage reads it
        sel = (dropped >> np.uint64(40)) == f
        np.sort(dropped[sel] & np.uint64((1 << 40) - 1)).astype("<u8").tofile(f"{tmp}/ours_{f}.remove")
    return time.perf_counter() - t, int(dropped.size)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2_000_000)
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    fa, da, fb, db = synthetic_graph(args.pairs)
    n_docs = len(np.unique(np.concatenate([fa * (1 << 32) + da, fb * (1 << 32) + db])))
    print(f"{fa.size} duplicate pairs over {n_docs} documents in {FILES} files, one core")
    with tempfile.TemporaryDirectory() as tmp:
        ours, dropped = run_ours(fa, da, fb, db, tmp)
        rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        theirs = run_datatrove(fa, da, fb, db, tmp)
        rss_both = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        theirs_dropped = sum(os.path.getsize(p) // 4 for p in Path(tmp, "dt_remove").glob("*.remove"))
    print(f"\n{'implementation':<36} {'seconds':>8} {'pairs/s':>12} {'dropped':>10}")
    print(f"{'coderforge connected_components':<36} {ours:8.2f} {fa.size / ours:12,.0f} {dropped:10d}")
    print(
        f"{'datatrove MinhashDedupCluster':<36} {theirs:8.2f} {fa.size / theirs:12,.0f} {theirs_dropped:10d}"
    )
    print(
        f"datatrove / ours: {theirs / ours:.1f}x   peak RSS after ours {rss_ours:.0f} MiB, after both {rss_both:.0f} MiB"
    )


if __name__ == "__main__":
    main()
