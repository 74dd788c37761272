"""Connected components by rounds of parallel tasks, so that no task holds the duplicate graph.

Used when `cluster_rounds` > 0. The verified pairs are an undirected graph over document refs;
every node belongs to the task `mix64(ref) % cluster_shards` (its hash share). A round is one
datatrove stage: task t reads the edge ends keyed to its nodes, applies one operation of Kiveris
et al. (2014, "Connected components in MapReduce and beyond") to each of its nodes, and writes the
resulting edges to the tasks of their ends. Rounds alternate:

- small-star (even rounds): a node u with smaller neighbours N links all of N and u to min(N).
  Only the end at the larger node is needed, so its input is each edge once, at its larger end.
- large-star (odd rounds): a node u links each of its larger neighbours to the smallest of u and
  all its neighbours. It needs both ends, so small-star writes each edge at both.

Both keep the components and, repeated, turn each into a star around its smallest ref. A task
counts the nodes whose edges it changed; when two rounds in a row change nothing the edge set is
a fixed point of both operations, which is exactly a forest of such stars. The round count grows
with the logarithm of a component's diameter (a chain of 1,000 documents takes about 20 rounds),
not with the diameter as plain label propagation would.

Then `DedupLabels` reads, per task, the final star edges at their leaf end (each document's label,
the smallest ref of its component) and the verified pairs at their larger end (written there by
the bucket stage), and sends both to the task its component's label hashes to. The keep-policy
task (`DedupClusters`) then holds whole components, but only those hashed to it.

Every file is written under a temporary name and renamed, one file per (source task, target
task), and the change counts last; datatrove's completion markers make a relaunch skip finished
tasks, so a killed round resumes and yields the same bytes.
"""

from __future__ import annotations

import numpy as np
from datatrove.data import DocumentsPipeline

from dedup.config import DedupConfig
from dedup.layout import (
    EDGE_DTYPE,
    ENTRY_DTYPE,
    WorkLayout,
    read_array,
    read_json,
    write_array,
    write_json,
)
from dedup.shingles import mix64
from dedup.step_base import DedupStep


def node_shard(refs: np.ndarray, shards: int) -> np.ndarray:
    """The task that holds each node (a document ref): its hash share."""
    if shards == 1:
        return np.zeros(refs.size, dtype=np.int64)
    return (mix64(refs) % np.uint64(shards)).astype(np.int64)


def converged_round(layout: WorkLayout, shards: int, before: int) -> int | None:
    """The first round r < `before` that, with round r - 1, changed nothing; None if there is none.

    Rounds before `before` are complete (the runner starts a stage only after the previous one
    finished), so every change count read here exists.
    """
    previous = None
    for r in range(before):
        changes = sum(int(read_json(layout.round_changes(r, t))["changes"]) for t in range(shards))
        if changes == 0 and previous == 0:
            return r
        previous = changes
    return None


def _unique_sorted(key: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (key, other) pairs sorted by key, then other."""
    if key.size == 0:
        return key, other
    order = np.lexsort((other, key))
    key, other = key[order], other[order]
    new = np.empty(key.size, dtype=bool)
    new[0] = True
    new[1:] = (key[1:] != key[:-1]) | (other[1:] != other[:-1])
    return key[new], other[new]


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start of each run of equal keys, run length) over a sorted key array."""
    if key.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    return starts, np.diff(np.append(starts, key.size))


def small_star(key: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """One small-star step over the edge ends (key, other) with other < key.

    Returns edges (x, y) with x > y and the number of nodes whose edges changed (two or more
    smaller neighbours).
    """
    sel = other < key
    key, other = _unique_sorted(key[sel], other[sel])
    starts, sizes = _groups(key)
    low = other[starts]  # the smallest neighbour of each node (others sorted within a key)
    low_row = np.repeat(low, sizes)
    moved = other != low_row
    x = np.concatenate([key[starts], other[moved]])
    y = np.concatenate([low, low_row[moved]])
    return x, y, int(np.count_nonzero(sizes >= 2))


def large_star(key: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """One large-star step over the edge ends (key, other) of both directions.

    Returns edges (x, y) with x > y and the number of nodes whose edges changed (a smaller
    neighbour and a larger one).
    """
    key, other = _unique_sorted(key, other)
    starts, sizes = _groups(key)
    group_key = key[starts]
    low = np.minimum(group_key, other[starts]) if starts.size else group_key
    high = other[starts + sizes - 1] if starts.size else group_key
    low_row = np.repeat(low, sizes)
    up = other > key
    changes = int(np.count_nonzero((low < group_key) & (high > group_key)))
    return other[up], low_row[up], changes


class DedupRound(DedupStep):
    """One component round (`cluster_shards` tasks); a no-op once an earlier round converged."""

    name = "dedup components"

    def __init__(
        self,
        root: str,
        config: DedupConfig,
        signature_tasks: int,
        bucket_tasks: int,
        round_: int,
        prefix: str = "dedup",
    ) -> None:
        super().__init__(root, config, signature_tasks, prefix)
        self.bucket_tasks = bucket_tasks
        self.round = round_

    def converged(self) -> bool:
        """Whether a round before this one already reached the stars (this one then does nothing)."""
        return converged_round(self.layout, self.config.cluster_shards, self.round) is not None

    def idle(self) -> bool:
        """For the build: a round after convergence is skipped without starting its tasks."""
        return self.converged()

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        shards = self.config.cluster_shards
        if world_size != shards:
            raise ValueError(f"component round runs with {world_size} tasks, configured for {shards}")
        if self.converged():
            return
        if self.round == 0:  # the verified pairs, each at its larger end (see DedupBuckets)
            parts = [read_array(self.layout.edges(r, rank), EDGE_DTYPE) for r in range(self.bucket_tasks)]
            a = np.concatenate([p["a"] for p in parts]) if parts else np.zeros(0, np.uint64)
            b = np.concatenate([p["b"] for p in parts]) if parts else np.zeros(0, np.uint64)
            key, other = np.maximum(a, b), np.minimum(a, b)
        else:
            parts = [
                read_array(self.layout.round_entries(self.round - 1, src, rank), ENTRY_DTYPE)
                for src in range(shards)
            ]
            key = np.concatenate([p["key"] for p in parts])
            other = np.concatenate([p["other"] for p in parts])
        with self.track_time("small star" if self.round % 2 == 0 else "large star"):
            if self.round % 2 == 0:
                x, y, changes = small_star(key, other)
                # the next round is a large star: every edge at both of its ends
                key, other = np.concatenate([x, y]), np.concatenate([y, x])
            else:
                key, other, changes = large_star(key, other)
        del parts
        key, other = _unique_sorted(key, other)
        target = node_shard(key, shards)
        for dst in range(shards):
            sel = target == dst
            rec = np.empty(int(np.count_nonzero(sel)), dtype=ENTRY_DTYPE)
            rec["key"], rec["other"] = key[sel], other[sel]
            write_array(self.layout.round_entries(self.round, rank, dst), rec)
        self.stat_update("changed_nodes", value=changes)
        self.stat_update("edges_out", value=int(key.size))
        write_json(self.layout.round_changes(self.round, rank), {"changes": changes, "edges": int(key.size)})
        return
        yield


class DedupLabels(DedupStep):
    """After the rounds: every clustered document and verified pair to the task of its component."""

    name = "dedup labels"

    def __init__(
        self, root: str, config: DedupConfig, signature_tasks: int, bucket_tasks: int, prefix: str = "dedup"
    ) -> None:
        super().__init__(root, config, signature_tasks, prefix)
        self.bucket_tasks = bucket_tasks

    def blocked(self) -> str | None:
        """The labels need settled components; a run whose rounds did not settle stops here."""
        cfg = self.config
        if converged_round(self.layout, cfg.cluster_shards, cfg.cluster_rounds) is None:
            return not_converged_message(cfg)
        return None

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        shards = cfg.cluster_shards
        if world_size != shards:
            raise ValueError(f"labels stage runs with {world_size} tasks, configured for {shards}")
        final = converged_round(self.layout, shards, cfg.cluster_rounds)
        if final is None:
            raise ValueError(not_converged_message(cfg))
        parts = [
            read_array(self.layout.round_entries(final, src, rank), ENTRY_DTYPE) for src in range(shards)
        ]
        key = np.concatenate([p["key"] for p in parts])
        other = np.concatenate([p["other"] for p in parts])
        leaf_end = other < key  # stars: a leaf's one edge, to its component's smallest ref
        leaves, labels = _unique_sorted(key[leaf_end], other[leaf_end])
        if leaves.size > 1 and np.any(leaves[1:] == leaves[:-1]):
            raise RuntimeError(f"round {final} left a document with two labels: not a star forest")
        edges = [
            read_array(self.layout.edges(r, rank), EDGE_DTYPE, mmap=False) for r in range(self.bucket_tasks)
        ]
        edge = np.concatenate(edges) if edges else np.zeros(0, EDGE_DTYPE)
        larger = np.maximum(edge["a"], edge["b"])  # never a component's smallest ref: a leaf here
        at = np.searchsorted(leaves, larger)
        if edge.size and (
            np.any(at >= leaves.size) or np.any(leaves[np.minimum(at, leaves.size - 1)] != larger)
        ):
            raise RuntimeError("a verified pair has no label: the component rounds are incomplete")
        edge_target = node_shard(labels[at], shards) if edge.size else np.zeros(0, np.int64)
        member_target = node_shard(labels, shards)
        for dst in range(shards):
            sel = member_target == dst
            rec = np.empty(int(np.count_nonzero(sel)), dtype=ENTRY_DTYPE)
            rec["key"], rec["other"] = leaves[sel], labels[sel]
            write_array(self.layout.label_members(rank, dst), rec)
            write_array(self.layout.label_edges(rank, dst), edge[edge_target == dst])
        self.stat_update("documents", value=int(leaves.size))
        return
        yield


def not_converged_message(config: DedupConfig) -> str:
    return (
        f"dedup: the connected components did not settle in cluster_rounds = {config.cluster_rounds} "
        "rounds; raise dedup.cluster_rounds and run again (finished rounds are kept)"
    )


def routed_components(
    layout: WorkLayout, shards: int, rank: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edges, nodes, root) of the components hashed to clustering task `rank`, as
    `dedup.components.connected_components` gives them: nodes sorted, root the smallest ref."""
    members = [read_array(layout.label_members(src, rank), ENTRY_DTYPE, mmap=False) for src in range(shards)]
    edges = [read_array(layout.label_edges(src, rank), EDGE_DTYPE, mmap=False) for src in range(shards)]
    leaf = np.concatenate([m["key"] for m in members])
    label = np.concatenate([m["other"] for m in members])
    # a label (the smallest ref) is never a leaf; it belongs to its own component
    nodes = np.concatenate([leaf, np.unique(label)])
    root = np.concatenate([label, np.unique(label)])
    order = np.argsort(nodes, kind="stable")
    return np.concatenate(edges), nodes[order], root[order]
