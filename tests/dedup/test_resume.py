"""A run killed (SIGKILL) inside any of the four stages resumes to the same bytes as a clean run."""

from __future__ import annotations

import random
import signal
import sys
from pathlib import Path

import pytest

from dedup.evaluation import plant_variant, real_texts
from tests.dedup.helpers import doc, run_dedup, write_input

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ("dedup/data", "dedup/drops/dedup", "dedup-clusters/assign", "dedup-buckets/edges")
STAGE_FILES = {
    0: "dedup-signatures/docs/00000.parquet",
    1: "dedup-buckets/edges/00000.bin",
    3: "dedup/data/00000.parquet",
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    rng = random.Random(9)
    texts = real_texts(24, seed=3)
    docs = [doc(f"d{i:02d}", t) for i, t in enumerate(texts)]
    docs += [doc(f"d{i:02d}~near", plant_variant(t, 0.85, rng)[0]) for i, t in enumerate(texts[:8])]
    docs += [doc(f"d{i:02d}~copy", t) for i, t in enumerate(texts[8:12])]
    out = tmp_path_factory.mktemp("reference")
    write_input(out, docs)
    run_dedup(out)
    return docs, out


def _files(out: Path) -> dict[str, bytes]:
    found = {}
    for sub in OUTPUTS:
        for p in sorted((out / "text" / sub).glob("*")):
            if not p.name.startswith("."):
                found[f"{sub}/{p.name}"] = p.read_bytes()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("stage", [0, 1, 2, 3], ids=["signatures", "buckets", "clusters", "filter"])
def test_resume_after_kill(tmp_path: Path, reference, stage, killer):
    docs, ref_out = reference
    write_input(tmp_path, docs)
    run = killer(
        [sys.executable, "-m", "tests.dedup.resume_runner", str(tmp_path), str(stage)],
        env={"OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == -signal.SIGKILL, run.output
    stage_names = ["dedup-signatures", "dedup-buckets", "dedup-clusters", "dedup"]
    completions = tmp_path / "text" / stage_names[stage] / "completions"
    done_before = sorted(p.name for p in completions.glob("*")) if completions.exists() else []
    assert "00001" not in done_before and (stage == 2 or "00000" in done_before)
    finished = tmp_path / "text" / STAGE_FILES[stage] if stage in STAGE_FILES else None
    mtime = finished.stat().st_mtime_ns if finished else None
    run_dedup(tmp_path)  # the same command again
    if finished:
        assert finished.stat().st_mtime_ns == mtime  # the finished task was skipped, not redone
    assert _files(tmp_path) == _files(ref_out)
