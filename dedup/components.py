"""Connected components of a duplicate graph, vectorised.

A Python union-find walks one edge at a time and keeps a dict entry per document; that loop is
what makes single-task clustering slow at scale. Here only documents that appear in an edge are
held (as dense integer labels), and components are found by min-label propagation with pointer
jumping, each round a handful of numpy passes over the edge arrays; the number of rounds grows
with the logarithm of the component diameter.
"""

from __future__ import annotations

import numpy as np


def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components of the undirected graph with edges (a[i], b[i]).

    Returns `(nodes, root)`: the sorted distinct node ids and, for each, the smallest node id of
    its component.
    """
    if a.size == 0:
        return np.zeros(0, dtype=a.dtype), np.zeros(0, dtype=a.dtype)
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    u, v = inverse[: a.size], inverse[a.size :]
    label = np.arange(nodes.size, dtype=np.int64)
    while True:
        lu, lv = label[u], label[v]
        m = np.minimum(lu, lv)
        before = label.copy()
        # hook both endpoints' labels (and the labels' own entries) to the smaller one
        np.minimum.at(label, u, m)
        np.minimum.at(label, v, m)
        np.minimum.at(label, lu, m)
        np.minimum.at(label, lv, m)
        # pointer jumping until labels are fixed points
        while True:
            nxt = label[label]
            if np.array_equal(nxt, label):
                break
            label = nxt
        if np.array_equal(label, before):
            break
    return nodes, nodes[label]


def spanning_edges(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An edge set with the same components, one edge per non-root node (node -> its root).

    Bucket tasks reduce their verified pairs this way before writing them, so the clustering step
    reads at most one edge per duplicated document per task, however many bands found the pair.
    """
    nodes, root = connected_components(a, b)
    keep = nodes != root
    return nodes[keep], root[keep]
