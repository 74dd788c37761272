"""The recipe hook: a `dedup` section turns into stages over the sources' document folders."""

from __future__ import annotations

from pathlib import Path

from corpus.app.builders.dedup import recipe_dedup_stages
from corpus.app.recipe import Recipe
from corpus.app.runner import RunSettings, run_stages
from dedup.config import DedupConfig
from dedup.evaluation import real_texts
from tests.dedup.helpers import doc, drops, kept_ids, write_input


class RecipeWithDedup(Recipe):
    """The one field the build's recipe gains for these stages."""

    dedup: DedupConfig | None = None


def _recipe(output: Path, **dedup) -> RecipeWithDedup:
    return RecipeWithDedup.model_validate(
        {
            "name": "t",
            "output": str(output),
            "executor": {"tasks": 2},
            "sources": {"text": {"paths": ["x.jsonl"]}, "commoncrawl": {"warc": ["x.warc"]}},
            "dedup": dedup,
        }
    )


def _inputs(output: Path) -> None:
    texts = real_texts(6, seed=4)
    write_input(output, [doc(f"text:{i}", t) for i, t in enumerate(texts[:4])], source="text")
    pages = [doc("cc:copy", texts[0], source="commoncrawl"), doc("cc:other", texts[5], source="commoncrawl")]
    write_input(output, pages, source="commoncrawl")


def test_together_finds_exact_copies_across_sources(tmp_path: Path):
    _inputs(tmp_path)
    stages = recipe_dedup_stages(_recipe(tmp_path), str(tmp_path), [])
    assert [s.label for s in stages] == [
        "all/dedup-signatures",
        "all/dedup-buckets",
        "all/dedup-clusters",
        "all/dedup",
    ]
    run_stages(stages, RunSettings(workers=1))
    assert drops(tmp_path, "all") == {
        "text:0": ("exact_duplicate", {"duplicate_of": "cc:copy", "jaccard": 1.0})
    }
    assert len(kept_ids(tmp_path, "all")) == 5


def test_per_source_runs_keep_sources_apart(tmp_path: Path):
    _inputs(tmp_path)
    stages = recipe_dedup_stages(_recipe(tmp_path, together=False), str(tmp_path), [])
    assert {s.source for s in stages} == {"text", "commoncrawl"}
    run_stages(stages, RunSettings(workers=1))
    assert drops(tmp_path, "text") == {} and drops(tmp_path, "commoncrawl") == {}


def test_no_section_no_stages(tmp_path: Path):
    recipe = RecipeWithDedup.model_validate(
        {"name": "t", "output": str(tmp_path), "sources": {"text": {"paths": ["x.jsonl"]}}}
    )
    assert recipe_dedup_stages(recipe, str(tmp_path), []) == []


def test_rounds_after_the_components_settle_start_no_task(tmp_path: Path):
    _inputs(tmp_path)
    stages = recipe_dedup_stages(_recipe(tmp_path, cluster_shards=2, cluster_rounds=8), str(tmp_path), [])
    rounds = [s for s in stages if "-round" in s.name]
    assert len(rounds) == 8
    run_stages(stages, RunSettings(workers=1))
    ran = [s.name for s in rounds if (Path(s.folder) / "completions").exists()]
    assert 2 <= len(ran) < 8 and ran == [s.name for s in rounds[: len(ran)]]
    assert drops(tmp_path, "all") == {
        "text:0": ("exact_duplicate", {"duplicate_of": "cc:copy", "jaccard": 1.0})
    }
