"""Findings applied to a text: each span replaced by its kind's placeholder token."""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.secrets.findings import Finding


def redact(text: str, findings: Sequence[Finding]) -> str:
    """`text` with every finding (sorted, non-overlapping, as `scanner.scan` returns them)
    replaced by its placeholder."""
    if not findings:
        return text
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(f.placeholder)
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)
