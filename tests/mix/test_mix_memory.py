"""The count and shard stages hold a bounded run of texts, not their whole input.

Measured with tracemalloc (Python objects: the texts and id lists the stages make) on one input
file of N and of 10N documents, both below `batch_documents`, so a stage that held a whole batch
of texts would hold ten times more for the larger file.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

import corpus.mix.shard_writer as shard_writer
import corpus.mix.steps as steps
from corpus.mix.config import MixRecipe, MixSettings, TokenizerSettings
from corpus.mix.stages import mix_stages
from tests.mix.helpers import run_local, write_stage

os.environ.setdefault("OMP_NUM_THREADS", "1")

#: characters per document: the texts, not the per-document numbers, dominate what a batch holds
DOC_CHARS = 20_000


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        body = "".join(f"def f_{i}_{j}(x):\n    return x * {j} + {i}\n\n" for j in range(DOC_CHARS // 36))
        rows.append(
            {
                "id": f"github:mem/{i}.py",
                "text": body[:DOC_CHARS],
                "source": "github",
                "group": "code",
                "language": "Python",
                "metadata": "{}",
            }
        )
    return rows


def _peak_of_stages(root: Path, n: int, names: tuple[str, ...]) -> dict[str, int]:
    """Build a mix of n documents (one input file); tracemalloc's peak per named stage."""
    folder = root / "github" / "documents"
    write_stage(folder, _rows(n), files=1)
    settings = MixRecipe(
        tokenizer=TokenizerSettings(vocab_size=1000, sample_documents=400),
        mix=MixSettings(targets={"code": 1.0}),
    )
    stages = mix_stages([str(folder)], str(root), settings, seed=3, tasks=1)
    peaks = {}
    for stage in stages:
        if stage.name not in names:
            run_local([stage])
            continue
        tracemalloc.start()
        try:
            run_local([stage])
            peaks[stage.name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return peaks


def test_count_and_shard_memory_does_not_grow_with_the_input(tmp_path, monkeypatch):
    monkeypatch.setattr(steps, "ENCODE_BATCH_CHARS", 4 * DOC_CHARS)
    monkeypatch.setattr(shard_writer, "ENCODE_BATCH_CHARS", 4 * DOC_CHARS)
    names = ("tokens", "shards")
    small = _peak_of_stages(tmp_path / "small", 15, names)
    large = _peak_of_stages(tmp_path / "large", 150, names)
    assert small.keys() == large.keys() == set(names)
    # the count stage holds a run of texts and per-document numbers: 10x the documents may add
    # their numbers, not their texts (those alone would be 10x the small peak)
    assert large["tokens"] < 1.6 * small["tokens"] + (1 << 20), (small, large)
    # the shard stage holds one batch of copies for its Parquet twin as Arrow data (not traced
    # here) and a run of texts as Python strings
    assert large["shards"] < 1.6 * small["shards"] + (1 << 20), (small, large)


@pytest.mark.parametrize("n", [5])
def test_text_runs_cover_every_row_once(tmp_path, n):
    from corpus.mix.documents import RowStream

    folder = tmp_path / "docs"
    write_stage(folder, _rows(n), files=1)
    stream = RowStream(str(folder / "data" / "00000.parquet"), ["id"], batch_rows=2)
    ids = [i for k in (3, 0, 2) for run in stream.take(k) for i in run.column(0).to_pylist()]
    stream.close()
    assert ids == [f"github:mem/{i}.py" for i in range(n)]
