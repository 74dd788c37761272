"""The demo recipe end to end: documents per source, drop records, manifest, inspect, determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from tests.conftest import DEMO_RECIPE, output_digests, run_cli


def test_demo_layout_and_manifest(demo_output: Path) -> None:
    manifest = json.loads((demo_output / "manifest.json").read_text())
    for source in ("github", "commoncrawl", "text"):
        stage = demo_output / source / "documents"
        assert sorted(p.name for p in (stage / "data").iterdir()) == ["00000.parquet", "00001.parquet"]
        assert sorted(p.name for p in (stage / "completions").iterdir()) == ["00000", "00001"]
        assert (stage / "stats").is_dir() and (stage / "logs").is_dir()
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(output_digests(demo_output)) == set(listed)
    for rel, entry in listed.items():
        data = (demo_output / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["bytes"] == len(data)
        assert entry["documents"] == pl.read_parquet(demo_output / rel).height
    # each task hashed the files it wrote; the build's own process read none of them again
    recorded = {
        f"{d.parent.parent.relative_to(demo_output).as_posix()}/{rel}": entry
        for d in demo_output.glob("*/*/digests/*.json")
        for rel, entry in json.loads(d.read_text()).items()
    }
    assert recorded == {rel: {k: e[k] for k in ("bytes", "documents", "sha256")} for rel, e in listed.items()}
    shards = [
        s for r in demo_output.glob("mix/shards/ranks/*.json") for s in json.loads(r.read_text())["shards"]
    ]
    assert shards and all(s["files"] for s in shards)
    assert sum(len(s["files"]) for s in shards) == sum(len(s["files"]) for s in manifest["shards"])
    assert manifest["recipe"]["name"] == "demo"
    assert manifest["recipe"]["sources"]["github"]["repos"][0]["archive"].endswith("acme-geometry.tar.gz")
    assert {"datatrove", "pyarrow", "python"} <= set(manifest["versions"])
    assert manifest["wall_seconds"] > 0
    stages = {s["stage"]: s for s in manifest["stages"]}
    assert stages["text/documents"]["documents_out"] == 20
    assert stages["text/documents"]["dropped"] == 1


def test_documents_carry_their_story(demo_output: Path) -> None:
    docs = pl.read_parquet(demo_output / "*" / "documents" / "data" / "*.parquet")
    assert docs.columns == ["id", "text", "source", "group", "language", "metadata"]
    assert docs["id"].n_unique() == docs.height
    gh = docs.filter(pl.col("source") == "github")
    meta = json.loads(gh.filter(pl.col("id") == "github:acme/geometry/geometry/polygon.py")["metadata"][0])
    assert meta["repo"] == "acme/geometry" and meta["path"] == "geometry/polygon.py"
    assert meta["stars"] == 120 and meta["license"] == "MIT" and meta["kind"] == "code"
    readme = json.loads(gh.filter(pl.col("id") == "github:lowlevel/ringbuf/README.md")["metadata"][0])
    assert readme["kind"] == "text"
    cc = docs.filter(pl.col("source") == "commoncrawl")
    page = cc.filter(pl.col("text").str.contains("quadratic equation"))
    assert json.loads(page["metadata"][0])["domain"] == "mathnotes.example"
    assert r"\frac{-b \pm \sqrt{b^2 - 4ac}}{2a}" in page["text"][0]


def test_drops_are_recorded_and_counted(demo_output: Path) -> None:
    drops = pl.read_parquet(demo_output / "*" / "*" / "drops" / "*" / "*.parquet")
    pairs = {(r[0], r[1]) for r in drops.select("id", "reason").iter_rows()}
    assert ("github:acme/geometry/docs/logo.png", "binary") in pairs
    assert ("github:forkers/geometry/docs/logo.png", "binary") in pairs
    assert ("essays-b.jsonl.gz:4", "corrupt_record") in pairs
    web = drops.filter(pl.col("stage").str.starts_with("commoncrawl/documents"))
    reasons = set(web["reason"])
    assert "non_html" in reasons and any("200" in r or "status" in r for r in reasons), reasons

    # the corpus as it stands is the last stage over all sources, not a sum over every stage
    docs = pl.read_parquet(demo_output / "all" / "decontam" / "data" / "*.parquet", columns=["source"])
    every = pl.read_parquet(demo_output / "*" / "*" / "data" / "*.parquet", columns=["source"])
    proc = run_cli("inspect", str(demo_output), "--json", check=True)
    summary = json.loads(proc.stdout)
    assert summary["documents"] == docs.height < every.height and summary["dropped"] == drops.height
    assert summary["scope"] == "documents of the last stage of each source: all/decontam"
    assert sum(r["documents"] for r in summary["by_source"]) == docs.height
    assert sum(r["documents"] for r in summary["by_stage"]) == every.height
    counted = {(r["stage"], r["reason"]): r["count"] for r in summary["drops"]}
    assert counted == {(a, b): c for a, b, c in drops.group_by("stage", "reason").len().iter_rows()}
    table = run_cli("inspect", str(demo_output / "github" / "documents"), check=True).stdout
    assert "documents" in table and "binary" in table


def test_same_recipe_twice_is_byte_identical(demo_output: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    proc = run_cli("build", str(DEMO_RECIPE), "--output", str(again), "--workers", "1", check=True)
    assert "github/documents" in proc.stdout and "docs out" in proc.stdout
    assert output_digests(again) == output_digests(demo_output)
    # re-running a finished build does nothing and changes nothing
    before = output_digests(again)
    proc = run_cli("build", str(DEMO_RECIPE), "--output", str(again), check=True)
    assert proc.stdout.count("done before") == len(
        json.loads((again / "manifest.json").read_text())["stages"]
    )
    assert output_digests(again) == before


def test_inspect_errors_are_one_line(tmp_path: Path) -> None:
    proc = run_cli("inspect", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {tmp_path / 'nothing'}: no such folder"
    proc = run_cli("inspect", str(tmp_path))
    assert proc.returncode == 2 and "no stage output found" in proc.stderr
