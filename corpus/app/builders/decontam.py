"""Decontamination: one `decontam` stage per source as it stands, when the recipe has `decontam:`."""

from __future__ import annotations

from classifiers.decontam.step import Decontaminator
from corpus.app.recipe import Recipe
from corpus.core.stage import Stage, current, document_stage


def decontam_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    cfg = recipe.decontam
    if cfg is None:
        return []
    sets = len(cfg.builtin) + len(cfg.sets)
    return [
        document_stage(
            prev.source,
            "decontam",
            output,
            prev.folder,
            [Decontaminator(cfg)],
            recipe.executor.tasks,
            f"drop documents sharing a {cfg.n}-gram with {sets} benchmark sets",
        )
        for prev in current(previous)
    ]
