"""The mix and shard stages of a build, from the stage folders holding the final documents.

    OUTPUT/mix/tokenizer/   tokenizer.json (trained on a seeded sample, or the recipe's, checked);
                            inputs.json: the input files, listed once for all later stages
    OUTPUT/mix/tokens/      counts/<rank>.parquet: exact tokens of every document; drops/;
                            cache/<rank>.bin/.idx: each document's first copy, tokenized
    OUTPUT/mix/plan/        plan.json, selection/<rank>.parquet (copies per document); drops/
    OUTPUT/mix/shards/      <group>/<rank>_<n>.bin/.idx/.parquet, ranks/<rank>.json

The last stage's manifest hook returns the "tokenizer", "mix", "tokens", "shards" and "megatron"
entries of OUTPUT/manifest.json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corpus.mix.config import (
    FimSettings,
    MixGroup,
    MixRecipe,
    MixSettings,
    ShardSettings,
    TokenizerSettings,
)
from corpus.mix.steps import CountTokensStep, PlanStep, TrainTokenizerStep, inputs_file, tokenizer_file
from corpus.shards.manifest import merge_manifest, shard_manifest
from corpus.shards.write import WriteShardsStep

if TYPE_CHECKING:
    from corpus.stages import Stage

SOURCE = "mix"


def mix_stages(inputs: list[str], output: str, settings: MixRecipe, seed: int, tasks: int) -> list[Stage]:
    """The four stages that turn document folders into shards and a manifest."""
    from corpus.stages import Stage, stage_folder

    output = output.rstrip("/")
    seed = settings.mix.seed if settings.mix.seed is not None else seed
    tok_folder = stage_folder(output, SOURCE, "tokenizer")
    tokens_folder = stage_folder(output, SOURCE, "tokens")
    plan_folder = stage_folder(output, SOURCE, "plan")
    shards_folder = stage_folder(output, SOURCE, "shards")
    tok_path = tokenizer_file(tok_folder)

    def manifest(_stage: Stage) -> dict[str, Any]:
        return shard_manifest(output, tok_folder, plan_folder, shards_folder)

    how = "load and check " + settings.tokenizer.path if settings.tokenizer.path else "train a byte-level BPE"
    return [
        Stage(
            SOURCE,
            "tokenizer",
            output,
            [TrainTokenizerStep(inputs, tok_folder, settings.tokenizer, settings.mix, seed)],
            1,
            how,
        ),
        Stage(
            SOURCE,
            "tokens",
            output,
            [
                CountTokensStep(
                    inputs_file(tok_folder),
                    tokens_folder,
                    tok_path,
                    settings.tokenizer,
                    settings.mix,
                    seed,
                    settings.shards.batch_documents,
                )
            ],
            tasks,
            "exact token counts per document",
        ),
        Stage(
            SOURCE,
            "plan",
            output,
            [PlanStep(tokens_folder, plan_folder, settings.mix, seed)],
            1,
            "shares by tokens -> copies per document",
        ),
        Stage(
            SOURCE,
            "shards",
            output,
            [
                WriteShardsStep(
                    inputs_file(tok_folder),
                    plan_folder,
                    f"{tokens_folder}/cache",
                    shards_folder,
                    tok_path,
                    settings.tokenizer,
                    settings.mix,
                    settings.shards,
                    seed,
                )
            ],
            tasks,
            "FIM + tokenize + Megatron .bin/.idx and Parquet shards",
            manifest=manifest,
        ),
    ]


def from_recipe_sections(mix: Any, tokenizer: Any, shards: Any) -> MixRecipe:
    """Translate the recipe's basic `mix`/`tokenizer`/`shards` sections into full settings.

    Shares come from `mix.targets`; code groups get the paper's FIM (PSM, 0.5), others none.
    """
    groups = {
        name: MixGroup(share=share, fim=FimSettings() if name == "code" else None)
        for name, share in mix.targets.items()
    }
    return MixRecipe(
        tokenizer=TokenizerSettings(
            path=tokenizer.path,
            vocab_size=tokenizer.vocab_size,
            pad_to_multiple_of=tokenizer.pad_to_multiple_of,
            sample_documents=tokenizer.sample_documents,
        ),
        mix=MixSettings(groups=groups, total_tokens=mix.total_tokens),
        shards=ShardSettings(max_tokens_per_shard=shards.max_tokens_per_shard, parquet=shards.parquet),
    )


def settings_of(recipe: Any) -> MixRecipe:
    """The recipe's mix settings, whichever shape its sections have."""
    if isinstance(recipe.mix, MixSettings):
        return MixRecipe(tokenizer=recipe.tokenizer, mix=recipe.mix, shards=recipe.shards)
    return from_recipe_sections(recipe.mix, recipe.tokenizer, recipe.shards)


def run_local(stages: list[Stage], workers: int = 1) -> dict:
    """Run stages in order on this machine and merge their manifest entries (outside `build`)."""
    from corpus.build import stage_executor

    manifest: dict = {}
    for stage in stages:
        stage_executor(stage, "local", workers).run()
        if stage.manifest is not None:
            manifest = merge_manifest(stage.output, stage.manifest(stage))
    return manifest


def build_stages(recipe: Any, output: str, previous: list[Stage]) -> list[Stage]:
    """Stage builder for the build: mixes the latest document folder of every source planned so far."""
    from corpus.stages import current

    if getattr(recipe, "mix", None) is None:  # a recipe without a mix section stops at documents
        return []

    inputs = [stage.folder for stage in current(previous, exclude=(SOURCE,))]
    return mix_stages(inputs, output, settings_of(recipe), recipe.seed, recipe.executor.tasks)
