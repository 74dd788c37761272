"""The recall loop on the demo crawl, run as datatrove stages: iteration 2 finds what iteration 1
missed, through a discovered domain and prefix, and the domain table shows why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from datatrove.executor.local import LocalPipelineExecutor

from classifiers.recall.config import RecallConfig
from classifiers.recall.loop import Pool, discover_prefixes, domain_table, recall_by_budget
from classifiers.recall.steps import RecallLoopStep
from corpus.commoncrawl.warc_reader import WarcDocumentReader
from corpus.core.parquet_io import ParquetDocumentReader, ParquetDocumentWriter
from tests.conftest import REPO, run_cli

DEMO = REPO / "recipes" / "demo-data"


def demo_config() -> RecallConfig:
    raw = yaml.safe_load((DEMO / "recall" / "recall.yaml").read_text())["recall"]
    for target in raw["targets"]:
        target["positives"] = [str(DEMO / "recall" / p) for p in target["positives"]]
    return RecallConfig.model_validate(raw)


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recall")
    pages = out / "commoncrawl" / "documents"
    reader = WarcDocumentReader(sorted(str(p) for p in (DEMO / "commoncrawl").glob("*.warc.gz")))
    reader.bind_stage(str(pages), "commoncrawl/documents")
    LocalPipelineExecutor(
        [reader, ParquetDocumentWriter(str(pages))], tasks=2, workers=1, logging_dir=str(pages)
    ).run()
    stage = out / "commoncrawl" / "recall"
    step = RecallLoopStep(demo_config(), str(stage / "iterations"))
    step.bind_stage(str(stage), "commoncrawl/recall")
    LocalPipelineExecutor(
        [ParquetDocumentReader(str(pages)), step, ParquetDocumentWriter(str(stage))],
        tasks=1,
        workers=1,
        logging_dir=str(stage),
    ).run()
    return stage


def iteration(stage: Path, target: str, n: int) -> dict[str, pl.DataFrame]:
    folder = stage / "iterations" / target / f"iter_{n}"
    return {
        name: pl.read_parquet(folder / f"{name}.parquet")
        for name in ("scores", "domains", "prefixes", "seed_additions")
    }


@pytest.mark.parametrize(
    ("target", "qa_site", "elsewhere"),
    [("math", "mathqa.example", "graphnotes.example"), ("code", "devqa.example", "sqlcorner.example")],
)
def test_iteration_two_recalls_what_iteration_one_missed(
    loop_run: Path, target: str, qa_site: str, elsewhere: str
) -> None:
    one, two = iteration(loop_run, target, 1), iteration(loop_run, target, 2)
    # why: in iteration 1 the Q&A site passes the 10% domain threshold and /questions/ the prefix rule
    row = one["domains"].filter(pl.col("domain") == qa_site).row(0, named=True)
    assert row["target_domain"] and 0.10 < row["recalled_share"] < 0.5
    assert one["domains"].filter(pl.col("domain") == elsewhere)["recalled"].item() == 0
    assert (qa_site, "/questions/") in list(
        zip(one["prefixes"]["domain"], one["prefixes"]["prefix"], strict=True)
    )
    added = set(one["seed_additions"]["id"])
    assert added and all(
        url.startswith(f"https://{qa_site}/questions/") for url in one["seed_additions"]["url"]
    )
    # what: iteration 2 recalls the pages under the discovered prefix and pages on another site
    scores1 = one["scores"].select("id", pl.col("recalled").alias("r1"))
    both = two["scores"].join(scores1, on="id")
    new = both.filter(pl.col("recalled") & ~pl.col("r1"))
    assert added <= set(new["id"])
    assert new.filter(pl.col("domain") == elsewhere).height >= 3
    assert two["domains"].filter(pl.col("domain") == elsewhere).row(0, named=True)["target_domain"]


def test_loop_keeps_every_iteration_and_the_summary(loop_run: Path) -> None:
    summary = json.loads((loop_run / "iterations" / "loop.json").read_text())
    assert summary["split"] == "bpe" and summary["pool_pages"] > 200
    for target in ("math", "code"):
        its = summary["targets"][target]["iterations"]
        assert [it["iteration"] for it in its] == list(range(1, len(its) + 1))
        assert its[-1]["stop_reason"]
        assert its[1]["new"] > 0 and its[1]["recalled"] > its[0]["recalled"]
        for it in its:
            folder = loop_run / "iterations" / target / f"iter_{it['iteration']}"
            assert Path(it["model_path"]).is_file()
            assert json.loads((folder / "summary.json").read_text())["recalled"] == it["recalled"]
    assert (loop_run / "iterations" / "tokenizer.json").is_file()


def test_recalled_documents_carry_group_and_scores_and_the_rest_are_drops(loop_run: Path) -> None:
    rows = pq.read_table(loop_run / "data" / "00000.parquet").to_pylist()
    groups = {r["group"] for r in rows}
    assert groups == {"math", "code"}
    meta = json.loads(rows[0]["metadata"])
    assert set(meta["scores"]) == {"math", "code"}
    drops = pq.read_table(loop_run / "drops" / "recall-loop" / "00000.parquet").to_pylist()
    assert drops and {d["reason"] for d in drops} == {"not_recalled"}
    assert not {d["id"] for d in drops} & {r["id"] for r in rows}
    news = [r for r in rows if "dailynews.example" in r["metadata"]]
    assert news == []


def test_budget_prefix_rule_and_tiebreaks() -> None:
    scores = np.array([0.9, 0.8, 0.95, 0.4, 0.7], dtype=np.float32)
    tokens = np.array([10, 50, 10, 5, 10])
    assert recall_by_budget(scores, tokens, 30, 0.5).tolist() == [True, False, True, False, True]
    assert recall_by_budget(scores, tokens, 1000, 0.75).tolist() == [True, True, True, False, False]
    cfg = demo_config()
    urls = [f"https://qa.example/questions/{i}" for i in range(6)] + [
        f"https://qa.example/questions/sub/{i}" for i in range(6)
    ]
    urls += [f"https://qa.example/users/{i}" for i in range(8)]
    paths = [u.split("qa.example", 1)[1] for u in urls]
    recalled = np.array([True, True, False, False, False, False] + [True] * 6 + [False] * 8)
    pool = Pool(
        [str(i) for i in range(len(urls))],
        ["qa.example"] * len(urls),
        paths,
        [""] * len(urls),
        np.ones(len(urls), dtype=np.int64),
        urls,
    )
    table = domain_table(pool, recalled, recalled.astype(np.float32), cfg)
    assert table.row(0, named=True)["recalled_share"] == pytest.approx(8 / 20)
    found = discover_prefixes(pool, recalled, {"qa.example"}, cfg)
    # /questions/ (8 of 12 recalled) passes, so /questions/sub/ under it is not listed again
    assert list(zip(found["prefix"], found["recalled"], strict=True)) == [("/questions/", 8)]


def test_cli_loop_on_extracted_pages(tmp_path: Path) -> None:
    pages = tmp_path / "pages.jsonl"
    warcs = sorted(str(p) for p in (DEMO / "commoncrawl").glob("*.warc.gz"))
    extract = run_cli("extract", *warcs, str(pages))
    assert extract.returncode == 0, extract.stderr
    assert "skipped: non_html 2, not_http_200 2" in " ".join(extract.stderr.split())
    loop = run_cli(
        "recall",
        "loop",
        "--config",
        str(DEMO / "recall" / "recall.yaml"),
        "--pages",
        str(pages),
        "--out",
        str(tmp_path / "loop"),
    )
    assert loop.returncode == 0, loop.stderr
    assert "math iteration 2" in loop.stderr and "join the seed" in loop.stderr
    bad = run_cli(
        "recall",
        "loop",
        "--config",
        str(tmp_path / "none.yaml"),
        "--pages",
        str(pages),
        "--out",
        str(tmp_path / "x"),
    )
    assert bad.returncode == 2 and "recall config not found" in bad.stderr
