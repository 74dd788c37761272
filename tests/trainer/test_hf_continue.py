"""Continued pretraining from a Hugging Face model, and the memory the import needs.

`coderforge train --init-from HF_DIR` on the real tiny shards: the first step's loss is the loss the
`transformers` model itself gives on that step's batch (so the trainer starts exactly where the
checkpoint left off), and the checkpoint the run saves exports to a model `transformers` runs to the
same logits. `import` of a model much larger than its largest tensor grows the process's
peak resident memory by about the largest tensor plus bookkeeping, not by the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest.importorskip("transformers")

from tests.trainer.conftest import REPO, save_recipe, tiny_recipe, train_cli
from tests.trainer.hf_models import make_model, save
from trainer.checkpoint_forward import build_and_load, checkpoint_model, logits_of
from trainer.data import BatchIterator, build_datasets, resolve_blend
from trainer.distributed import single_process_state
from trainer.hf_config import model_from_hf
from trainer.hf_export import export_hf
from trainer.recipe import parse_recipe

SHAPE = {
    "topk_method": "group_limited_greedy",
    "n_group": 4,
    "topk_group": 2,
    # a wider init than the default 0.02, so the model's loss is far from ln(vocab) (random-init level)
    "initializer_range": 0.1,
}


def _first_batch_loss(hf, recipe: dict) -> float:
    """The HF model's loss on the trainer's first global batch (its micro-batches, as the trainer
    forms them), averaged over micro-batches like the trainer's logged loss."""
    r = parse_recipe(recipe)
    t, b = r.training, r.batch
    eval_samples = (
        ((t.steps // t.eval_interval if t.eval_interval else 0) + 1) * t.eval_steps * b.global_batch_size
    )
    with single_process_state():
        train_ds, _ = build_datasets(
            r.data, resolve_blend(r.data), t.seed, t.steps * b.global_batch_size, eval_samples
        )
    batches = BatchIterator(train_ds, b.micro_batch_size, 0, 1, start=0)
    losses = []
    with torch.no_grad():
        for _ in range(b.global_batch_size // b.micro_batch_size):
            batch = next(batches)
            logits = hf(batch["tokens"], position_ids=batch["position_ids"]).logits.float()
            ce = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), reduction="none")
            mask = batch["loss_mask"].flatten().float()
            losses.append(float((ce * mask).sum() / mask.sum()))
    return sum(losses) / len(losses)


def test_init_from_a_hugging_face_model_continues_its_loss(manifest, tmp_path):
    hf = make_model(SHAPE, seed=5)
    hf_dir = save(hf, tmp_path / "hf")
    model, _ = model_from_hf(json.loads((hf_dir / "config.json").read_text()))
    model_section = model.model_dump(mode="json")
    model_section["balance"] = {"expert": 0.003, "device": 0.05, "communication": 0.02}
    recipe = tiny_recipe(
        manifest,
        optimizer={"warmup_steps": 0},  # the first step moves the weights (warm-up starts at LR 0)
        training={"steps": 1, "log_interval": 1, "checkpoint_dir": str(tmp_path / "run")},
    )
    recipe["model"] = model_section
    expected = _first_batch_loss(hf, recipe)
    result = train_cli(
        save_recipe(tmp_path / "tiny.yaml", recipe), tmp_path / "r.json", "--init-from", str(hf_dir)
    )
    assert result["start_step"] == 0 and result["final_step"] == 1
    # the folder was converted once, inside the run's checkpoint folder
    assert (tmp_path / "run" / "init-from" / "hf" / "metadata.json").is_file()
    print(f"first-step loss {result['losses'][0]:.6f}, transformers on the same batch {expected:.6f}")
    assert abs(expected - 5.545) > 0.1  # not a random-init loss (ln 256 = 5.545)
    assert abs(result["losses"][0] - expected) <= 1e-5 * expected, (result["losses"][0], expected)

    # the trained checkpoint (weights, optimizer, schedule) exports to a model transformers runs the same
    from transformers import DeepseekV2ForCausalLM

    trained = tmp_path / "run" / "pretrain" / "step_0000001"
    tokens = torch.randint(0, 256, (1, 24), generator=torch.Generator().manual_seed(7))
    with single_process_state():
        export_hf(str(tmp_path / "run"), str(tmp_path / "exported"), progress=False)
        model, yarn = checkpoint_model(str(trained))
        ours = logits_of(build_and_load(str(trained), model, yarn, max_sequence_length=24), tokens)
    exported = DeepseekV2ForCausalLM.from_pretrained(
        tmp_path / "exported", attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        theirs = exported(tokens).logits.float()
    assert (ours - theirs).abs().max().item() <= 1e-5
    assert not torch.equal(exported.lm_head.weight, hf.lm_head.weight)  # one optimizer step moved it


_MEASURE = r"""
import json, os, shutil, sys
from trainer.hf_import import import_hf

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

small, big, out = sys.argv[1:4]
import_hf(small, out + "-warm", progress=False)  # code paths and lazy imports, once
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS:")
s = import_hf(big, out, progress=False)
print(json.dumps({"growth": status("VmHWM:") - base, "largest": s.largest[1], "bytes": s.bytes}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak-RSS reset")
def test_import_memory_is_bounded_by_the_largest_tensor(tmp_path):
    small = save(make_model({}, seed=1), tmp_path / "small")
    # 64 experts x 6 layers: ~63 MiB of weights, no tensor above 128 KiB
    wide = {"n_routed_experts": 64, "moe_intermediate_size": 128, "hidden_size": 128, "num_hidden_layers": 6}
    big = save(make_model(wide, seed=2), tmp_path / "big", max_shard_size="20MB")
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(small), str(big), str(tmp_path / "out")],
        cwd=REPO,
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"import peak growth {m['growth'] / 2**20:.1f} MiB for {m['bytes'] / 2**20:.1f} MiB of weights")
    # a few copies of the largest tensor plus torch's per-tensor bookkeeping (measured: ~5 MiB in all)
    bound = 10 * 2**20 + 4 * m["largest"]
    assert m["bytes"] > 5 * bound  # the model is far larger than the bound...
    assert m["growth"] <= bound  # ...and the import stays under it
