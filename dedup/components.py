"""Connected components of a duplicate graph.

A Python union-find walks one edge at a time and keeps a dict entry per document; that loop is
what makes single-task clustering slow at scale. Here only documents that appear in an edge are
held, as dense integer labels (one sort of the edge endpoints), and the components come from
scipy's linear-time graph search over a sparse adjacency matrix.
"""

from __future__ import annotations

import numpy as np


def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components of the undirected graph with edges (a[i], b[i]).

    Returns `(nodes, root)`: the sorted distinct node ids and, for each, the smallest node id of
    its component.
    """
    # scipy's sparse graphs cost 0.25 s to import, and only a dedup task's clustering needs them
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    if a.size == 0:
        return np.zeros(0, dtype=a.dtype), np.zeros(0, dtype=a.dtype)
    both = np.concatenate([a, b])
    order = np.argsort(both)  # np.unique(return_inverse=True) measured ~1.5x slower
    ordered = both[order]
    new = np.empty(ordered.size, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    nodes = ordered[new]
    inverse = np.empty(both.size, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    n = nodes.size
    u, v = inverse[: a.size], inverse[a.size :]
    graph = coo_matrix((np.ones(u.size, dtype=np.int8), (u, v)), shape=(n, n)).tocsr()
    _, labels = scipy_components(graph, directed=False)
    # nodes are sorted, so the smallest position of a component is its smallest node id
    first = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    return nodes, nodes[first[labels]]
