"""From a recipe to the list of stages that build the corpus.

A stage builder is a typed function `(recipe, output, previous) -> list[Stage]`; `STAGE_BUILDERS`
lists them in the order their stages must run: each source's own stages first, then the stages
that take all sources together. `previous` is every stage planned so far, so a builder reads from
`latest(previous, source)` or `current(previous)`. Builders live in `corpus.app.builders`, one
module per component: they turn the recipe's section into the component's steps and nothing else.
Adding a stage to the build is one step class, one config field and one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from corpus.app.builders.decontam import decontam_stages
from corpus.app.builders.dedup import recipe_dedup_stages
from corpus.app.builders.github import github_stages
from corpus.app.builders.langid import langid_stages
from corpus.app.builders.mix import build_mix_stages
from corpus.app.builders.recall import recall_stages
from corpus.app.builders.secrets import secrets_stages
from corpus.app.builders.sources import source_document_stages
from corpus.app.recipe import Recipe
from corpus.core.stage import Stage

StageBuilder = Callable[[Recipe, str, list[Stage]], list[Stage]]

#: every builder, in run order
STAGE_BUILDERS: list[StageBuilder] = [
    source_document_stages,
    langid_stages,
    github_stages,
    # per-source stages (file rules, languages, repository samples, web recall) go here
    recall_stages,
    # credentials and personal data out of every source's documents, before anything is compared
    secrets_stages,
    # stages over all sources (deduplication, decontamination) go here
    recipe_dedup_stages,
    decontam_stages,
    # mixing, tokenization and shards go here
    build_mix_stages,
]


def plan(recipe: Recipe, builders: list[StageBuilder] | None = None) -> list[Stage]:
    stages: list[Stage] = []
    for builder in STAGE_BUILDERS if builders is None else builders:
        stages.extend(builder(recipe, recipe.output, stages))
    return stages
