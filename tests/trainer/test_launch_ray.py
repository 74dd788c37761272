"""`--ray-address`: one training rank per Ray actor on a real local Ray instance."""

from __future__ import annotations

import pytest

from tests.trainer.conftest import STEPS, save_recipe, tiny_recipe, train_cli

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_two_ray_actors_train_like_one_process(reference_run, manifest, tmp_path):
    ref, _ = reference_run
    recipe = tiny_recipe(manifest, parallel={"expert": 2}, training={"steps": STEPS})
    ray_run = train_cli(
        save_recipe(tmp_path / "ray.yaml", recipe),
        tmp_path / "ray.json",
        "--ray-address",
        "local",
        "--nproc",
        "2",
        "--steps",
        "10",
        timeout=300,
    )
    assert ray_run["final_step"] == 10
    for a, b in zip(ref["losses"][:10], ray_run["losses"], strict=True):
        assert abs(a - b) < 1e-3 * max(1.0, abs(a))
