"""Recall classifier on a held-out labelled set: BPE-split input against whitespace-split input.

DeepSeek-Coder-V2 reports that splitting fastText's input with the BPE tokenizer "significantly
improves" recall accuracy. This measures it with the paper's fastText settings (dim 256, lr 0.1,
wordNgrams 3, minCount 3, epoch 3, 200k buckets) on text available offline:

* positives: chunks of Python source (the installed packages' own `.py` files);
* negatives: prose paragraphs *about* code from the same packages' descriptions (PyPI METADATA,
  fenced and indented code blocks removed), i.e. hard negatives full of identifiers.

Train and held-out sets are split by package, so no package's text is on both sides. Reports
precision / recall / F1 at 0.5 and average precision for both splits, and scoring speed.

    .venv/bin/python benchmarks/bench_recall_split.py [--per-class 3000]
"""

from __future__ import annotations

import argparse
import email
import hashlib
import os
import random
import re
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SITE = Path(sysconfig.get_paths()["purelib"])


def held_out(package: str) -> bool:
    return int(hashlib.sha1(package.encode()).hexdigest(), 16) % 4 == 0


def code_chunks(limit: int, rng: random.Random) -> list[tuple[str, str]]:
    files = sorted(SITE.glob("*/**/*.py"))
    rng.shuffle(files)
    out = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        package = f.relative_to(SITE).parts[0]
        lines = text.splitlines()
        for start in range(0, min(len(lines), 200), 40):
            chunk = "\n".join(lines[start : start + 40]).strip()
            if len(chunk) > 300:
                out.append((package, chunk))
        if len(out) >= limit:
            break
    return out[:limit]


_FENCE = re.compile(r"```.*?```", re.S)
_RST_CODE = re.compile(r"::\s*\n(\n?[ \t]+.*\n?)+")


def prose_chunks(limit: int) -> list[tuple[str, str]]:
    out = []
    for meta in sorted(SITE.glob("*.dist-info/METADATA")):
        msg = email.message_from_string(meta.read_text(encoding="utf-8", errors="replace"))
        body = msg.get_payload() if not msg.is_multipart() else ""
        if not isinstance(body, str):
            continue
        body = _RST_CODE.sub("\n", _FENCE.sub("\n", body))
        package = meta.parent.name.split("-")[0].lower()
        for para in re.split(r"\n\s*\n", body):
            lines = [
                ln
                for ln in para.splitlines()
                if ln.strip() and not ln.startswith(("    ", "\t", ">>>", "$ "))
            ]
            text = " ".join(ln.strip() for ln in lines)
            if len(text) > 200 and sum(c.isalpha() for c in text) > 0.6 * len(text):
                out.append((package, text))
    return out[:limit]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=3000)
    args = ap.parse_args()

    from classifiers.recall.model import FastTextParams, RecallModel, evaluate, train_model
    from classifiers.recall.split import WhitespaceSplitter, fasttext_lines, train_bpe

    rng = random.Random(0)
    pos = code_chunks(args.per_class, rng)
    neg = prose_chunks(args.per_class)
    n = min(len(pos), len(neg))
    pos, neg = pos[:n], neg[:n]
    train_pos = [t for p, t in pos if not held_out(p)]
    train_neg = [t for p, t in neg if not held_out(p)]
    test = [(t, 1) for p, t in pos if held_out(p)] + [(t, 0) for p, t in neg if held_out(p)]
    test_texts = [t for t, _ in test]
    labels = np.array([y for _, y in test])
    print(
        f"train: {len(train_pos)} code chunks / {len(train_neg)} prose-about-code paragraphs; "
        f"held out: {int(labels.sum())} / {int((1 - labels).sum())} (split by package)"
    )
    params = FastTextParams(quantize=False)
    print(
        f"fastText: dim {params.dim}, lr {params.lr}, wordNgrams {params.word_ngrams}, minCount {params.min_count}, "
        f"epoch {params.epoch}, bucket {params.bucket}\n"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("whitespace", "bpe"):
            start = time.process_time()
            splitter = (
                WhitespaceSplitter() if name == "whitespace" else train_bpe(train_pos + train_neg, 32_000)
            )
            prep = time.process_time() - start
            model_path = train_model(
                fasttext_lines(splitter, train_pos),
                fasttext_lines(splitter, train_neg),
                Path(tmp) / name,
                params,
            )
            model = RecallModel(model_path)
            start = time.process_time()
            scores = model.scores(fasttext_lines(splitter, test_texts))
            per_s = len(test_texts) / (time.process_time() - start)
            m = evaluate(scores, labels, 0.5)
            rows.append((name, m, per_s, prep))
    print(f"{'split':12} {'precision':>9} {'recall':>7} {'F1':>6} {'avg prec':>9} {'split+score/s/core':>19}")
    for name, m, per_s, _ in rows:
        print(
            f"{name:12} {m.precision:9.4f} {m.recall:7.4f} {m.f1:6.4f} {m.average_precision:9.4f} {per_s:19.0f}"
        )
    (_, w, _, _), (_, b, _, _) = rows
    ap_w, ap_b = 1 - w.average_precision, 1 - b.average_precision
    print(
        f"ranking error (1-AP, what a top-k-by-budget recall depends on): whitespace {ap_w:.4f}, BPE {ap_b:.4f}"
        f"  ->  ratio whitespace/BPE {(ap_w / ap_b) if ap_b else float('inf'):.2f}x"
    )
    err_w, err_b = 1 - w.f1, 1 - b.f1
    print(
        f"\nF1 error (1-F1): whitespace {err_w:.4f}, BPE {err_b:.4f}  ->  ratio whitespace/BPE "
        f"{(err_w / err_b) if err_b else float('inf'):.2f}x"
    )


if __name__ == "__main__":
    main()
