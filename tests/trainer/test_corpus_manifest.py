"""The trainer on a manifest written by the corpus side's mix and shard stages (real tokenizer,
real Megatron shards, 60/10/30 blend weights), with the shipped tiny recipe."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.trainer.conftest import REPO, run_cli


def test_shipped_tiny_recipe_trains_on_a_corpus_build(tmp_path):
    from tests.mix.helpers import built_output

    out = built_output()
    manifest = json.loads((out / "manifest.json").read_text())["megatron"]
    result = tmp_path / "result.json"
    proc = run_cli(
        "train",
        str(REPO / "recipes" / "train-tiny.yaml"),
        "--set", f"data.manifest={out / 'manifest.json'}",
        "--set", f"training.checkpoint_dir={tmp_path / 'ckpt'}",
        "--set", "data.seq_length=64",
        "--set", "training.steps=15",
        "--set", "training.eval_interval=0",
        "--set", "optimizer.warmup_steps=3",
        "--result", str(result),
        timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = json.loads(result.read_text())["losses"]
    assert len(losses) == 15
    # vocabulary taken from the manifest: the first loss is ~ln(padded vocabulary)
    assert abs(losses[0] - math.log(manifest["vocab_size"])) < 0.5
    assert losses[-1] < losses[0] - 0.5
    assert Path(tmp_path / "ckpt" / "pretrain" / "latest").is_file()
