"""Training throughput: our DeepSeek-V2 MoE path vs megatron-core's stock MoE path, side by side.

Same model shape, same data, same step count; only the MoE routing/experts differ:
  anchor   megatron-core 0.16.1 as shipped: TopKRouter (group score = sum of top-2, seq aux loss),
           SequentialMLP experts, the configured token dispatcher;
  ours     the DeepSeek-V2 router (max-scored groups, three balance losses) and, with --fused
           (default on GPUs), the trainer.kernels fused gating / grouped SwiGLU experts / permutation.

Shapes:
  tiny        recipes/train-tiny.yaml's model, sequence 256 (runs on a laptop CPU)
  lite-slice  Coder-V2-Lite at full width (hidden 2048, 16 heads, 64 experts top-6, 2 shared) with
              --layers layers (1 dense + MoE), sequence 4096, bf16: for a single GPU

Reports tokens/s per device and, on GPUs, MFU = model FLOP/s / dense bf16 peak (FLOPs per token:
6 x active matmul weights + causal attention, trainer.model.shapes.train_flops_per_token).
"ours / anchor" > 1 means ours is faster.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trainer_throughput.py --shape tiny
      .venv/bin/python benchmarks/bench_trainer_throughput.py --shape lite-slice --layers 3   # GPU
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402


def write_random_shards(folder: Path, vocab: int, tokens: int, seed: int = 0) -> list[str]:
    """Random documents in megatron's .bin/.idx format (throughput does not depend on content)."""
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    rng = np.random.default_rng(seed)
    dtype = np.int32 if vocab >= 65500 else np.uint16
    prefix = folder / "random"
    builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=dtype)
    written = 0
    while written < tokens:
        n = int(rng.integers(512, 8192))
        doc = [*rng.integers(0, vocab - 1, size=n).tolist(), vocab - 1]
        builder.add_document(torch.tensor(doc, dtype=torch.int64), [len(doc)])
        written += len(doc)
    builder.finalize(f"{prefix}.idx")
    return [str(prefix)]


def recipe_for(shape: str, layers: int, steps: int, shards: list[str], vocab: int, precision: str) -> dict:
    if shape == "tiny":
        base = yaml.safe_load((REPO / "recipes" / "train-tiny.yaml").read_text())
        model = base["model"]
        model["vocab_size"] = vocab
        seq, gbs, mbs = 256, 16, 8
    else:
        base = yaml.safe_load((REPO / "recipes" / "train-lite.yaml").read_text())
        model = base["model"]
        model["num_layers"] = layers
        seq, gbs, mbs = 4096, 4, 2
    model["fused"] = False
    return {
        "name": f"bench-{shape}",
        "model": model,
        "parallel": {"tensor": 1, "expert": 1, "dispatcher": "alltoall"},
        "data": {"data_path": shards, "eos_id": vocab - 1, "seq_length": seq, "split": "100,0,0"},
        "optimizer": {"lr": 1e-4, "warmup_steps": 2},
        "batch": {"global_batch_size": gbs, "micro_batch_size": mbs},
        "training": {"steps": steps, "precision": precision, "log_interval": 10**6},
    }


def measure(raw: dict, warmup: int, label: str) -> dict:
    from trainer.recipe import parse_recipe
    from trainer.train import Trainer

    trainer = Trainer(parse_recipe(raw), log=lambda m: None, progress=False)
    trainer.run(warmup)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    result = trainer.run()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    steps = result.final_step - result.start_step
    tokens = steps * raw["batch"]["global_batch_size"] * raw["data"]["seq_length"]
    mfus = [s.mfu for s in result.steps if s.mfu is not None]
    out = {
        "label": label,
        "tokens_per_s": tokens / dt,
        "step_s": dt / max(steps, 1),
        "mfu": (sum(mfus) / len(mfus)) if mfus else None,
        "loss": result.losses[-1] if result.losses else float("nan"),
    }
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def run_variant(variant: str, args: argparse.Namespace) -> dict:
    """One measurement in a fresh process, so megatron's global state and GPU memory start clean."""
    import json
    import subprocess

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, __file__, "--variant", variant, "--json", out.name, *sys.argv[1:]]
        subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        return json.loads(Path(out.name).read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=["tiny", "lite-slice"], default="tiny")
    ap.add_argument("--layers", type=int, default=3, help="lite-slice: layers (the first is dense)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--fused", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--variant", choices=["anchor", "ours"], help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()

    on_gpu = torch.cuda.is_available()
    precision = "bf16" if on_gpu else "fp32"
    fused = args.fused == "on" or (args.fused == "auto" and on_gpu)
    if args.variant is None:
        results = [run_variant("anchor", args), run_variant("ours", args)]
        device = (
            torch.cuda.get_device_name() if on_gpu else f"CPU ({os.cpu_count()} cores, OMP_NUM_THREADS=1)"
        )
        r0 = results[0]
        print(
            f"\nshape={args.shape} layers={r0['layers']} seq={r0['seq']} batch={r0['batch']} "
            f"precision={precision} fused={fused} on {device}"
        )
        print(f"{'path':<26}{'tokens/s':>12}{'s/step':>10}{'MFU':>8}{'loss':>9}")
        for r in results:
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
            print(f"{r['label']:<26}{r['tokens_per_s']:>12,.0f}{r['step_s']:>10.3f}{mfu:>8}{r['loss']:>9.3f}")
        print(f"ours / anchor (tokens/s): {results[1]['tokens_per_s'] / results[0]['tokens_per_s']:.2f}x")
        return

    import json

    vocab = 102400 if args.shape == "lite-slice" else 4096
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        seq = 4096 if args.shape == "lite-slice" else 256
        gbs = 4 if args.shape == "lite-slice" else 16
        shards = write_random_shards(
            Path(tmp), vocab, tokens=(args.steps + args.warmup + 2) * gbs * (seq + 1) * 2
        )
        raw = recipe_for(args.shape, args.layers, args.steps + args.warmup, shards, vocab, precision)
        if args.variant == "anchor":
            raw["model"]["router"] = "megatron"
            label = "megatron-core stock MoE"
        else:
            raw["model"]["fused"] = fused
            if fused:
                raw["parallel"]["dispatcher"] = "allgather"  # the fused permutation's dispatcher
            label = "ours" + (" (fused)" if fused else "")
        result = measure(raw, args.warmup, label)
    result.update(
        layers=raw["model"]["num_layers"],
        seq=raw["data"]["seq_length"],
        batch=raw["batch"]["global_batch_size"],
    )
    Path(args.json).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
