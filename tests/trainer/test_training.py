"""End-to-end CPU training of the tiny DeepSeek-V2 MoE on real shards, through `coderforge train`.

One process, two gloo processes with expert parallelism (torchrun), and a stop/resume through
megatron-core dist_checkpointing must all trace the same loss curve.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.trainer.conftest import STEPS, save_recipe, tiny_recipe, train_cli


def test_tiny_model_loss_falls(reference_run):
    result, tmp = reference_run
    losses = result["losses"]
    assert len(losses) == STEPS
    assert losses[0] > 5.0  # ~ln(256) at initialisation
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0
    assert [s for s, _ in result["eval_losses"]] == [25, 50, 50]
    assert result["eval_losses"][-1][1] < losses[0] - 1.0
    last = result["steps"][-1]
    # the three balance losses are logged and near 1 (their value at perfect balance)
    for name in ("expert_balance_loss", "device_balance_loss", "comm_balance_loss"):
        assert 0.5 < last["aux"][name] < 3.0
    # per-expert load: 2 MoE layers x 8 experts, every token routed to top-2 of them
    assert len(last["expert_load"]) == 2 and all(len(layer) == 8 for layer in last["expert_load"])
    assert all(sum(layer) == 8 * 64 * 2 for layer in last["expert_load"])
    lines = (tmp / "ckpt" / "pretrain" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == STEPS
    assert (tmp / "ckpt" / "pretrain" / "latest").read_text().strip() == "step_0000050"


@pytest.fixture(scope="module")
def expert_parallel_run(manifest, tmp_path_factory):
    """The same recipe on two gloo processes with expert_model_parallel_size=2, stopped at step 25."""
    tmp = tmp_path_factory.mktemp("ep2")
    recipe = tiny_recipe(
        manifest,
        parallel={"expert": 2},
        training={"steps": STEPS, "save_interval": 25, "checkpoint_dir": str(tmp / "ckpt")},
    )
    result = train_cli(
        save_recipe(tmp / "ep2.yaml", recipe), tmp / "ep2.json", "--nproc", "2", "--steps", "25"
    )
    return result, tmp


def test_two_processes_with_expert_parallelism_match_one(reference_run, expert_parallel_run):
    ref, _ = reference_run
    result, _ = expert_parallel_run
    assert result["final_step"] == 25
    for a, b in zip(ref["losses"][:25], result["losses"], strict=True):
        assert abs(a - b) < 1e-3 * max(1.0, abs(a))
    assert all(sum(layer) == 8 * 64 * 2 for layer in result["steps"][-1]["expert_load"])


def test_resume_into_another_parallel_layout(reference_run, expert_parallel_run, manifest, tmp_path):
    """A checkpoint written by 2 expert-parallel ranks resumes in one process on the same curve."""
    ref, _ = reference_run
    _, ep_dir = expert_parallel_run
    shutil.copytree(ep_dir / "ckpt", tmp_path / "ckpt")
    recipe = tiny_recipe(manifest, training={"steps": STEPS, "checkpoint_dir": str(tmp_path / "ckpt")})
    resumed = train_cli(save_recipe(tmp_path / "one.yaml", recipe), tmp_path / "one.json")
    assert resumed["start_step"] == 25 and resumed["final_step"] == STEPS
    for a, b in zip(ref["losses"][25:], resumed["losses"], strict=True):
        assert abs(a - b) < 1e-3 * max(1.0, abs(a))


def test_resume_continues_the_same_curve(reference_run, manifest, tmp_path):
    """Start a fresh run folder from the reference run's step-25 checkpoint and finish it."""
    ref, ref_dir = reference_run
    ckpt = tmp_path / "ckpt" / "pretrain"
    ckpt.mkdir(parents=True)
    shutil.copytree(ref_dir / "ckpt" / "pretrain" / "step_0000025", ckpt / "step_0000025")
    (ckpt / "latest").write_text("step_0000025\n")
    recipe = tiny_recipe(manifest, training={"steps": STEPS, "checkpoint_dir": str(tmp_path / "ckpt")})
    resumed = train_cli(save_recipe(tmp_path / "tiny.yaml", recipe), tmp_path / "resumed.json")
    assert resumed["start_step"] == 25 and resumed["final_step"] == STEPS
    for a, b in zip(ref["losses"][25:], resumed["losses"], strict=True):
        assert abs(a - b) < 1e-5


def test_long_context_stage_starts_from_pretrained_weights(reference_run, manifest, tmp_path):
    """A YaRN stage at 2x the length starts from the finished pretraining checkpoint."""
    ref, ref_dir = reference_run
    shutil.copytree(ref_dir / "ckpt", tmp_path / "ckpt")
    recipe = tiny_recipe(manifest, training={"steps": STEPS, "checkpoint_dir": str(tmp_path / "ckpt")})
    recipe["long_context"] = {
        "yarn": {"scaling_factor": 2.0, "original_max_position_embeddings": 64},
        "stages": [{"name": "long-128", "seq_length": 128, "steps": 3, "global_batch_size": 4}],
    }
    out = train_cli(
        save_recipe(tmp_path / "long.yaml", recipe), tmp_path / "long.json", "--stage", "long-128"
    )
    assert out["stage"] == "long-128" and out["final_step"] == 3
    # trained weights, not a fresh model (which starts at ~ln 256 = 5.5)
    assert out["losses"][0] < ref["losses"][0] - 1.0
    assert (tmp_path / "ckpt" / "long-128" / "latest").read_text().strip() == "step_0000003"
