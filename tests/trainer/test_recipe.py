"""Training recipes: the shipped ones validate, mistakes are one-line errors with exit code 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from corpus.core.errors import UserError
from tests.trainer.conftest import run_cli, save_recipe, tiny_recipe
from trainer.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", ["train-tiny.yaml", "train-lite.yaml", "train-full.yaml"])
def test_shipped_recipes_validate(name):
    recipe = load_recipe(RECIPES / name)
    for stage in recipe.long_context.stages:
        staged = recipe.stage(stage.name)
        assert staged.data.seq_length == stage.seq_length
        assert staged.optimizer.warmup_steps == 0


def test_paper_hyperparameters():
    lite = load_recipe(RECIPES / "train-lite.yaml")
    full = load_recipe(RECIPES / "train-full.yaml")
    for r in (lite, full):
        o = r.optimizer
        assert (o.beta1, o.beta2, o.weight_decay, o.clip_grad, o.warmup_steps, o.min_lr_ratio) == (
            0.9,
            0.95,
            0.1,
            1.0,
            2000,
            0.1,
        )
        assert [s.seq_length for s in r.long_context.stages] == [32768, 131072]
        assert r.long_context.yarn.scaling_factor == 40
    assert lite.optimizer.lr == 4.2e-4 and lite.batch.global_batch_size == 4608
    assert full.optimizer.lr == 2.4e-4 and full.batch.global_batch_size == 9216
    assert full.batch.rampup[0] == 2304
    m = full.model
    assert (m.num_groups, m.group_topk, m.routed_scaling_factor, m.device_capacity_factor) == (
        8,
        3,
        16.0,
        1.0,
    )
    assert (m.balance.expert, m.balance.device, m.balance.communication) == (0.003, 0.05, 0.02)
    assert lite.model.balance.expert == 0.001


def test_unknown_key_is_a_one_line_error(tmp_path):
    raw = tiny_recipe(tmp_path / "manifest.json")
    raw["model"]["num_expert"] = 4
    with pytest.raises(UserError, match=r"model\.num_expert"):
        load_recipe(save_recipe(tmp_path / "r.yaml", raw))


def test_file_mistakes_are_one_line_errors_naming_the_file(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(UserError, match=r"missing\.yaml: training recipe not found"):
        load_recipe(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: tiny\nmodel: [unclosed\n")
    with pytest.raises(UserError, match=r"broken\.yaml: line \d+: not valid YAML") as e:
        load_recipe(broken)
    assert "\n" not in str(e.value)
    listed = tmp_path / "listed.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match=r"listed\.yaml: a training recipe must be a YAML mapping"):
        load_recipe(listed)


def test_overrides_set_dotted_keys_and_name_the_file(tmp_path):
    path = save_recipe(tmp_path / "r.yaml", tiny_recipe(tmp_path / "manifest.json"))
    recipe = load_recipe(path, {"training.steps": 7, "model.vocab_size": None})
    assert recipe.training.steps == 7 and recipe.model.vocab_size is None
    with pytest.raises(UserError, match=r"r\.yaml: cannot set name\.x: 'name' is not a section"):
        load_recipe(path, {"name.x": 1})
    with pytest.raises(UserError, match=r"r\.yaml: training\.stepz: unknown key"):
        load_recipe(path, {"training.stepz": 7})


def test_cli_reports_bad_recipe_without_traceback(tmp_path):
    raw = tiny_recipe(tmp_path / "manifest.json")
    raw["model"]["topk"] = 99
    proc = run_cli("train", str(save_recipe(tmp_path / "r.yaml", raw)), timeout=120)
    assert proc.returncode == 2
    assert "topk=99 exceeds num_experts=8" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_reports_missing_shards(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({"megatron": {"data_path": [1.0, "shards/none"], "eos_id": 1, "vocab_size": 8}})
    )
    proc = run_cli("train", str(save_recipe(tmp_path / "r.yaml", tiny_recipe(manifest))), timeout=120)
    assert proc.returncode == 2
    assert "shards/none.bin does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dry_run_prints_sizes():
    proc = run_cli("train", str(RECIPES / "train-lite.yaml"), "--dry-run", timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["parameters_total"] == 15_706_484_224
    # which layers a launch here would take: TransformerEngine's where it is installed
    te = importlib.util.find_spec("transformer_engine") is not None
    assert info["layers"].startswith("TransformerEngine" if te else "megatron-core's local layers")


def test_tensor_parallel_without_te_or_apex_is_refused_before_launch(manifest, tmp_path):
    import importlib.util

    from trainer.cpu_compat import te_available

    if te_available() or importlib.util.find_spec("apex") is not None:
        pytest.skip("TransformerEngine or Apex present: tensor parallelism is allowed")
    path = save_recipe(tmp_path / "r.yaml", tiny_recipe(manifest))
    proc = run_cli("train", str(path), "--nproc", "2", "--set", "parallel.tensor=2", timeout=120)
    assert proc.returncode == 2
    assert "parallel.tensor > 1 needs TransformerEngine or Apex" in proc.stderr
    assert "Traceback" not in proc.stderr
