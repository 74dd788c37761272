"""Shards, recipes and subprocess helpers shared by the trainer tests.

Shards are written with megatron-core's own `IndexedDatasetBuilder`, the format the corpus side
writes; training runs go through the real `coderforge train` entry point in subprocesses, so every
run gets a fresh megatron global state, exactly like a user's run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VOCAB = 256
EOS = 255


def write_shards(folder: Path, seed: int = 0) -> list[str]:
    """Two shards of learnable documents (arithmetic progressions mod 250, then EOS)."""
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    prefixes = []
    for name in ("code", "math"):
        prefix = folder / name
        builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=np.uint16)
        for _ in range(300):
            n = int(rng.integers(20, 160))
            start, step = int(rng.integers(0, 250)), int(rng.integers(1, 5))
            doc = [(start + step * i) % 250 for i in range(n)] + [EOS]
            builder.add_document(torch.tensor(doc, dtype=torch.int64), [len(doc)])
        builder.finalize(f"{prefix}.idx")
        prefixes.append(str(prefix))
    return prefixes


def write_manifest(folder: Path) -> Path:
    """A corpus-style OUTPUT/manifest.json over shards in OUTPUT/shards."""
    write_shards(folder / "shards")
    manifest = {
        "megatron": {
            "data_path": [0.6, "shards/code", 0.4, "shards/math"],
            "vocab_size": VOCAB,
            "eos_id": EOS,
        }
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def tiny_recipe(manifest: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "name": "tiny-test",
        "model": {
            "num_layers": 3,
            "hidden_size": 64,
            "num_attention_heads": 4,
            "q_lora_rank": 32,
            "kv_lora_rank": 32,
            "qk_head_dim": 16,
            "qk_pos_emb_head_dim": 8,
            "v_head_dim": 16,
            "ffn_hidden_size": 128,
            "first_dense_layers": 1,
            "num_experts": 8,
            "num_shared_experts": 2,
            "moe_ffn_hidden_size": 32,
            "topk": 2,
            "num_groups": 4,
            "group_topk": 2,
            "balance": {"expert": 0.003, "device": 0.05, "communication": 0.02},
            "vocab_size": None,
        },
        "data": {"manifest": str(manifest), "seq_length": 64, "split": "90,10,0"},
        "optimizer": {"lr": 3e-3, "warmup_steps": 5},
        "batch": {"global_batch_size": 8, "micro_batch_size": 4},
        "training": {"steps": 50, "precision": "fp32", "log_interval": 10},
    }
    for key, value in sections.items():
        recipe.setdefault(key, {}).update(value)
    return recipe


def save_recipe(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def run_cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "corpus.app.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_gloo_ranks(world: int, code: str, *args: str, timeout: int = 180) -> None:
    """`python -c code *args` as `world` torch.distributed ranks on loopback (gloo); every rank must
    exit 0, and a rank that hangs takes the others down with it."""
    from trainer.distributed import free_port

    port = str(free_port())
    procs = []
    for rank in range(world):
        env = dict(
            os.environ,
            OMP_NUM_THREADS="1",
            PYTHONPATH=str(REPO),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code, *args],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = []
    try:
        for proc in procs:
            log, _ = proc.communicate(timeout=timeout)
            logs.append(log)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log[-4000:]


def train_cli(recipe: Path, result: Path, *extra: str, timeout: int = 240) -> dict[str, Any]:
    proc = run_cli("train", str(recipe), "--result", str(result), *extra, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(result.read_text())


@pytest.fixture(scope="session")
def manifest(tmp_path_factory) -> Path:
    return write_manifest(tmp_path_factory.mktemp("corpus"))


STEPS = 50


@pytest.fixture(scope="session")
def reference_run(manifest, tmp_path_factory):
    """50 steps of the tiny model in one process, with periodic evaluation and checkpoints."""
    tmp = tmp_path_factory.mktemp("ref")
    recipe = tiny_recipe(
        manifest,
        training={
            "steps": STEPS,
            "eval_interval": 25,
            "save_interval": 25,
            "checkpoint_dir": str(tmp / "ckpt"),
        },
    )
    result = train_cli(save_recipe(tmp / "tiny.yaml", recipe), tmp / "result.json")
    return result, tmp
