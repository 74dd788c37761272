"""Recall training that adapts to the seed set: held-out selection of epochs and learning rate.

`fit_recall_model` is what the loop, the parallel train stage and `coderforge recall train` call
instead of training once with fixed settings (the rules are `TuningConfig`'s):

1. cut the positives and the negatives into folds of `holdout_share` each, by group (a page's host,
   package or repository: pages of one site are near-identical in vocabulary, so a split inside a
   group would score the model on pages it has all but seen). The groups are ordered by a seeded
   hash and dealt into folds in that order, so the same seed holds out the same pages whatever
   their order; fold 0 is the held-out part;
2. train every candidate (epoch, lr) on the rest, each in a fresh interpreter (fastText keeps
   state between trainings in one process), and score the held-out pages;
3. keep the candidate of highest held-out average precision (ties: the earlier, cheaper one);
4. place the decision threshold at the F1-max cut of held-out scores (`calibration`): those of
   step 2 and of `calibration_folds - 1` more folds, each held out in turn from a model with the
   chosen settings (tuned settings only: settings given in full, or a large seed set, are
   calibrated on the held-out part alone). One package or site held out says little about where
   the cut lies for the next one; three folds of them say more, for two more trainings;
5. retrain on everything with the chosen settings (at or above `paper_from` positives the model
   of step 2 is kept: its held-out sample is small and a second full training is not worth it).

Settings the user gave are never tuned; with both given the grid has one point and the held-out
run only measures AP and the threshold, which is reported but not put in force (0.5 stays). Rankings never change through calibration: only what
uses a threshold does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import fasttext
import numpy as np

from classifiers.recall.calibration import DEFAULT_THRESHOLD, f1_threshold
from classifiers.recall.config import FastTextParams, TuningConfig
from classifiers.recall.model import (
    NEG,
    POS,
    _silence_fasttext,
    _train_with_backoff,
    evaluate,
    train_model,
)
from corpus.core.fresh_process import in_fresh_process

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    epoch: int
    lr: float
    average_precision: float


@dataclass
class Choice:
    """What training decided, as the iteration records and `coderforge inspect` show it.

    `mode`: `tuned` (chosen on held-out AP), `paper` (the seed set is large: settings as given),
    `given` (the user fixed epoch and lr), `untuned` (tuning off, or too few pages to hold out).
    """

    epoch: int
    lr: float
    mode: str
    threshold: float = DEFAULT_THRESHOLD
    average_precision: float | None = None
    f1: float | None = None
    heldout_positives: int = 0
    heldout_negatives: int = 0
    grid: list[Candidate] = field(default_factory=list)
    #: held-out pages the threshold was placed on (the grid's fold and the calibration folds)
    calibration_pages: int = 0
    note: str = ""

    @property
    def calibrated(self) -> bool:
        """Whether the threshold is the one to decide with: tuned or large-seed-set (`paper`)
        settings with a held-out measurement. Settings the user gave in full keep 0.5 in force
        (their calibrated threshold is only reported)."""
        return self.mode in ("tuned", "paper") and self.average_precision is not None

    @property
    def decision_threshold(self) -> float:
        return self.threshold if self.calibrated else DEFAULT_THRESHOLD

    def as_dict(self) -> dict:
        data = asdict(self)
        data["grid"] = [asdict(c) for c in self.grid]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Choice:
        grid = [Candidate(**c) for c in data.get("grid", [])]
        return cls(**{**data, "grid": grid})

    def summary(self) -> str:
        ap = "-" if self.average_precision is None else f"{self.average_precision:.3f}"
        cut = (
            f"threshold {self.threshold:.3f}"
            if self.calibrated
            else f"threshold 0.5 (held-out F1-max {self.threshold:.3f})"
        )
        return f"epoch {self.epoch}, lr {self.lr:g} ({self.mode}), held-out AP {ap}, {cut}"


def _group_hash(seed: int, group: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{group}".encode(), digest_size=8).digest(), "big")


def fold_ids(groups: Sequence[str], share: float, seed: int) -> np.ndarray:
    """Each item's fold (0 .. round(1 / share) - 1): whole groups in seeded-hash order, each fold
    filled to `share` of the items before the next begins. With one group only, the items
    themselves are the groups. Fold 0 is the held-out part; the next folds serve calibration."""
    n = len(groups)
    folds = max(2, round(1 / share))
    ids = np.full(n, folds - 1, dtype=np.int64)
    if n < 2:
        return ids
    keys = list(groups) if len(set(groups)) > 1 else [f"#{i}" for i in range(n)]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(keys):
        members.setdefault(g, []).append(i)
    per_fold = share * n
    taken = 0
    for g in sorted(members, key=lambda g: (_group_hash(seed, g), g)):
        fold = min(folds - 1, int(taken // per_fold)) if per_fold else 0
        ids[members[g]] = fold
        taken += len(members[g])
    return ids


def holdout_mask(groups: Sequence[str], share: float, seed: int, cap: int | None = None) -> np.ndarray:
    """Which items are held out: whole groups in seeded-hash order until `share` of the items
    (at most `cap`) are out, never all of them. With one group only, the items are the groups."""
    n = len(groups)
    mask = np.zeros(n, dtype=bool)
    if n < 2:
        return mask
    keys = list(groups) if len(set(groups)) > 1 else [f"#{i}" for i in range(n)]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(keys):
        members.setdefault(g, []).append(i)
    want = max(1, round(share * n))
    if cap is not None:
        want = min(want, cap)
    taken = 0
    for g in sorted(members, key=lambda g: (_group_hash(seed, g), g)):
        if taken >= want:
            break
        size = len(members[g])
        if taken + size > n - 1 or (cap is not None and taken > 0 and taken + size > cap):
            continue  # never hold out everything; under a cap, skip a group that would overshoot it
        mask[members[g]] = True
        taken += size
    return mask


def candidates(
    params: FastTextParams, given: set[str], tuning: TuningConfig, large: bool
) -> list[tuple[int, float]]:
    """The (epoch, lr) pairs to try, cheapest first."""
    if large:
        return [(params.epoch, params.lr)]
    epochs = [params.epoch] if "epoch" in given else sorted(set(tuning.epochs))
    lrs = [params.lr] if "lr" in given else sorted(set(tuning.lrs))
    return [(e, lr) for e in epochs for lr in lrs]


def _train_and_score(train_file: str, heldout: list[str], params: dict, n_rows: int) -> list[float]:
    """Runs in a fresh interpreter: train on `train_file`, return P(positive) of each held-out line."""
    _silence_fasttext()
    p = FastTextParams.model_validate(params)
    model = _train_with_backoff(fasttext, train_file, p, n_rows)
    labels, probs = model.predict([line or " " for line in heldout], k=2, threshold=0.0)
    out = []
    for lab, pr in zip(labels, probs, strict=True):
        score = 0.0
        for name, value in zip(lab, pr, strict=True):
            if name == POS:
                score = float(value)
        out.append(min(1.0, max(0.0, score)))
    return out


def _write_rows(path: str, positives: Sequence[str], negatives: Sequence[str], seed: int) -> int:
    """The same file `train_model` writes: labelled rows in a seeded shuffle."""
    rows = [f"{POS} {line}" for line in positives if line] + [f"{NEG} {line}" for line in negatives if line]
    order = np.random.default_rng(seed).permutation(len(rows))
    with open(path, "w", encoding="utf-8") as f:
        for i in order:
            f.write(rows[i])
            f.write("\n")
    return len(rows)


def fit_recall_model(
    positives: Sequence[str],
    negatives: Sequence[str],
    out: str | Path,
    params: FastTextParams,
    *,
    given: set[str] | frozenset[str] = frozenset(),
    tuning: TuningConfig | None = None,
    positive_groups: Sequence[str] | None = None,
    negative_groups: Sequence[str] | None = None,
    report: Callable[[str], None] | None = None,
) -> tuple[Path, Choice]:
    """Train the recall model for these seeds (see the module note); returns its path and the choice.

    `given`: the fastText settings the user named (never tuned). `*_groups`: a group key per
    page (host, package, repository); pages without one are their own group.
    """
    tuning = tuning or TuningConfig()
    report = report or log.info
    pos_groups = (
        list(positive_groups) if positive_groups is not None else [f"p{i}" for i in range(len(positives))]
    )
    neg_groups = (
        list(negative_groups) if negative_groups is not None else [f"n{i}" for i in range(len(negatives))]
    )
    both_given = {"epoch", "lr"} <= set(given)
    plain_mode = "given" if both_given else "untuned"
    if not tuning.enabled or not positives or not negatives:
        path = train_model(positives, negatives, out, params)
        return path, Choice(params.epoch, params.lr, plain_mode, note="tuning off")
    large = len(positives) >= tuning.paper_from
    if large:
        pos_fold = np.where(
            holdout_mask(pos_groups, tuning.holdout_share, params.seed, tuning.max_heldout), 0, 1
        )
        neg_fold = np.where(
            holdout_mask(neg_groups, tuning.holdout_share, params.seed + 1, tuning.max_heldout), 0, 1
        )
    else:
        pos_fold = fold_ids(pos_groups, tuning.holdout_share, params.seed)
        neg_fold = fold_ids(neg_groups, tuning.holdout_share, params.seed + 1)
    pos_out, neg_out = pos_fold == 0, neg_fold == 0
    n_pos, n_neg = int(pos_out.sum()), int(neg_out.sum())
    if min(n_pos, n_neg) < tuning.min_heldout or pos_out.all() or neg_out.all():
        path = train_model(positives, negatives, out, params)
        note = f"too few pages to hold out ({n_pos} positives, {n_neg} negatives)"
        return path, Choice(params.epoch, params.lr, plain_mode, note=note)
    train_pos = [x for x, o in zip(positives, pos_out, strict=True) if not o]
    train_neg = [x for x, o in zip(negatives, neg_out, strict=True) if not o]
    heldout = [x for x, o in zip(positives, pos_out, strict=True) if o] + [
        x for x, o in zip(negatives, neg_out, strict=True) if o
    ]
    labels = np.array([True] * n_pos + [False] * n_neg)
    grid = candidates(params, set(given), tuning, large)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tried: list[Candidate] = []
    best_scores: np.ndarray | None = None
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".tune.tmp-") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        n_rows = _write_rows(train_file, train_pos, train_neg, params.seed)
        for epoch, lr in grid:
            p = params.model_copy(update={"epoch": epoch, "lr": lr, "quantize": False})
            scores = np.asarray(
                in_fresh_process(_train_and_score, train_file, heldout, p.model_dump(), n_rows)
            )
            ap = round(evaluate(scores, labels).average_precision, 6)
            tried.append(Candidate(epoch, lr, ap))
            if best_scores is None or ap > max(c.average_precision for c in tried[:-1]):
                best_scores = scores
        best = max(tried, key=lambda c: c.average_precision)  # first of the maxima: the cheapest
        assert best_scores is not None
        chosen = params.model_copy(update={"epoch": best.epoch, "lr": best.lr, "quantize": False})
        cal_scores, cal_labels = [best_scores], [labels]
        # more held-out folds for the threshold, with the chosen settings only; not for settings
        # given in full or for large seed sets, where the held-out run only reports
        folds = 1 if large or both_given else tuning.calibration_folds
        for k in range(1, min(folds, int(pos_fold.max()) + 1, int(neg_fold.max()) + 1)):
            fold_pos, fold_neg = pos_fold == k, neg_fold == k
            if not fold_pos.any() or not fold_neg.any():
                continue
            n_rows = _write_rows(
                train_file,
                [x for x, f in zip(positives, fold_pos, strict=True) if not f],
                [x for x, f in zip(negatives, fold_neg, strict=True) if not f],
                params.seed,
            )
            scored = [x for x, f in zip(positives, fold_pos, strict=True) if f]
            scored += [x for x, f in zip(negatives, fold_neg, strict=True) if f]
            cal_scores.append(
                np.asarray(
                    in_fresh_process(_train_and_score, train_file, scored, chosen.model_dump(), n_rows)
                )
            )
            cal_labels.append(np.array([True] * int(fold_pos.sum()) + [False] * int(fold_neg.sum())))
        if large:  # keep the model trained without the held-out sample: one full training only
            p = params.model_copy(update={"epoch": grid[0][0], "lr": grid[0][1]})
            path = train_model(train_pos, train_neg, out, p)
    cal = f1_threshold(np.concatenate(cal_scores), np.concatenate(cal_labels))
    mode = "paper" if large else ("given" if both_given else "tuned")
    choice = Choice(
        epoch=best.epoch,
        lr=best.lr,
        mode=mode,
        threshold=cal.threshold,
        average_precision=best.average_precision,
        f1=round(cal.f1, 6),
        heldout_positives=n_pos,
        heldout_negatives=n_neg,
        grid=tried,
        calibration_pages=int(sum(len(x) for x in cal_labels)),
    )
    if not large:
        path = train_model(
            positives, negatives, out, params.model_copy(update={"epoch": best.epoch, "lr": best.lr})
        )
    report(f"recall model: {choice.summary()}")
    return path, choice
