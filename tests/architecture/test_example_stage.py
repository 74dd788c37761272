"""Adding a stage to the build: one step class, one config field, one builder registration.

This file is the worked example the README's architecture section shows. The stage drops
documents longer than a limit; the test builds the demo's text source with it and checks that the
stage ran in its own folder, that every drop is recorded with its reason, and that
`coderforge inspect` counts them like any built-in stage's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from datatrove.data import Document, DocumentsPipeline
from pydantic import Field

from corpus.app.build import build
from corpus.app.plan import STAGE_BUILDERS
from corpus.app.recipe import Recipe, load_recipe
from corpus.core.stage import Stage, document_stage, latest
from corpus.core.story import StoryStep
from corpus.core.strict import StrictModel
from tests.conftest import REPO, run_cli


# 1. the step: a datatrove PipelineStep that records every document it removes
class LongDocumentFilter(StoryStep):
    name = "long documents"

    def __init__(self, max_chars: int) -> None:
        super().__init__()
        self.max_chars = max_chars

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        for doc in data:
            if len(doc.text) > self.max_chars:
                self.drop(doc.id, "too_long", f"{len(doc.text)} > {self.max_chars} characters")
                continue
            yield doc


# 2. the config field: a strict section, composed into the recipe
class MaxLengthConfig(StrictModel):
    max_chars: int = Field(ge=1, description="documents longer than this are dropped")
    sources: list[str] = Field(["text"], description="sources the limit applies to")


class RecipeWithMaxLength(Recipe):
    max_length: MaxLengthConfig | None = None


# 3. the builder, registered after the document stages
def max_length_stages(recipe: RecipeWithMaxLength, output: str, previous: list[Stage]) -> list[Stage]:
    cfg = recipe.max_length
    if cfg is None:
        return []
    stages = []
    for source in cfg.sources:
        before = latest(previous, source)
        if before is not None:
            step = LongDocumentFilter(cfg.max_chars)
            stages.append(
                document_stage(source, "max-length", output, before.folder, [step], recipe.executor.tasks)
            )
    return stages


BUILDERS = [STAGE_BUILDERS[0], max_length_stages, *STAGE_BUILDERS[1:]]


def _recipe_file(tmp_path: Path, max_chars: int) -> Path:
    recipe = {
        "name": "example-stage",
        "output": str(tmp_path / "out"),
        "executor": {"tasks": 2, "workers": 1},
        "sources": {
            "text": {
                "paths": [
                    str(REPO / "recipes/demo-data/text/essays-a.jsonl"),
                    str(REPO / "recipes/demo-data/text/essays-b.jsonl.gz"),
                ]
            }
        },
        "max_length": {"max_chars": max_chars},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_a_new_stage_runs_records_its_drops_and_shows_in_inspect(tmp_path: Path) -> None:
    recipe = load_recipe(_recipe_file(tmp_path, max_chars=240), schema=RecipeWithMaxLength)
    results = build(recipe, builders=BUILDERS)
    assert [r.stage.label for r in results] == ["text/documents", "text/max-length", "text/secrets"]
    stats = results[1].stats
    assert stats.documents_in == 20 and 0 < stats.dropped < 20
    assert stats.documents_out + stats.dropped == stats.documents_in
    folder = Path(recipe.output) / "text" / "max-length"
    drops = [r for f in sorted((folder / "drops").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(drops) == stats.dropped
    assert {d["reason"] for d in drops} == {"too_long"} and {d["stage"] for d in drops} == {
        "text/max-length:long-documents"
    }
    kept = [r for f in sorted((folder / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert all(len(r["text"]) <= 240 for r in kept) and len(kept) == stats.documents_out
    inspect = run_cli("inspect", str(folder), "--json", check=True)
    counted = json.loads(inspect.stdout)["drops"]
    assert counted == [
        {"stage": "text/max-length:long-documents", "reason": "too_long", "count": stats.dropped}
    ]


def test_the_new_section_is_as_strict_as_the_others(tmp_path: Path) -> None:
    path = _recipe_file(tmp_path, max_chars=0)
    try:
        load_recipe(path, schema=RecipeWithMaxLength)
    except Exception as e:
        assert str(e) == f"{path}: max_length.max_chars: Input should be greater than or equal to 1 (got 0)"
    else:
        raise AssertionError("a zero limit was accepted")
