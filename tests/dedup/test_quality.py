"""Near-dedup quality against exact ground truth on real text with planted near-duplicates.

Python standard-library sources from this machine are the real text; for half of them, variants
are planted at known shingle-set Jaccard similarities from 0.5 to 0.97. Ground truth is the exact
Jaccard similarity of every pair that shares a shingle (the stdlib has genuine near-duplicates of
its own, which count too), computed by `dedup.evaluation` independently of the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dedup.config import DedupConfig
from dedup.evaluation import (
    components,
    pair_set,
    planted_corpus,
    precision_recall_f1,
    shingle_set,
    similar_pairs,
)
from dedup.layout import read_table
from tests.dedup.helpers import doc, run_dedup, write_input

TARGETS = (0.97, 0.92, 0.88, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)


@pytest.fixture(scope="module")
def corpus():
    ids, texts = planted_corpus(140, TARGETS, seed=11)
    truth = similar_pairs([shingle_set(t) for t in texts], 0.3)
    return ids, texts, truth


def _clusters(layout, ids: list[str], tasks: int) -> tuple[list[int], list[tuple[int, int]]]:
    pos = {d: i for i, d in enumerate(ids)}
    label = list(range(len(ids)))
    dropped = []
    for r in range(tasks):
        for row in read_table(layout.assign(r)).to_pylist():
            label[pos[row["id"]]] = pos[row["kept_id"]]
            if row["id"] != row["kept_id"]:
                dropped.append((pos[row["id"]], pos[row["kept_id"]]))
    return label, dropped


@pytest.mark.slow
@pytest.mark.parametrize("verify", ["exact", "estimated"])
def test_recall_and_precision_against_exact_jaccard(tmp_path: Path, corpus, verify):
    ids, texts, truth = corpus
    write_input(tmp_path, [doc(i, t) for i, t in zip(ids, texts, strict=True)])
    _, layout = run_dedup(tmp_path, DedupConfig(verify=verify))
    label, dropped = _clusters(layout, ids, 2)
    high = [p for p, s in truth.items() if s >= 0.85]
    assert len(high) >= 200
    recall = sum(label[a] == label[b] for a, b in high) / len(high)
    # precision: each dropped document against the copy it is said to duplicate
    precision = sum(truth.get((min(a, b), max(a, b)), 0.0) >= 0.7 for a, b in dropped) / len(dropped)
    truth_pairs = pair_set(components(len(ids), [p for p, s in truth.items() if s >= 0.7]))
    _, _, f1 = precision_recall_f1(pair_set(label), truth_pairs)
    print(f"verify={verify}: recall@0.85={recall:.4f} precision={precision:.4f} cluster-pair F1={f1:.4f}")
    assert recall >= 0.95
    if verify == "exact":
        assert precision >= 0.98
        assert f1 >= 0.9
    else:
        assert precision >= 0.9
