"""The demo build's shards: the planned mix within half a point, and every shard sound."""

from __future__ import annotations

import json

import pytest

from corpus.shards.verify import verify_shards


@pytest.fixture(scope="module")
def demo(demo_output):
    if not (demo_output / "mix" / "shards").is_dir():
        pytest.skip("the demo recipe does not run the mix and shard stages")
    return demo_output


def test_demo_shares_are_within_half_a_point_of_the_plan(demo):
    manifest = json.loads((demo / "manifest.json").read_text())
    realised = manifest["mix"]["realised"]
    for g, r in realised.items():
        if r["planned_share"] > 0:
            assert abs(r["share_error_pp"]) < 0.5, (g, r)
    assert manifest["megatron"]["data_path"] and manifest["megatron"]["eos_id"] >= 0


def test_demo_shards_verify(demo):
    report = verify_shards(str(demo))
    assert report["problems"] == []
    assert report["shards"] >= 1 and report["tokens"] > 0
