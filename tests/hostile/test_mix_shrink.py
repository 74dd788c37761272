"""A mix whose smallest group caps the others.

Without `mix.total_tokens` the plan's total is set by the group with the fewest tokens for its
share, and every other group is down-sampled to it: a tiny text source once turned millions of
code tokens into a few thousand while the realised shares still matched the plan. Such a build
must stop in the plan stage, before any shard, with one line naming the limiting group and both
ways out; with a budget it repeats the small group and says how often; with `allow_shrink: true`
it builds the capped mix as before, and says how much of the data it used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from corpus.core.errors import UserError
from corpus.mix.stages import mix_stages
from tests.conftest import DEMO_RECIPE, REPO, one_line_error, run_cli
from tests.mix.helpers import make_inputs, run_local, small_settings

ESSAYS = REPO / "recipes" / "demo-data" / "text" / "essays-a.jsonl"


def _recipe(tmp_path: Path, output: Path, **mix: object) -> Path:
    """The demo's GitHub repositories (code) beside a text source of a single short essay."""
    demo = yaml.safe_load(DEMO_RECIPE.read_text())
    github = demo["sources"]["github"]
    repos = [dict(r, archive=str(DEMO_RECIPE.parent / r["archive"])) for r in github["repos"]]
    (tmp_path / "tiny.jsonl").write_text(ESSAYS.read_text().splitlines()[0] + "\n")
    recipe = {
        "name": "shrink",
        "output": str(output),
        "seed": 1234,
        "executor": {"tasks": 2, "workers": 1},
        "sources": {
            "github": {"repos": repos, "curation": github["curation"]},
            "text": {"paths": ["tiny.jsonl"]},
        },
        "mix": {"targets": {"code": 0.6, "text": 0.4}, **mix},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _shard_files(out: Path) -> list[Path]:
    return [p for p in (out / "mix" / "shards").rglob("*") if p.is_file() and p.suffix in (".bin", ".idx")]


def test_a_tiny_text_source_stops_the_build_before_any_shard(tmp_path: Path) -> None:
    out = tmp_path / "out"
    line = one_line_error(run_cli("build", str(_recipe(tmp_path, out))))
    assert line.startswith("error: mix: group text (")
    assert "caps the plan" in line and "under mix.min_used_share 0.5" in line
    assert "set mix.total_tokens" in line and "whole epochs plus a seeded partial one" in line
    assert line.endswith("or mix.allow_shrink: true")
    # the counts exist (the plan needed them); no plan, selection, shard or manifest was written
    assert list((out / "mix" / "tokens" / "counts").glob("*.parquet"))
    assert not (out / "mix" / "plan" / "plan.json").exists()
    assert not (out / "mix" / "plan" / "selection").exists()
    assert not (out / "mix" / "shards").exists()
    assert _shard_files(out) == []
    assert not (out / "manifest.json").exists()


def test_a_budget_repeats_the_small_group_and_the_manifest_says_how_often(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("build", str(_recipe(tmp_path, out, total_tokens=8000)), check=True)
    mix = json.loads((out / "manifest.json").read_text())["mix"]
    text, code = mix["plan"]["text"], mix["plan"]["code"]
    # text is repeated: whole epochs plus a seeded partial one; every document of both groups is used
    assert text["full_epochs"] >= 10 and text["epochs"] > 10
    assert 1 < code["epochs"] < 2 and code["full_epochs"] == 1
    for g in (text, code):
        assert g["used_tokens"] == g["available_tokens"] and g["used_share"] == 1.0
        assert g["planned_tokens"] == pytest.approx(g["epochs"] * g["available_tokens"], abs=1)
    assert mix["realised"]["text"]["epochs"] > 10
    assert mix["realised"]["text"]["available_tokens"] == text["available_tokens"]
    assert mix["used_share"] == 1.0 and mix["limiting_group"] == "text"  # now the most repeated
    assert mix["available_tokens"] == text["available_tokens"] + code["available_tokens"]
    assert abs(mix["total_tokens"] - 8000) / 8000 < 0.05
    assert _shard_files(out)


@pytest.mark.parametrize(
    "mix", [{"allow_shrink": True}, {"min_used_share": 0}], ids=["allow_shrink", "check_off"]
)
def test_allow_shrink_builds_the_capped_mix_and_says_how_much_it_used(tmp_path: Path, mix: dict) -> None:
    out = tmp_path / "out"
    run_cli("build", str(_recipe(tmp_path, out, **mix)), check=True)
    m = json.loads((out / "manifest.json").read_text())["mix"]
    text, code = m["plan"]["text"], m["plan"]["code"]
    assert m["limiting_group"] == "text"
    assert text["epochs"] == 1.0 and text["used_share"] == 1.0
    assert code["epochs"] < 0.5 and code["used_tokens"] == code["planned_tokens"] < code["available_tokens"]
    assert m["used_tokens"] == text["used_tokens"] + code["used_tokens"]
    assert (
        m["used_share"] == pytest.approx(m["used_tokens"] / m["available_tokens"]) and m["used_share"] < 0.5
    )
    assert m["max_share_error_pp"] < 5
    assert _shard_files(out)


def test_the_plan_stage_raises_the_user_error_in_process(tmp_path: Path) -> None:
    """Through the runner as a library: the same error, not wrapped, and no shard written."""
    inputs = make_inputs(tmp_path, code=160, text=2, math=300)
    with pytest.raises(UserError, match=r"^mix: group text \(.*or mix\.allow_shrink: true$"):
        run_local(mix_stages(inputs, str(tmp_path), small_settings(), seed=7, tasks=2))
    assert _shard_files(tmp_path) == []
    assert not (tmp_path / "mix" / "plan" / "plan.json").exists()
