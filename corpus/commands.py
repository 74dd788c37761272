"""Corpus commands: build and inspect."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder filled in by the build runner."""
