"""The fastText recall classifier: one binary model per target (code, math).

Defaults are the paper's (DeepSeekMath §2.1): dim 256, lr 0.1, wordNgrams 3, minCount 3, epoch 3.
With those settings fastText's default 2M hash buckets make a 2 GiB model; 200k buckets give
~290 MiB (the default). Quantising gives ~14 MiB with no measurable loss on our held-out sets, but
a quantised model scores a long page 3-4x slower (2.5 ms against 0.75 ms per model on a 17 kB
page), which alone would hold extraction + scoring under 300 pages/s per core; so full models are
the default and `quantize: true` is there for small machines. Training uses one thread and a fixed seed; even so, the installed
fastText build does not give byte-identical weights run to run (see `_train_with_backoff`). fastText's own meters are broken under numpy 2, so metrics are
computed here from `predict` output.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fasttext
import numpy as np

from classifiers.recall.config import FastTextParams
from corpus.core.errors import UserError
from corpus.core.fresh_process import in_fresh_process

log = logging.getLogger(__name__)

POS = "__label__pos"
NEG = "__label__neg"


def _silence_fasttext() -> None:

    # fastText prints a deprecation warning on every load_model; it carries no information here
    fasttext.FastText.eprint = lambda *args, **kwargs: None


def train_model(
    positives: Sequence[str],
    negatives: Sequence[str],
    out: str | Path,
    params: FastTextParams | None = None,
) -> Path:
    """Train on already-split lines and save to `out` (`.ftz` when quantised, else `.bin`).

    Lines are shuffled deterministically (fastText learns in file order, and a file of all
    positives then all negatives teaches the last label best).
    """
    params = params or FastTextParams()
    if not positives or not negatives:
        raise UserError(
            f"recall training needs positives and negatives (got {len(positives)} and {len(negatives)})"
        )
    rows = [f"{POS} {line}" for line in positives if line] + [f"{NEG} {line}" for line in negatives if line]
    order = np.random.default_rng(params.seed).permutation(len(rows))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # beside the model (same file system: the rename is atomic), named as a temporary so that a
    # killed task's leftovers are cleared before its stage reruns
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".train.tmp-") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            for i in order:
                f.write(rows[i])
                f.write("\n")
        final = out.with_suffix(".ftz" if params.quantize else ".bin")
        tmp_model = os.path.join(tmp, final.name)
        in_fresh_process(_train_and_save, train_file, tmp_model, params.model_dump(), len(rows))
        os.replace(tmp_model, final)
    return final


def _train_and_save(train_file: str, model_file: str, params: dict, n_rows: int) -> None:
    """Runs in a fresh interpreter (see `corpus.core.fresh_process`)."""

    _silence_fasttext()
    p = FastTextParams.model_validate(params)
    model = _train_with_backoff(fasttext, train_file, p, n_rows)
    if p.quantize:
        # product quantisation: k-means per sub-vector, ~1 s per 8 dimensions on one core at
        # dim 256, so quantising costs minutes at full scale (once per model) and is off in tests
        model.quantize(
            input=train_file, retrain=False, qnorm=True, cutoff=p.quantize_cutoff, dsub=p.quantize_dsub
        )
    model.save_model(model_file)


def _train_with_backoff(fasttext, train_file: str, params: FastTextParams, n_rows: int):
    """Train, retrying with lr halved when fastText reports NaN (tiny seed sets can diverge).

    Called in a fresh interpreter only, so a given file, seed and lr always train the same model
    and the retries are deterministic too.
    """
    lr = params.lr
    for _attempt in range(8):
        try:
            return fasttext.train_supervised(
                input=train_file,
                dim=params.dim,
                lr=lr,
                wordNgrams=params.word_ngrams,
                minCount=params.min_count,
                epoch=params.epoch,
                bucket=params.bucket,
                thread=params.threads,
                seed=params.seed,
                loss="softmax",
                verbose=0,
            )
        except RuntimeError as err:
            if "NaN" not in str(err):
                raise
            lr /= 2
            log.warning("fastText diverged on %d lines; retrying at lr %g", n_rows, lr)
    raise UserError(
        f"fastText diverged (NaN) training on {n_rows} lines eight times (last lr {lr:g}); "
        f"tiny seed sets need fewer epochs (epoch={params.epoch})"
    )


class RecallModel:
    """A trained model; `scores(lines)` is P(positive) for each already-split line."""

    def __init__(self, path: str | Path) -> None:

        _silence_fasttext()
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: fastText model not found")
        try:
            self.model = fasttext.load_model(str(self.path))
        except ValueError as err:
            raise UserError(f"{self.path}: not a fastText model ({err})") from err
        labels = set(self.model.get_labels())
        if POS not in labels:
            raise UserError(f"{self.path}: model has no {POS} label (labels: {sorted(labels)})")

    def scores(self, lines: Sequence[str], batch: int = 4096) -> np.ndarray:
        out = np.empty(len(lines), dtype=np.float32)
        for i in range(0, len(lines), batch):
            chunk = [line or " " for line in lines[i : i + batch]]
            labels, probs = self.model.predict(chunk, k=2, threshold=0.0)
            for j, (lab, pr) in enumerate(zip(labels, probs, strict=True)):
                p = 0.0
                for name, value in zip(lab, pr, strict=True):
                    if name == POS:
                        p = float(value)
                out[i + j] = min(1.0, max(0.0, p))
        return out


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    f1: float
    threshold: float
    average_precision: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> Metrics:
    """Precision, recall and F1 at `threshold`, plus average precision over the ranking."""
    labels = labels.astype(bool)
    pred = scores >= threshold
    tp = int(np.sum(pred & labels))
    fp = int(np.sum(pred & ~labels))
    fn = int(np.sum(~pred & labels))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    cum = np.cumsum(hits)
    ap = float(np.sum((cum / np.arange(1, len(hits) + 1))[hits]) / max(1, hits.sum()))
    return Metrics(precision, recall, f1, threshold, ap, len(scores))
