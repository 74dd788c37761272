"""Pipeline parallelism on gloo ranks: the same loss curve as one process, and resumes across layouts.

The tiny recipe (dense first layer, then two MoE layers) is split unevenly, [1, 2] layers per stage,
so the first stage has no MoE layer at all. The reference is the session's one-process run (50
steps, shared with test_training); the pipeline runs are short (2-3 steps) because every rank is a
fresh process on a small CPU: two for PP=2, four for PP=2 x EP=2. Tolerance: 1e-5 absolute on every step's loss (fp32 on the CPU; the splits change only
where the sums are computed, and in practice the curves agree to the last bit).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.trainer.conftest import STEPS, save_recipe, tiny_recipe, train_cli

TOL = 1e-5
STAGES = {"pipeline": 2, "layers_per_stage": [1, 2]}


def _recipe(manifest: Path, ckpt: Path, **parallel: Any) -> dict[str, Any]:
    """The reference run's recipe (same schedule, so the same curve) with another layout."""
    return tiny_recipe(
        manifest,
        parallel=parallel,
        training={"steps": STEPS, "eval_interval": 25, "save_interval": 25, "checkpoint_dir": str(ckpt)},
    )


def _resume_from(src: Path, step: int, dst: Path) -> None:
    """A fresh run folder whose latest checkpoint is `src`'s at `step`."""
    stage = dst / "pretrain"
    stage.mkdir(parents=True)
    name = f"step_{step:07d}"
    shutil.copytree(src / "pretrain" / name, stage / name)
    (stage / "latest").write_text(name + "\n")


def _same_curve(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    diff = max(abs(x - y) for x, y in zip(a, b, strict=True))
    assert diff <= TOL, f"loss curves differ by {diff:.3g}"
    return diff


@pytest.fixture(scope="module")
def runs(reference_run, manifest, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Short runs against the session's one-process reference (50 steps, checkpoints at 25, 50)."""
    tmp = tmp_path_factory.mktemp("pipeline")
    out: dict[str, dict[str, Any]] = {"ref": reference_run[0]}
    # PP=2 alone, from scratch, stopped after 3 steps (and checkpointed there)
    out["pp2"] = train_cli(
        save_recipe(tmp / "pp2.yaml", _recipe(manifest, tmp / "pp2", **STAGES)),
        tmp / "pp2.json",
        "--nproc",
        "2",
        "--steps",
        "3",
    )
    # PP=2 x EP=2 on four ranks, resuming the one-process run at step 25 (a layout change)
    _resume_from(reference_run[1] / "ckpt", 25, tmp / "pp2ep2")
    out["pp2ep2"] = train_cli(
        save_recipe(tmp / "pp2ep2.yaml", _recipe(manifest, tmp / "pp2ep2", expert=2, **STAGES)),
        tmp / "pp2ep2.json",
        "--nproc",
        "4",
        "--steps",
        "3",
    )
    # one process resuming the PP=2 run's step 3
    _resume_from(tmp / "pp2", 3, tmp / "back")
    out["back"] = train_cli(
        save_recipe(tmp / "back.yaml", _recipe(manifest, tmp / "back")), tmp / "back.json", "--steps", "2"
    )
    return out


def test_two_stages_trace_the_one_process_curve(runs):
    ref, pp2 = runs["ref"], runs["pp2"]
    assert pp2["final_step"] == 3 and ref["losses"][0] > 5.0
    diff = _same_curve(ref["losses"][:3], pp2["losses"])
    print(f"PP=2 vs PP=1: max |loss difference| {diff:.2e}")
    # metrics that live on some stages only reach rank 0: balance losses and per-layer expert load
    mine, theirs = pp2["steps"][-1], ref["steps"][2]
    assert sorted(mine["aux"]) == ["comm_balance_loss", "device_balance_loss", "expert_balance_loss"]
    assert all(abs(mine["aux"][k] - v) <= TOL for k, v in theirs["aux"].items())
    assert mine["expert_load"] == theirs["expert_load"]
    assert all(sum(layer) == 8 * 64 * 2 for layer in mine["expert_load"])


def test_pipeline_with_expert_parallelism_resumes_a_one_process_checkpoint(runs):
    ref, run = runs["ref"], runs["pp2ep2"]
    assert run["start_step"] == 25 and run["final_step"] == 28
    diff = _same_curve(ref["losses"][25:28], run["losses"])
    print(f"PP=2 x EP=2 (resumed from PP=1 at 25) vs PP=1: max |loss difference| {diff:.2e}")
    assert run["steps"][-1]["expert_load"] == ref["steps"][27]["expert_load"]


def test_one_process_resumes_a_pipeline_checkpoint(runs):
    ref, back = runs["ref"], runs["back"]
    assert back["start_step"] == 3 and back["final_step"] == 5
    diff = _same_curve(ref["losses"][3:5], back["losses"])
    print(f"PP=1 resumed from PP=2 at 3 vs PP=1: max |loss difference| {diff:.2e}")
