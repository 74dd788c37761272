"""The content classifier: a quantized fastText model over code tokens.

Used where names and rules leave more than one candidate (``.h``, ``.m``, ``.pl``) or nothing at
all (a file without a telling name). Trained by ``training`` on files whose names decide their
language unambiguously, so any corpus a user points at becomes training data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fasttext

from classifiers.langid.tokens import model_line

DEFAULT_MODEL = Path(__file__).parent / "data" / "langid.ftz"
PREFIX = "__label__"
TOP_K = 32


def label_token(label: str) -> str:
    return PREFIX + label.replace(" ", "_")


@dataclass
class ContentModel:
    """Wraps a fastText model; labels are language labels with spaces written as underscores."""

    model: object
    path: str

    def __post_init__(self) -> None:
        self._names = {tok: self._unlabel(tok) for tok in self.model.get_labels()}  # type: ignore[attr-defined]

    @property
    def labels(self) -> list[str]:
        return list(self._names.values())

    @staticmethod
    def _unlabel(token: str) -> str:
        return token[len(PREFIX) :].replace("_", " ")

    def scores(self, text: str, k: int = -1) -> dict[str, float]:
        """Probabilities of the `k` most likely labels (all with -1), for the head of `text`."""
        line = model_line(text)
        if not line:
            return {}
        labels, probs = self.model.predict(line, k=k)  # type: ignore[attr-defined]
        names = self._names
        return {names[lab]: float(p) for lab, p in zip(labels, probs, strict=True)}

    def weighted(self, text: str, prior: Callable[[str], float] | None = None) -> dict[str, float]:
        """The top labels' probabilities times `prior(label)`, renormalised over them."""
        scores = self.scores(text, k=TOP_K)
        if prior is not None:
            scores = {k: v * prior(k) for k, v in scores.items()}
        total = sum(scores.values()) or 1.0
        return {k: v / total for k, v in scores.items()}

    def best(
        self,
        text: str,
        candidates: tuple[str, ...] | list[str] | None = None,
        prior: Callable[[str], float] | None = None,
    ) -> tuple[str, float] | None:
        """The most probable label, among `candidates` when given, each probability times
        `prior(label)` when given; the confidence is renormalised over the labels compared."""
        # the top few labels nearly always hold the answer; ranking every label costs more than
        # the model itself, so all labels are fetched only when no candidate is among the top
        scores = self.scores(text, k=TOP_K)
        if not scores:
            return None
        if candidates:
            top = {c: scores[c] for c in candidates if c in scores}
            if not top:
                everything = self.scores(text, k=-1)
                top = {c: everything[c] for c in candidates if c in everything}
            if not top:
                return None
            scores = top
        if prior is not None:
            scores = {k: v * prior(k) for k, v in scores.items()}
        total = sum(scores.values()) or 1.0
        label = max(scores, key=scores.__getitem__)
        return label, scores[label] / total


@cache
def load_model(path: str | None = None) -> ContentModel | None:
    """The shipped model (or CODERFORGE_LANGID_MODEL / `path`); None when no model file exists."""
    chosen = path or os.environ.get("CODERFORGE_LANGID_MODEL") or str(DEFAULT_MODEL)
    if not Path(chosen).exists():
        return None

    fasttext.FastText.eprint = lambda *a, **k: None  # silence its load-time warning
    return ContentModel(model=fasttext.load_model(chosen), path=chosen)
