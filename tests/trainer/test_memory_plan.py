"""The memory planner against the real trainer's memory, the `--gpu-memory` refusal, and the sizes.

Measurement (CPU, the real `Trainer`, one process): after one warm-up step (which creates Adam's
moments), the model states are the bytes of every distinct storage behind the parameters, megatron's
gradient buffers and the optimizer's state tensors; a second step then runs under the PyTorch
profiler with `profile_memory`, and the running sum of its allocator events (every CPU tensor
allocation and free, in time order) gives the step's peak growth over those states: saved
activations, the loss's logits, gradients in flight, dispatch copies. Measured peak = states + that
growth. Not covered: Python objects, the C allocator's own overhead, and (CPU) any CUDA margin.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

from corpus.core.errors import UserError
from tests.trainer.conftest import run_cli, save_recipe, tiny_recipe
from trainer.memory_plan import (
    GiB,
    Layout,
    even_layers,
    parse_memory_size,
    plan_memory,
    recipe_layout,
    suggest_layout,
    total_parameters,
)
from trainer.model.shapes import shape_counts
from trainer.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _state_bytes(trainer) -> int:
    import torch

    storages: dict[int, int] = {}

    def add(t) -> None:
        if torch.is_tensor(t):
            st = t.untyped_storage()
            storages[st.data_ptr()] = st.nbytes()

    for p in trainer.model.parameters():
        for t in (p, getattr(p, "main_grad", None), p.grad):
            add(t)
    for opt in getattr(trainer.optimizer, "chained_optimizers", [trainer.optimizer]):
        inner = getattr(opt, "optimizer", opt)
        for state in inner.state.values():
            for v in state.values():
                add(v)
    return sum(storages.values())


def _profiled_peak_growth(step) -> int:
    """Peak of the running sum of CPU allocator events while `step()` runs (bytes over the start)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted(
        (ev.start_ns(), ev.nbytes())
        for ev in prof.profiler.kineto_results.events()
        if ev.name() == "[memory]"
    )
    assert events, "the profiler recorded no allocator events"
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


@pytest.fixture(scope="module", params=["none", "full"])
def measured(request, manifest):
    """recipes/train-tiny.yaml on the test shards, trained in this process: (recipe, states, peak)."""
    saved = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from trainer.distributed import shutdown
    from trainer.train import Trainer

    recipe = load_recipe(
        RECIPES / "train-tiny.yaml",
        {
            "data.manifest": str(manifest),
            "training.checkpoint_dir": None,
            "training.eval_interval": 0,
            "parallel.recompute": request.param,
        },
    )
    try:
        trainer = Trainer(recipe, progress=False, log=lambda _: None)
        trainer.train_step()  # creates the optimizer state
        states = _state_bytes(trainer)
        growth = _profiled_peak_growth(trainer.train_step)
        planned_recipe = trainer.recipe  # vocab_size resolved from the manifest, as the planner needs
    finally:
        shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return planned_recipe, states, states + growth


def test_prediction_within_20_percent_of_measured_peak(measured):
    recipe, states, peak = measured
    plan = plan_memory(recipe, device="cpu")
    assert plan.layout.gpus == 1 and plan.num_microbatches == 2
    stage = plan.peak
    # states are counted exactly (fp32: 4 weight + 4 gradient + 8 Adam bytes per parameter)
    assert abs(stage.states - states) <= 0.01 * states
    assert stage.states == 16 * stage.parameters
    assert abs(plan.peak_bytes - peak) <= 0.20 * peak, (plan.peak_bytes, peak)


def test_full_recompute_keeps_only_layer_inputs(measured):
    recipe, _, _ = measured
    plain = plan_memory(
        recipe.model_copy(update={"parallel": recipe.parallel.model_copy(update={"recompute": "none"})}),
        device="cpu",
    )
    full = plan_memory(
        recipe.model_copy(update={"parallel": recipe.parallel.model_copy(update={"recompute": "full"})}),
        device="cpu",
    )
    assert full.peak.activations < plain.peak.activations / 3


def test_lite_and_full_match_the_reference_sizes():
    lite = load_recipe(RECIPES / "train-lite.yaml")
    full = load_recipe(RECIPES / "train-full.yaml")
    for recipe, total, active in ((lite, 15.7e9, 2.4e9), (full, 236e9, 21e9)):
        c = shape_counts(recipe.model)
        assert abs(c.total - total) / total < 0.01 and abs(c.active - active) / active < 0.03
        # the ranks' shards add back up to the whole model, for the recipe's layout and others
        for layout in (None, Layout(1, 4, 8, 16, None, True, "full"), Layout(1, 1, 1, 1)):
            plan = plan_memory(recipe, layout)
            assert abs(total_parameters(plan, recipe) - c.total) < 1e-6 * c.total
    # expert parallelism alone (8-way, no pipeline) leaves ~41B parameters on each GPU of the full model
    ep8 = plan_memory(full, Layout(1, 1, 8, 8))
    assert 36e9 < ep8.stages[0].parameters < 45e9
    # megatron's mixed precision: 18 bytes per parameter; ZeRO-1 shards the 12 optimizer bytes
    s = ep8.stages[0]
    assert (s.weights, s.gradients, s.optimizer) == (2 * s.parameters, 4 * s.parameters, 12 * s.parameters)
    zero = plan_memory(full, Layout(1, 1, 8, 64, None, True)).stages[0]
    assert zero.optimizer < s.optimizer / 4


def test_shipped_layouts_fit_80gb():
    lite = load_recipe(RECIPES / "train-lite.yaml")
    full = load_recipe(RECIPES / "train-full.yaml")
    lite_plan = plan_memory(lite)
    assert lite_plan.layout.gpus == 8 and lite_plan.fits(80 * GiB)
    full_plan = plan_memory(full)
    assert (full_plan.layout.pipeline, full_plan.layout.expert, full_plan.layout.gpus) == (16, 8, 128)
    assert full_plan.fits(80 * GiB)
    # the first stage keeps 16 micro-batches in flight, the last one
    assert (
        full_plan.stages[0].microbatches_in_flight == 16 and full_plan.stages[-1].microbatches_in_flight == 1
    )
    # without recompute the same layout does not fit
    no_rc = plan_memory(full, Layout(1, 16, 8, 8, None, True, "none"))
    assert not no_rc.fits(80 * GiB)


def test_gpu_memory_refuses_and_suggests_a_layout_that_fits():
    proc = run_cli(
        "train",
        str(RECIPES / "train-full.yaml"),
        "--dry-run",
        "--gpu-memory",
        "80GB",
        "--set",
        "parallel.pipeline=1",
        "--set",
        "parallel.recompute=none",
        "--gpus",
        "256",
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "more than --gpu-memory 80.0 GiB" in error[0]
    assert "smallest layout that fits: 256 GPUs" in error[0]
    options = shlex.split(re.search(r"\(--gpus (\d+) (.*?)\)", error[0]).group(2))
    overrides = dict(o.split("=", 1) for o in options[1::2])
    recipe = load_recipe(RECIPES / "train-full.yaml", {k: yaml.safe_load(v) for k, v in overrides.items()})
    assert plan_memory(recipe, gpus=256).fits(80 * GiB)
    # the same recipe with the suggestion applied passes the CLI check
    ok = run_cli(
        "train",
        str(RECIPES / "train-full.yaml"),
        "--dry-run",
        "--gpu-memory",
        "80GB",
        "--gpus",
        "256",
        *options,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    info = json.loads(ok.stdout)
    assert info["memory"]["layout"]["gpus"] == 256 and info["memory"]["peak_bytes"] <= 80 * GiB
    assert "fits" in ok.stderr


def test_suggestion_without_a_gpu_count_is_the_fewest_gpus():
    full = load_recipe(RECIPES / "train-full.yaml")
    best = suggest_layout(full, 80 * GiB)
    assert best is not None and best.fits(80 * GiB)
    n = best.layout.gpus
    assert suggest_layout(full, 80 * GiB, gpus=n // 2) is None
    assert suggest_layout(full, 16 * GiB, gpus=8) is None


def test_layout_inputs_are_checked():
    assert even_layers(60, 16) == (3, *[4] * 12, 3, 3, 3)
    assert even_layers(4, 2) == (2, 2) and sum(even_layers(27, 4)) == 27
    assert parse_memory_size("80GB") == 80 * GiB == parse_memory_size("80") == parse_memory_size("81920MiB")
    assert parse_memory_size("141 GiB") == 141 * GiB
    with pytest.raises(UserError, match="--gpu-memory"):
        parse_memory_size("lots")
    full = load_recipe(RECIPES / "train-full.yaml")
    with pytest.raises(UserError, match=r"not a multiple of parallel\.expert"):
        recipe_layout(full, gpus=16 * 4)
    with pytest.raises(UserError, match="layers_per_stage sums to 59"):
        load_recipe(RECIPES / "train-full.yaml", {"parallel.layers_per_stage": [3] * 15 + [14]})
    with pytest.raises(UserError, match="2 entries for pipeline=16"):
        load_recipe(RECIPES / "train-full.yaml", {"parallel.layers_per_stage": [30, 30]})


def test_training_refuses_a_pipeline_without_its_ranks_in_one_line(manifest, tmp_path):
    path = save_recipe(tmp_path / "r.yaml", tiny_recipe(manifest))
    proc = run_cli("train", str(path), "--set", "parallel.pipeline=2", timeout=120)
    assert proc.returncode == 2
    assert "world size 1 does not fit parallel.pipeline=2 stages" in proc.stderr
    assert "Traceback" not in proc.stderr
