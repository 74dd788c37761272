"""The recall and decontamination stage builders on the demo recipe's planned source stages."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from classifiers.recall.stages import loop_summary
from corpus.app.builders.decontam import decontam_stages
from corpus.app.builders.recall import recall_stages
from corpus.app.builders.sources import source_document_stages
from corpus.app.recipe import load_recipe
from corpus.app.runner import RunSettings, run_stages
from tests.conftest import DEMO_RECIPE, REPO, run_cli
from tests.recall.test_loop import demo_config


def run(stage) -> None:
    run_stages([stage], RunSettings(workers=1))


def test_recall_and_decontam_stages_plan_and_run(tmp_path: Path) -> None:
    recipe = load_recipe(DEMO_RECIPE, {"output": str(tmp_path / "out")})
    out = recipe.output
    sources = source_document_stages(recipe, out, [])
    web = next(s for s in sources if s.source == "commoncrawl")
    run(web)
    # the sections are validated on assignment, as when loaded from the file
    recipe.recall = {"commoncrawl": demo_config().model_dump()}
    recipe.decontam = {"builtin": ["humaneval"]}
    (recall,) = recall_stages(recipe, out, sources)
    assert (recall.source, recall.name, recall.tasks) == ("commoncrawl", "recall", 1)
    run(recall)
    rows = loop_summary(recall.folder)
    assert {r["target"] for r in rows} == {"math", "code"} and rows[0]["iteration"] == 1
    decontam = [s for s in decontam_stages(recipe, out, [*sources, recall]) if s.source == "commoncrawl"]
    assert decontam[0].steps[0].folders == [recall.folder]
    run(decontam[0])
    recalled = pq.read_table(Path(recall.folder) / "data" / "00000.parquet").num_rows
    clean = sum(pq.read_table(f).num_rows for f in (Path(decontam[0].folder) / "data").glob("*.parquet"))
    assert recalled > 50 and clean == recalled  # the demo crawl holds no benchmark text
    show = run_cli("recall", "show", recall.folder, "--target", "math", cwd=REPO)
    assert show.returncode == 0 and "mathqa.example" in show.stdout and "target_domain" in show.stdout


def test_the_same_loop_over_github_files(tmp_path: Path) -> None:
    """Repositories are the domains, file paths the prefixes; nothing is dropped, recalled files
    are relabelled."""
    from classifiers.recall.config import RecallConfig

    recipe = load_recipe(DEMO_RECIPE, {"output": str(tmp_path / "out")})
    sources = source_document_stages(recipe, recipe.output, [])
    gh = next(s for s in sources if s.source == "github")
    run(gh)
    cfg = demo_config().model_dump()
    cfg.update(
        iterations=2,
        targets=[{**cfg["targets"][1], "budget_share": 0.5}],
        discovery={**cfg["discovery"], "min_domain_pages": 1, "min_prefix_pages": 1},
    )
    recipe.recall = {"github": RecallConfig.model_validate(cfg).model_dump()}
    (stage,) = recall_stages(recipe, recipe.output, sources)
    run(stage)
    before = sum(pq.read_table(f).num_rows for f in Path(gh.folder).glob("data/*.parquet"))
    after = pq.read_table(Path(stage.folder) / "data" / "00000.parquet").to_pylist()
    assert len(after) == before
    domains = pq.read_table(Path(stage.folder) / "iterations" / "code" / "iter_1" / "domains.parquet").column(
        "domain"
    )
    assert "acme/geometry" in domains.to_pylist()
    assert all('"code"' in r["metadata"] for r in after)  # every file carries its code score


def test_loop_step_refuses_several_tasks_and_config_mistakes() -> None:
    import pytest
    from pydantic import ValidationError

    from classifiers.recall.config import RecallConfig
    from classifiers.recall.steps import RecallLoopStep
    from corpus.core.errors import UserError

    step = RecallLoopStep(demo_config(), "unused")
    with pytest.raises(UserError, match="runs as 1 task"):
        list(step.run(iter([]), rank=0, world_size=2))
    assert list(step.run(iter([]), rank=0, world_size=1)) == []
    target = {"name": "code", "positives": ["x.jsonl"]}
    with pytest.raises(ValidationError, match="unique"):
        RecallConfig.model_validate({"targets": [target, target]})
    with pytest.raises(ValidationError, match="extra"):
        RecallConfig.model_validate({"targets": [target], "discovery": {"domain_treshold": 0.2}})
