"""The language stage: for each source the recipe's `langid.sources` names (GitHub by default), tag
the languages of its latest documents and keep the listed ones: `OUTPUT/<source>/langid/`."""

from __future__ import annotations

from classifiers.langid.config import LangidConfig
from classifiers.langid.steps import langid_steps
from corpus.app.recipe import Recipe
from corpus.core.stage import Stage, document_stage, latest


def langid_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    cfg = recipe.langid or LangidConfig()
    kept = "all 338" if cfg.languages is None else f"{len(cfg.languages)}"
    stages: list[Stage] = []
    for source in cfg.sources:
        before = latest(previous, source)
        if before is None:
            continue
        stages.append(
            document_stage(
                source,
                "langid",
                output,
                before.folder,
                langid_steps(cfg),
                recipe.executor.tasks,
                f"language of each file (rules, heuristics, model); keep {kept} languages",
            )
        )
    return stages
