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

from typing import Any

from corpus.core.stage import Stage, stage_folder
from corpus.mix.config import MixRecipe
from corpus.mix.manifest import shard_manifest
from corpus.mix.shard_writer import WriteShardsStep
from corpus.mix.steps import CountTokensStep, PlanStep, TrainTokenizerStep, inputs_file, tokenizer_file

SOURCE = "mix"


def mix_stages(inputs: list[str], output: str, settings: MixRecipe, seed: int, tasks: int) -> list[Stage]:
    """The four stages that turn document folders into shards and a manifest."""
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
