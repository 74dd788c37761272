"""The recall loops of the recipe's `recall:` section, one per source that has documents.

The Common Crawl loop keeps only recalled pages (group = the target that recalled them); the
GitHub loop relabels the files it recalls and keeps the rest, as the paper used it to find more
code-related text in repositories rather than to filter them.
"""

from __future__ import annotations

from classifiers.recall.stages import loop_stages
from corpus.app.recipe import Recipe
from corpus.core.stage import Stage, latest

#: the unit each source's loop ranks and discovers by
UNITS = (("commoncrawl", "web"), ("github", "github"))


def recall_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    section = recipe.recall
    if section is None:
        return []
    stages: list[Stage] = []
    for source, unit in UNITS:
        cfg = getattr(section, source)
        prev = latest(previous, source)
        if cfg is None or prev is None:
            continue
        cfg = cfg.model_copy(update={"unit": unit})
        stages += loop_stages(cfg, source, output, prev.folder, keep_unrecalled=source == "github")
    return stages
