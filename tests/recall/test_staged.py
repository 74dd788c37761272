"""The recall loop as parallel stages (`recall.commoncrawl.tasks: 2`) on the demo crawl, built with
the CLI: the same outcome as the single task (iteration 2 recalls what iteration 1 missed, through a
discovered domain and prefix), the same bytes from a clean build and from one killed in a score
stage and resumed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import CODERFORGE, DEMO_RECIPE, REPO, run_cli
from tests.recall.test_loop import iteration

DEMO = REPO / "recipes" / "demo-data"


def _recipe(tmp_path: Path, name: str, tasks: int = 2) -> Path:
    """The demo recipe's crawl and recall sections only, with the loop split into parallel stages."""
    raw = yaml.safe_load(DEMO_RECIPE.read_text())
    recall = raw["recall"]["commoncrawl"]
    for target in recall["targets"]:
        target["positives"] = [str(DEMO / p.removeprefix("demo-data/")) for p in target["positives"]]
    recall["tasks"] = tasks
    recipe = {
        "name": "recall-staged",
        "seed": raw["seed"],
        "output": str(tmp_path / name),
        "executor": {"kind": "local", "tasks": 2, "workers": 1},
        "sources": {"commoncrawl": {"warc": [str(DEMO / "commoncrawl" / "*.warc.gz")]}},
        "recall": {"commoncrawl": recall},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _digests(root: Path) -> dict[str, bytes]:
    """Every file the loop's stages leave (data, drops, scores, decisions, models, iteration files),
    with the output folder's own path taken out of the JSON that names model files."""
    found = {}
    for path in sorted(root.glob("commoncrawl/recall*/**/*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or any(p in rel.split("/") for p in ("logs", "stats", "completions")):
            continue
        if rel.endswith(("stats.json", "executor.json")):
            continue
        found[rel] = path.read_bytes().replace(str(root).encode(), b"OUT")
    return found


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, killer) -> tuple[Path, Path, Path]:
    """A clean build; one SIGKILLed as soon as the second score stage starts, then resumed; and
    one with three score and filter tasks."""
    tmp = tmp_path_factory.mktemp("staged")
    run_cli("build", str(_recipe(tmp, "clean")), check=True)
    killed = _recipe(tmp, "killed")
    score = tmp / "killed" / "commoncrawl" / "recall-score-2"
    killer([*CODERFORGE, "build", str(killed)], until=score.is_dir, timeout=120)
    completions = score / "completions"
    done = len(os.listdir(completions)) if completions.is_dir() else 0
    assert done < 2, f"the kill must land inside the score stage ({done} of 2 tasks done)"
    assert not (tmp / "killed" / "commoncrawl" / "recall-rank-2" / "completions").is_dir()
    assert not (tmp / "killed" / "manifest.json").exists()
    resumed = run_cli("build", str(killed), check=True)
    assert "commoncrawl/recall-score-2" in resumed.stdout
    run_cli("build", str(_recipe(tmp, "three", tasks=3)), check=True)
    return tmp / "clean", tmp / "killed", tmp / "three"


def test_plan_names_the_parallel_stages(tmp_path: Path) -> None:
    plan = run_cli("build", str(_recipe(tmp_path, "plan", tasks=3)), "--dry-run", check=True).stdout
    for stage in ("recall-tokenizer", "recall-train-1", "recall-score-3", "recall-rank-3"):
        assert f"commoncrawl/{stage}" in plan
    assert not (tmp_path / "plan").exists() or not any((tmp_path / "plan").rglob("*.parquet"))


def test_iteration_two_recalls_what_iteration_one_missed(builds: tuple[Path, Path, Path]) -> None:
    stage = builds[0] / "commoncrawl" / "recall"
    for target, qa_site, elsewhere in (
        ("math", "mathqa.example", "graphnotes.example"),
        ("code", "devqa.example", "sqlcorner.example"),
    ):
        one, two = iteration(stage, target, 1), iteration(stage, target, 2)
        # why: iteration 1's domain table puts the Q&A site over the 10% threshold, /questions/ passes
        row = one["domains"].filter(pl.col("domain") == qa_site).row(0, named=True)
        assert row["target_domain"] and 0.10 < row["recalled_share"] < 0.5
        assert one["domains"].filter(pl.col("domain") == elsewhere)["recalled"].item() == 0
        prefixes = list(zip(one["prefixes"]["domain"], one["prefixes"]["prefix"], strict=True))
        assert (qa_site, "/questions/") in prefixes
        added = set(one["seed_additions"]["id"])
        assert added and all(
            u.startswith(f"https://{qa_site}/questions/") for u in one["seed_additions"]["url"]
        )
        # what: iteration 2 recalls the pages under that prefix and pages of a site iteration 1 missed
        both = two["scores"].join(one["scores"].select("id", pl.col("recalled").alias("r1")), on="id")
        new = both.filter(pl.col("recalled") & ~pl.col("r1"))
        assert added <= set(new["id"])
        assert new.filter(pl.col("domain") == elsewhere).height >= 3
        assert two["domains"].filter(pl.col("domain") == elsewhere).row(0, named=True)["target_domain"]


def test_summary_and_filtered_documents(builds: tuple[Path, Path, Path]) -> None:
    out = builds[0] / "commoncrawl"
    loop = json.loads((out / "recall" / "iterations" / "loop.json").read_text())
    assert loop["split"] == "bpe" and loop["pool_pages"] > 200 and loop["parallel_tasks"] == 2
    recalled: set[str] = set()
    final: dict[str, set[str]] = {}
    for target in ("math", "code"):
        its = loop["targets"][target]["iterations"]
        assert [it["iteration"] for it in its] == list(range(1, len(its) + 1)) and its[-1]["stop_reason"]
        assert its[1]["recalled"] > its[0]["recalled"] and its[1]["new"] > 0
        stop = json.loads((out / "recall" / "iterations" / target / "stop.json").read_text())
        assert stop["iteration"] == len(its)
        last = iteration(out / "recall", target, len(its))["scores"]
        final[target] = set(last.filter(pl.col("recalled"))["id"])
        recalled |= final[target]
    # converged before the planned third iteration: the build skipped its stages, no task started
    assert len(loop["targets"]["math"]["iterations"]) == 2
    assert not list((out / "recall-score-3").glob("scores/*.parquet"))
    assert not (out / "recall-score-3" / "completions").exists()
    manifest = json.loads((builds[0] / "manifest.json").read_text())
    assert "commoncrawl/recall-rank-3" in {s["stage"] for s in manifest["stages"]}
    # two score tasks, each a file of ids and numbers, no text
    scores = sorted((out / "recall-score-1" / "scores").glob("*.parquet"))
    assert len(scores) == 2 and "text" not in pq.read_schema(scores[0]).names
    # pages are read and split once: iteration 1 keeps the lines, iteration 2 scores them
    assert len(list((out / "recall-score-1" / "lines").glob("*.parquet"))) == 2
    assert not (out / "recall-score-2" / "lines").exists()
    lines = pq.read_table(out / "recall-score-1" / "lines" / "00000.parquet").num_rows
    assert pq.read_table(out / "recall-score-2" / "scores" / "00000.parquet").num_rows == lines
    rows = [
        r for f in sorted((out / "recall" / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()
    ]
    assert {r["id"] for r in rows} == recalled
    for r in rows:
        meta = json.loads(r["metadata"])
        assert set(meta["scores"]) == {"math", "code"} and r["id"] in final[r["group"]]
    drops = pl.read_parquet(out / "recall" / "drops" / "recall-filter" / "*.parquet")
    assert set(drops["reason"]) <= {"not_recalled", "duplicate_url"} and "not_recalled" in set(
        drops["reason"]
    )
    assert not set(drops["id"]) & recalled
    inspect = run_cli("inspect", str(builds[0]), "--json", check=True)
    assert "recall" in json.loads(inspect.stdout)


def test_killed_in_a_score_stage_then_resumed_equals_a_clean_build(builds: tuple[Path, Path, Path]) -> None:
    clean, resumed = _digests(builds[0]), _digests(builds[1])
    assert clean.keys() == resumed.keys()
    assert [k for k in clean if clean[k] != resumed[k]] == []
    assert any(k.endswith("model.bin") for k in clean) and any("/decisions/" in k for k in clean)


def test_github_files_are_relabelled_not_dropped(tmp_path: Path) -> None:
    """The staged loop over GitHub files: repositories are domains, every file is kept."""
    from classifiers.recall.config import RecallConfig
    from corpus.app.builders.recall import recall_stages
    from corpus.app.builders.sources import source_document_stages
    from corpus.app.recipe import load_recipe
    from corpus.app.runner import RunSettings, run_stages
    from tests.recall.test_loop import demo_config

    recipe = load_recipe(DEMO_RECIPE, {"output": str(tmp_path / "out")})
    sources = source_document_stages(recipe, recipe.output, [])
    gh = next(s for s in sources if s.source == "github")
    cfg = demo_config().model_dump()
    cfg.update(
        iterations=2,
        tasks=2,
        targets=[{**cfg["targets"][1], "budget_share": 0.5}],
        discovery={**cfg["discovery"], "min_domain_pages": 1, "min_prefix_pages": 1},
    )
    recipe.recall = {"github": RecallConfig.model_validate(cfg).model_dump()}
    stages = recall_stages(recipe, recipe.output, sources)
    assert [s.name for s in stages][-1] == "recall" and stages[-1].tasks == 2
    run_stages([gh, *stages], RunSettings(workers=1))
    final = Path(stages[-1].folder)
    before = sum(pq.read_table(f).num_rows for f in Path(gh.folder).glob("data/*.parquet"))
    after = [r for f in sorted((final / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(after) == before
    assert all('"code"' in r["metadata"] for r in after)
    domains = pq.read_table(final / "iterations" / "code" / "iter_1" / "domains.parquet").column("domain")
    assert "acme/geometry" in domains.to_pylist()
    assert {r["group"] for r in after} >= {"code"}


def test_the_number_of_tasks_changes_no_decision(builds: tuple[Path, Path, Path]) -> None:
    """Pages are ranked in file-then-row order and sampled by hash of their id, so 2 or 3 score
    tasks train the same models and make the same decisions; the third filter task gets no file."""
    two, three = _digests(builds[0]), _digests(builds[2])
    loop = "commoncrawl/recall/iterations/loop.json"
    kept = [k for k in two if "/iterations/" in k and "/decisions/" not in k and k != loop]
    assert kept and [k for k in kept if two[k] != three.get(k)] == []
    assert {**json.loads(two[loop]), "parallel_tasks": 3} == json.loads(three[loop])
    data = "commoncrawl/recall/data/"
    assert [k for k in three if k.startswith(data)] == [f"{data}{r:05d}.parquet" for r in range(3)]
    assert all(two[k] == three[k] for k in two if k.startswith(data))
    assert pq.read_table(builds[2] / data / "00002.parquet").num_rows == 0
