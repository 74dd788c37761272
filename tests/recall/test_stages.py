"""The recall and decontamination stage builders on the demo recipe's planned source stages."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from datatrove.executor.local import LocalPipelineExecutor

from classifiers.decontam.step import decontam_stages
from classifiers.recall.stages import loop_summary, recall_stages
from corpus.recipe import load_recipe
from corpus.stages import source_document_stages
from tests.conftest import DEMO_RECIPE, REPO, run_cli
from tests.recall.test_loop import demo_config


def run(stage) -> None:
    LocalPipelineExecutor(stage.steps, tasks=stage.tasks, workers=1, logging_dir=stage.folder).run()


def test_recall_and_decontam_stages_plan_and_run(tmp_path: Path) -> None:
    recipe = load_recipe(DEMO_RECIPE, {"output": str(tmp_path / "out")})
    out = recipe.output
    sources = source_document_stages(recipe, out, [])
    web = next(s for s in sources if s.source == "commoncrawl")
    run(web)
    # the recipe schema has no recall/decontam keys yet; the builders read them off the recipe
    object.__setattr__(recipe, "recall", {"commoncrawl": demo_config().model_dump()})
    object.__setattr__(recipe, "decontam", {"builtin": ["humaneval"]})
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
