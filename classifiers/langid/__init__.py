"""Identify the 338 languages of the DeepSeek-Coder-V2 list from a file's name and bytes.

``identify(name, content)`` returns a listed name or None; ``detect`` says how it was decided
(filename, extension, shebang, modeline, heuristic, model with confidence) or why not.
"""

from __future__ import annotations

from classifiers.langid.identify import Detection, detect, identify
from classifiers.langid.rules import load_table


def language_names() -> list[str]:
    """The 338 names, in the paper's order."""
    return list(load_table().names)


__all__ = ["Detection", "detect", "identify", "language_names"]
