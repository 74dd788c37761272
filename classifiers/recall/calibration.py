"""The decision threshold of a recall model, chosen on held-out seeds and negatives.

fastText's probabilities are not calibrated: a model trained a few epochs on a few hundred pages
puts almost every page near 0.5, one trained many epochs pushes them to 0 and 1, and in both
cases 0.5 is an arbitrary cut (the math model of a 30-page seed set predicted one page positive
of 109 at 0.5). The threshold is therefore chosen on the held-out part of the seeds: the cut that
maximises F1 there.

Why F1-max and not Platt scaling or isotonic regression: only one thing in the project uses a
threshold (the loop's floor under which no page is recalled, and the F1 a benchmark reports),
so the only output that matters is one cut point. Platt scaling is monotone, so a 0.5 cut on its
output is still a cut on the raw score, placed where it maximises held-out likelihood for the
held-out class balance rather than the trade-off between missed and wrong pages; isotonic
regression on a few dozen held-out pages is a step function that overfits them. The F1-max cut
asks for nothing but the ranking. The cut is put half-way between the lowest score kept and the
highest score left out, so that the retrained model (on all seeds, its scores shifted a little)
does not flip the held-out page that decided it, and of the cuts within `NEAR_BEST_F1` of the
best F1 the one nearest 0.5 is taken (see there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the threshold when nothing was held out (fastText's own argmax for two labels)
DEFAULT_THRESHOLD = 0.5
#: cuts whose held-out F1 is this close to the best count as equally good; the one nearest 0.5
#: wins. A few held-out pages decide the F1-max cut, and a model trained 50 epochs puts most
#: pages near 0 or 1, so the exact maximum often sits at an extreme cut (0.02, 0.97) that one
#: page more or less on the held-out side would move; this keeps 0.5 unless the held-out pages
#: say clearly (by more than this much F1) that another cut is better.
NEAR_BEST_F1 = 0.02


@dataclass(frozen=True)
class Calibration:
    threshold: float
    f1: float
    precision: float
    recall: float


def f1_threshold(scores: np.ndarray, labels: np.ndarray, tolerance: float = NEAR_BEST_F1) -> Calibration:
    """The cut on `scores` with the highest F1 for `labels`; of the cuts within `tolerance` of
    that F1, the one nearest 0.5 (ties: the higher cut, fewer pages).

    Deterministic: the scores are rounded to 6 decimals first, so a last-bit difference in a
    score cannot move the cut.
    """
    scores = np.round(np.asarray(scores, dtype=np.float64), 6)
    labels = np.asarray(labels).astype(bool)
    positives = int(labels.sum())
    if positives == 0 or len(scores) == 0:
        return Calibration(DEFAULT_THRESHOLD, 0.0, 0.0, 0.0)
    values = np.unique(scores)[::-1]  # distinct scores, highest first
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # pages kept when cutting at values[k]: all with score >= values[k]
    kept = np.searchsorted(-sorted_scores, -values, side="right")
    tp = np.cumsum(sorted_labels)[kept - 1]
    precision = tp / kept
    recall = tp / positives
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    below = np.append(values[1:], 0.0)
    cuts = np.round((values + below) / 2, 6)
    f1 = np.round(f1, 9)
    near = np.flatnonzero(f1 >= f1.max() - tolerance)
    # among the near-best cuts the one nearest fastText's own 0.5 (ties: the higher cut)
    best = int(near[np.argmin(np.abs(cuts[near] - DEFAULT_THRESHOLD))])
    return Calibration(float(cuts[best]), float(f1[best]), float(precision[best]), float(recall[best]))
