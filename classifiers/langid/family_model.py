"""The second stage of content-only language ID: a decision among the members of a family.

The first-stage model (``model``) ranks every label; when its best label belongs to a family
(``families``), this model, trained only on family members with keyword-keeping tokens, trait
tokens and character n-grams (``features``), scores the members again. The two are combined
geometrically within the family, ``p1^w * p2^(1-w)`` with ``w = STAGE1_WEIGHT``, and the answer's
confidence is the first stage's mass on the whole family times the member's combined share: a
file the first stage splits between Haskell and PureScript is confidently ML-family, and the
second stage says which.

Only the name-less path uses it (no rule left candidates): where a file name leaves several
candidates (``.h``, ``.m``, ``.pl``), linguist's heuristics and the first stage decide as before,
so accuracy with names given does not move.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fasttext

from classifiers.langid.families import family_of, members
from classifiers.langid.features import family_line
from classifiers.langid.model import PREFIX

DEFAULT_FAMILY_MODEL = Path(__file__).parent / "data" / "langid-families.ftz"
#: weight of the first stage within a family; chosen on held-out training folders
#: (benchmarks/bench_langid_content.py --tune): see the README's table
STAGE1_WEIGHT = 0.5


@dataclass
class FamilyModel:
    model: object
    path: str

    def __post_init__(self) -> None:
        labels = self.model.get_labels()  # type: ignore[attr-defined]
        self._names = {tok: tok[len(PREFIX) :].replace("_", " ") for tok in labels}

    @property
    def labels(self) -> list[str]:
        return list(self._names.values())

    def scores(self, text: str) -> dict[str, float]:
        line = family_line(text)
        if not line:
            return {}
        labels, probs = self.model.predict(line, k=-1)  # type: ignore[attr-defined]
        return {self._names[lab]: float(p) for lab, p in zip(labels, probs, strict=True)}

    def decide(
        self, stage1: dict[str, float], text: str, weight: float = STAGE1_WEIGHT, floor: float = 0.0
    ) -> tuple[str, float] | None:
        """(member, confidence) when the best first-stage label has a family, else None.

        `stage1` holds the first stage's probabilities (normalised over the labels compared,
        priors applied); members absent from it count as zero there. When the first stage's
        mass on the family is below `floor`, no answer could reach it: None, without running
        the second model.
        """
        if not stage1:
            return None
        top = max(stage1, key=stage1.__getitem__)
        fam = family_of(top)
        if fam is None:
            return None
        group = [m for m in members(fam) if m in stage1]
        mass = sum(stage1[m] for m in group)
        if mass <= 0 or mass < floor:
            return None
        p2 = self.scores(text)
        if not p2:
            return None
        share = {m: stage1[m] / mass for m in group}
        # members the second stage knows share out the first stage's mass on them by its
        # scores; a member it has no examples of keeps its first-stage share
        known = [m for m in group if m in p2]
        known_mass = sum(share[m] for m in known)
        known_total = sum(p2[m] for m in known) or 1.0
        second = dict(share)
        for m in known:
            second[m] = known_mass * p2[m] / known_total
        combined = {
            m: math.exp(
                weight * math.log(max(share[m], 1e-12)) + (1 - weight) * math.log(max(second[m], 1e-12))
            )
            for m in group
        }
        norm = sum(combined.values()) or 1.0
        best = max(combined, key=combined.__getitem__)
        return best, mass * combined[best] / norm


@cache
def load_family_model(path: str | None = None) -> FamilyModel | None:
    """The shipped family model (or CODERFORGE_LANGID_FAMILY_MODEL / `path`); None when absent or
    when the variable is set to an empty string (the first stage alone)."""
    env = os.environ.get("CODERFORGE_LANGID_FAMILY_MODEL")
    if path is None and env == "":
        return None
    chosen = path or env or str(DEFAULT_FAMILY_MODEL)
    if not Path(chosen).exists():
        return None
    fasttext.FastText.eprint = lambda *a, **k: None  # silence its load-time warning
    return FamilyModel(model=fasttext.load_model(chosen), path=chosen)
