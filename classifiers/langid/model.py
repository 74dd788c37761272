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

from classifiers.langid.tokens import model_line

DEFAULT_MODEL = Path(__file__).parent / "data" / "langid.ftz"
PREFIX = "__label__"


def label_token(label: str) -> str:
    return PREFIX + label.replace(" ", "_")


@dataclass
class ContentModel:
    """Wraps a fastText model; labels are language labels with spaces written as underscores."""

    model: object
    path: str

    @property
    def labels(self) -> list[str]:
        return [self._unlabel(x) for x in self.model.get_labels()]  # type: ignore[attr-defined]

    @staticmethod
    def _unlabel(token: str) -> str:
        return token[len(PREFIX) :].replace("_", " ")

    def scores(self, text: str) -> dict[str, float]:
        """Probabilities of every label the model knows, for the head of `text`."""
        line = model_line(text)
        if not line:
            return {}
        labels, probs = self.model.predict(line, k=-1)  # type: ignore[attr-defined]
        return {self._unlabel(lab): float(p) for lab, p in zip(labels, probs, strict=True)}

    def best(
        self,
        text: str,
        candidates: tuple[str, ...] | list[str] | None = None,
        prior: Callable[[str], float] | None = None,
    ) -> tuple[str, float] | None:
        """The most probable label, among `candidates` when given, each probability times
        `prior(label)` when given; the confidence is renormalised over the labels compared."""
        scores = self.scores(text)
        if not scores:
            return None
        if candidates:
            scores = {c: scores[c] for c in candidates if c in scores}
            if not scores:
                return None
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
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None  # silence its load-time warning
    return ContentModel(model=fasttext.load_model(chosen), path=chosen)
