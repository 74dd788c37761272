"""Inputs for the mix tests: stage folders of real documents, and a mix built from them.

Code documents are real Python files of installed packages, text documents their licence and
package descriptions, math documents worked arithmetic in LaTeX (checked: the answers are right).
"""

from __future__ import annotations

import atexit
import functools
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.app.manifest import merge_stage_manifests
from corpus.app.runner import RunSettings, run_stages
from corpus.core.schema import DOCUMENT_SCHEMA
from corpus.core.stage import Stage
from corpus.mix.config import MixRecipe, ShardSettings, TokenizerSettings
from corpus.mix.stages import mix_stages

SITE = Path(pq.__file__).resolve().parents[2]


def _code_rows(n: int) -> list[dict]:
    files = sorted(
        p
        for pkg in ("datatrove", "pyarrow", "polars", "typer")
        for p in (SITE / pkg).rglob("*.py")
        if 200 < p.stat().st_size < 20_000
    )[:n]
    return [
        {
            "id": f"github:site/{p.relative_to(SITE).as_posix()}",
            "text": p.read_text(errors="replace"),
            "source": "github",
            "group": "code",
            "language": "Python",
            "metadata": json.dumps({"path": p.relative_to(SITE).as_posix()}, sort_keys=True),
        }
        for p in files
    ]


def _text_rows(n: int) -> list[dict]:
    files = sorted(
        p
        for p in SITE.glob("*.dist-info/*")
        if p.name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "METADATA") and p.stat().st_size > 300
    )[:n]
    return [
        {
            "id": f"text:{p.relative_to(SITE).as_posix()}",
            "text": p.read_text(errors="replace")[:6000],
            "source": "text",
            "group": "text",
            "language": "en",
            "metadata": "{}",
        }
        for p in files
    ]


def _math_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(1, 50)
        steps = "".join(
            f"Step {k + 1}: ${a} \\cdot {b + k} = {a * (b + k)}$. " for k in range(rng.randint(1, 6))
        )
        text = (
            f"Problem {i}. Let $f(x) = {a}x + {c}$. Compute $f({b})$.\n\n"
            f"Solution. $f({b}) = {a} \\cdot {b} + {c} = {a * b + c}$. {steps}"
            f"Therefore the answer is $\\boxed{{{a * b + c}}}$."
        )
        rows.append(
            {
                "id": f"cc:math-{i}",
                "text": text,
                "source": "commoncrawl",
                "group": "math",
                "language": "en",
                "metadata": json.dumps({"url": f"https://math.example/{i}"}),
            }
        )
    rows.append(
        {
            "id": "cc:web-unrecalled",
            "text": "A page no recall iteration took.",
            "source": "commoncrawl",
            "group": "web",
            "language": "en",
            "metadata": "{}",
        }
    )
    return rows


def write_stage(folder: Path, rows: list[dict], files: int = 2) -> None:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    per = -(-len(rows) // files)
    for k in range(files):
        part = rows[k * per : (k + 1) * per]
        pq.write_table(
            pa.Table.from_pylist(part, schema=DOCUMENT_SCHEMA), folder / "data" / f"{k:05d}.parquet"
        )


def make_inputs(root: Path, code: int = 160, text: int = 60, math: int = 300) -> list[str]:
    """Three source stage folders under `root`; returns their paths."""
    folders = []
    for source, rows in (
        ("github", _code_rows(code)),
        ("text", _text_rows(text)),
        ("commoncrawl", _math_rows(math)),
    ):
        folder = root / source / "documents"
        write_stage(folder, rows)
        folders.append(str(folder))
    return folders


def small_settings(**shards) -> MixRecipe:
    return MixRecipe(
        tokenizer=TokenizerSettings(vocab_size=3000, sample_documents=400),
        shards=ShardSettings(max_tokens_per_shard=shards.get("max_tokens_per_shard", 60_000)),
    )


def build_mix(output: Path, inputs: list[str], seed: int = 7, tasks: int = 2) -> dict:
    return run_local(mix_stages(inputs, str(output), small_settings(), seed=seed, tasks=tasks))


@functools.cache
def built_output() -> Path:
    """One small build (inputs + mix) per test process, shared read-only by the tests."""
    root = Path(tempfile.mkdtemp(prefix="coderforge-mix-"))
    atexit.register(shutil.rmtree, root, True)
    inputs = make_inputs(root)
    build_mix(root, inputs)
    return root


def run_local(stages: list[Stage], workers: int = 1) -> dict:
    """Run mix stages on this machine through the build's runner and merge their manifest entries."""
    run_stages(stages, RunSettings(workers=workers))
    return merge_stage_manifests(stages)


if __name__ == "__main__":  # build one by hand: python -m tests.mix.helpers OUT
    out = Path(sys.argv[1])
    print(json.dumps(build_mix(out, make_inputs(out))["mix"]["realised"], indent=2))
