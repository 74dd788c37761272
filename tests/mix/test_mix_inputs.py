"""Bad input to the mix: corrupt records are counted and recorded, unusable files are named."""

from __future__ import annotations

import json
import os
import shutil

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.core.errors import UserError
from corpus.core.schema import DOCUMENT_SCHEMA
from corpus.mix.stages import mix_stages
from tests.mix.helpers import make_inputs, run_local, small_settings

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _digests(root):
    import hashlib

    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "mix" / "shards").rglob("*"))
        if p.suffix in (".bin", ".idx", ".parquet")
    }


def test_corrupt_records_are_dropped_with_reasons(tmp_path):
    inputs = make_inputs(tmp_path, code=30, text=10, math=40)
    bad = [
        {
            "id": None,
            "text": "x = 1",
            "source": "github",
            "group": "code",
            "language": "Python",
            "metadata": "{}",
        },
        {
            "id": "github:bad/none",
            "text": None,
            "source": "github",
            "group": "code",
            "language": None,
            "metadata": "{}",
        },
        {
            "id": "github:bad/empty",
            "text": "",
            "source": "github",
            "group": "code",
            "language": "Python",
            "metadata": "{}",
        },
    ]
    pq.write_table(pa.Table.from_pylist(bad, schema=DOCUMENT_SCHEMA), f"{inputs[0]}/data/00009.parquet")
    m = run_local(mix_stages(inputs, str(tmp_path), small_settings(), seed=1, tasks=2))
    drops = pl.read_parquet(list((tmp_path / "mix" / "tokens" / "drops").rglob("*.parquet")))
    reasons = dict(drops.group_by("reason").len().iter_rows())
    assert reasons == {"bad-record": 2, "empty": 1, "no-mix-group": 1}
    assert any(i.endswith("00009.parquet#0") for i in drops["id"].to_list())  # a record without an id
    stats = json.loads((tmp_path / "mix" / "tokens" / "stats.json").read_text())
    counters = {k: v for step in stats for k, v in step["stats"].items()}
    dropped = counters["dropped"]
    assert (dropped["total"] if isinstance(dropped, dict) else dropped) == 4
    assert m["mix"]["max_share_error_pp"] < 0.5


def test_a_file_that_is_not_a_document_file_is_named(tmp_path):
    inputs = make_inputs(tmp_path, code=10, text=5, math=10)
    pq.write_table(pa.table({"content": ["no id, no text"]}), f"{inputs[1]}/data/00005.parquet")
    with pytest.raises(UserError, match=r"00005\.parquet: not a document file \(missing columns id, text"):
        run_local(mix_stages(inputs, str(tmp_path), small_settings(), seed=1, tasks=1))


def test_an_input_changed_after_counting_is_refused(tmp_path):
    inputs = make_inputs(tmp_path, code=10, text=6, math=10)
    settings = small_settings()
    settings.mix.allow_shrink = True  # ten math documents cap the plan; this test is about the inputs
    stages = mix_stages(inputs, str(tmp_path), settings, seed=1, tasks=1)
    run_local(stages[:3])
    victim = tmp_path / "github" / "documents" / "data" / "00001.parquet"
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(UserError, match=r"00001\.parquet: input file changed since the mix listed it"):
        run_local(stages[3:])


def test_a_crashed_shard_stage_leaves_no_partial_shard_and_resumes_to_the_same_bytes(tmp_path):
    clean = tmp_path / "clean"
    run_local(mix_stages(make_inputs(clean), str(clean), small_settings(), seed=5, tasks=2))

    out = tmp_path / "crash"
    inputs = make_inputs(out)
    stages = mix_stages(inputs, str(out), small_settings(), seed=5, tasks=2)
    run_local(stages[:3])
    # an input file is overwritten (same size) after counting: the shard task reading it dies mid-way
    victim = out / "text" / "documents" / "data" / "00001.parquet"
    saved = victim.read_bytes()
    victim.write_bytes(b"\0" * len(saved))
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises for a garbage file
        run_local(stages[3:])
    leftovers = [p for p in (out / "mix" / "shards").rglob("*") if p.is_file()]
    assert not [p for p in leftovers if ".tmp-" in p.name]
    for p in leftovers:
        if p.suffix == ".bin":  # a .bin only ever appears with its .idx
            assert p.with_suffix(".idx").is_file()
    victim.write_bytes(saved)
    stages = mix_stages(inputs, str(out), small_settings(), seed=5, tasks=2)
    run_local(stages)
    assert _digests(out) == _digests(clean)
    shutil.rmtree(clean)
