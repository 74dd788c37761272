"""The streamed mix plan: the same copies as the in-memory plan, in memory that does not grow with
the documents.

`plan_copies` (sort every document of a group) is the reference: the streamed plan must give each
document the same number of copies and each group the same plan on inputs built to hit its edges:
many equal order keys (ties broken by input place), few distinct costs (ties between cost values),
buckets of one to eight per key space and first-fit windows of one document (many passes), budgets
that repeat groups, renormalised shares, and every kind of improving move. Random numbers stand in
for documents here because the edges need far more documents and ties than a real corpus of a few
thousand files shows; the real builds are held byte for byte by the output-hash tests.
"""

from __future__ import annotations

import re
import shutil
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import corpus.mix.plan_stream as plan_stream
from corpus.core.errors import UserError
from corpus.mix.config import MixSettings
from corpus.mix.plan import plan_copies
from corpus.mix.plan_stream import Totals, places, plan_streamed
from corpus.mix.steps import COUNT_SCHEMA, PlanStep

NAMES = ["code", "math", "text"]


def _inputs(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    files = []
    for _ in range(int(rng.integers(1, 5))):
        n = int(rng.integers(0, 300))
        codes = rng.choice(3, n, p=[0.6, 0.15, 0.25]).astype(np.int32)
        distinct = int(rng.choice([5, 50, 0]))
        if distinct:  # few distinct keys, spread over the buckets
            keys = rng.integers(0, distinct, n, dtype=np.uint64, endpoint=True) * np.uint64(1 << 58)
        else:
            keys = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
        costs = rng.integers(1, int(rng.choice([3, 30, 3000])), n).astype(np.int64)
        files.append((codes, costs, keys))
    return files


def _compare(seed: int, bits: int, window: int, settings: MixSettings) -> str:
    files = _inputs(np.random.default_rng(seed))

    def scan():
        for fi, (c, cost, k) in enumerate(files):
            for lo in range(0, c.size, 37):
                hi = min(lo + 37, c.size)
                yield c[lo:hi], cost[lo:hi], k[lo:hi], places(fi, lo, hi - lo)

    totals = Totals(len(NAMES), bits)
    for c, cost, k, _ in scan():
        totals.add(c, cost, k)
    codes = np.concatenate([f[0] for f in files])
    costs = np.concatenate([f[1] for f in files])
    keys = np.concatenate([f[2] for f in files])
    where = np.concatenate([places(fi, 0, f[0].size) for fi, f in enumerate(files)])
    try:
        ref = plan_copies(
            {g: keys[codes == i] for i, g in enumerate(NAMES)},
            {g: costs[codes == i] for i, g in enumerate(NAMES)},
            settings,
            seed=0,
        )
    except UserError as e:
        with pytest.raises(UserError, match=re.escape(str(e))):
            plan_streamed(scan, totals, NAMES, settings, window=window)
        return "error"
    plans, cuts, total = plan_streamed(scan, totals, NAMES, settings, window=window)
    assert total == ref[2]
    for i, g in enumerate(NAMES):
        m = codes == i
        got = cuts[g].full + cuts[g].taken(keys[m], where[m]) if plans[g].share > 0 else np.zeros(m.sum())
        assert np.array_equal(ref[1][g], got), (seed, g)
        assert plans[g] == ref[0][g], (seed, g)
    return "ok"


def test_the_streamed_plan_gives_every_document_the_in_memory_plans_copies(monkeypatch):
    moves: Counter = Counter()
    for name, kind in (("_out", "left out"), ("_in", "taken")):
        real = getattr(plan_stream, name)

        def count(cut, pos, cost, real=real, kind=kind):
            moves[kind] += 1
            return real(cut, pos, cost)

        monkeypatch.setattr(plan_stream, name, count)
    outcomes: Counter = Counter()
    for seed in range(250):
        rng = np.random.default_rng(10**6 + seed)
        settings = [
            MixSettings(),
            MixSettings(min_used_share=0, total_tokens=int(rng.integers(100, 100_000))),
            MixSettings(missing_groups="renormalize"),
        ][seed % 3]
        outcomes[
            _compare(seed, int(rng.choice([1, 2, 3, 16])), int(rng.choice([1, 3, 1 << 18])), settings)
        ] += 1
    assert outcomes["ok"] >= 240, outcomes
    # the improving moves ran, both ways, many times
    assert moves["left out"] > 150 and moves["taken"] > 150, moves


def _count_files(folder: Path, files: int, rows: int) -> None:
    rng = np.random.default_rng(files)
    (folder / "counts").mkdir(parents=True)
    groups = np.array(NAMES)
    for fi in range(files):
        g = groups[rng.choice(3, rows, p=[0.7, 0.1, 0.2])]
        cost = rng.integers(20, 500, rows)
        table = pa.table(
            {
                "file": np.full(rows, fi, np.int32),
                "row": np.arange(rows),
                "id": [f"github:r/{fi}/{i}.py" for i in range(rows)],
                "source": ["github"] * rows,
                "group": g,
                "language": ["Python"] * rows,
                "chars": cost * 3,
                "tokens": cost - 1,
                "cost": cost,
                "order": rng.integers(0, 2**64 - 1, rows, dtype=np.uint64),
            },
            schema=COUNT_SCHEMA,
        )
        pq.write_table(table, folder / "counts" / f"{fi:05d}.parquet")


def _plan_peak(root: Path, files: int, rows: int) -> tuple[int, dict]:
    counts, out = root / f"counts-{files}", root / f"plan-{files}"
    _count_files(counts, files, rows)
    step = PlanStep(str(counts), str(out), MixSettings(min_used_share=0), seed=1)
    step.bind_stage(str(out), "mix/plan")
    tracemalloc.start()
    try:
        for _ in step.run(None, 0, 1):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    shutil.rmtree(counts)
    drops = pq.read_table(out / "drops" / "plan" / "00000.parquet")
    selected = pq.read_table(out / "selection", columns=["copies"])
    kept = int((selected.column("copies").to_numpy() > 0).sum())
    return peak, {"drops": drops.num_rows, "rows": selected.num_rows, "kept": kept}


def test_the_plan_holds_the_same_memory_for_four_times_the_documents(tmp_path):
    rows = 50_000
    small, s = _plan_peak(tmp_path, 4, rows)
    large, big = _plan_peak(tmp_path, 16, rows)
    # every document is either selected or has its drop record
    assert s["rows"] == 4 * rows and s["kept"] + s["drops"] == s["rows"]
    assert big["rows"] == 16 * rows and big["kept"] + big["drops"] == big["rows"]
    # the in-memory plan held about 84 bytes a document (34 MB more for the larger input)
    assert large < small * 1.25, (small, large)
    assert (large - small) / (12 * rows) < 10, (small, large)
