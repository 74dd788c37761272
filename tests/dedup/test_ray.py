"""The dedup stages on a real local Ray instance give the same result as the local executor."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from corpus.app.runner import RunSettings, run_stages
from dedup.config import DedupConfig
from dedup.evaluation import plant_variant, real_texts
from dedup.stages import dedup_stages
from tests.dedup.helpers import doc, drops, kept_ids, run_dedup, write_input

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_matches_local(tmp_path: Path, ray_instance):
    rng = random.Random(1)
    texts = real_texts(20, seed=7)
    docs = [doc(f"d{i:02d}", t) for i, t in enumerate(texts)]
    docs += [doc(f"d{i:02d}~n", plant_variant(t, 0.9, rng)[0]) for i, t in enumerate(texts[:6])]
    docs += [doc(f"d{i:02d}~c", t) for i, t in enumerate(texts[6:9])]
    for name in ("local", "ray"):
        write_input(tmp_path / name, docs)
    run_dedup(tmp_path / "local")
    stages = dedup_stages(DedupConfig(), "text", str(tmp_path / "ray"), 2)
    run_stages(stages, RunSettings(kind="ray", workers=2))
    assert kept_ids(tmp_path / "ray") == kept_ids(tmp_path / "local")
    assert drops(tmp_path / "ray") == drops(tmp_path / "local")
    assert len(drops(tmp_path / "ray")) == 9


@pytest.mark.ray
@pytest.mark.slow
def test_ray_component_rounds_match_local(tmp_path: Path, ray_instance):
    rng = random.Random(2)
    texts = real_texts(12, seed=7)
    docs = [doc(f"d{i:02d}", t) for i, t in enumerate(texts)]
    docs += [doc(f"d{i:02d}~n", plant_variant(t, 0.9, rng)[0]) for i, t in enumerate(texts[:4])]
    docs += [doc(f"d{i:02d}~c", t) for i, t in enumerate(texts[4:6])]
    for name in ("local", "ray"):
        write_input(tmp_path / name, docs)
    run_dedup(tmp_path / "local")
    config = DedupConfig(cluster_rounds=20, cluster_shards=2)
    run_stages(dedup_stages(config, "text", str(tmp_path / "ray"), 2), RunSettings(kind="ray", workers=2))
    assert drops(tmp_path / "ray") == drops(tmp_path / "local")
    assert len(drops(tmp_path / "ray")) == 6
