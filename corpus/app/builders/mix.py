"""The mix and shard stages, over the latest document folder of every source planned so far; a
recipe without a `mix:` section stops at documents."""

from __future__ import annotations

from corpus.app.recipe import Recipe
from corpus.core.stage import Stage, current
from corpus.mix.config import MixRecipe
from corpus.mix.stages import SOURCE, mix_stages


def build_mix_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    if recipe.mix is None:
        return []
    inputs = [stage.folder for stage in current(previous, exclude=(SOURCE,))]
    settings = MixRecipe(tokenizer=recipe.tokenizer, mix=recipe.mix, shards=recipe.shards)
    return mix_stages(inputs, output, settings, recipe.seed, recipe.executor.tasks)
