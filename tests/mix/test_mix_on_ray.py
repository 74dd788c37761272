"""The mix and shard stages on datatrove's Ray executor write the local executor's bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from corpus.app.manifest import merge_stage_manifests
from corpus.app.runner import RunSettings, run_stages
from corpus.mix.stages import mix_stages
from tests.mix.helpers import built_output, make_inputs, small_settings


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "mix").rglob("*"))
        if p.suffix in (".bin", ".idx", ".parquet") and "/stats/" not in p.as_posix()
    }


@pytest.mark.ray
@pytest.mark.slow
def test_ray_executor_gives_the_local_bytes(tmp_path):
    pytest.importorskip("ray")
    local = built_output()  # tasks=2, seed 7, local executor
    out = tmp_path / "ray"
    stages = mix_stages(make_inputs(out), str(out), small_settings(), seed=7, tasks=2)
    run_stages(stages, RunSettings(kind="ray", workers=2, mem_per_cpu_gb=1))
    merge_stage_manifests(stages)
    assert _digests(out) == _digests(local)
    m_ray = json.loads((out / "manifest.json").read_text())
    m_local = json.loads((local / "manifest.json").read_text())
    assert m_ray["megatron"] == m_local["megatron"] and m_ray["mix"] == m_local["mix"]
