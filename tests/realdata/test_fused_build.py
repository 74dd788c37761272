"""`executor.fuse`: each source's chain of document stages run as one task per rank gives the
bytes, drops and per-stage counts of the stages run one by one, and resumes a stage re-opened
since, rank by rank."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.app.fusion import chains
from corpus.app.plan import plan
from corpus.app.recipe import load_recipe
from tests.conftest import DEMO_RECIPE, run_cli
from tests.output_reference import assert_matches
from tests.realdata.conftest import RealBuild, real_recipe
from tests.realdata.test_output_hashes import REFERENCE

COUNTS = ("documents_in", "documents_out", "dropped", "bytes_in", "bytes_out", "tokens")


def test_the_demo_plan_fuses_each_sources_chain_of_document_stages() -> None:
    stages = plan(load_recipe(DEMO_RECIPE))
    groups = [[stages[i].label for i in c.indexes] for c in chains(stages)]
    fused = [g for g in groups if len(g) > 1]
    assert fused == [
        ["github/documents", "github/langid", "github/files", "github/samples", "github/secrets"],
        ["text/documents", "text/secrets"],
        ["all/dedup", "all/decontam"],
    ]
    # the crawl's recall runs as one task, so it stays apart from the crawl's documents; the
    # stages over all sources that read several folders, or none, stay apart too
    assert ["commoncrawl/documents"] in groups and ["commoncrawl/recall"] in groups
    assert ["all/dedup-signatures"] in groups and ["mix/tokens"] in groups
    assert sorted(i for c in chains(stages) for i in c.indexes) == list(range(len(stages)))


@pytest.mark.realdata
def test_a_fused_build_writes_the_same_bytes_and_resumes(real_build: RealBuild, tmp_path: Path) -> None:
    output = tmp_path / "fused"
    recipe = real_recipe(tmp_path, output, real_build.archives)
    proc = run_cli("build", str(recipe), "--fuse", "--workers", "2", timeout=1200, check=True)
    assert "github/documents+langid+files+samples+secrets" in proc.stderr + proc.stdout
    assert_matches(output, REFERENCE)  # every data, drop and shard file, byte for byte
    fused = json.loads((output / "manifest.json").read_text())["stages"]
    apart = real_build.manifest["stages"]
    assert [s["stage"] for s in fused] == [s["stage"] for s in apart]
    for f, a in zip(fused, apart, strict=True):
        assert {k: f[k] for k in COUNTS} == {k: a[k] for k in COUNTS}, f["stage"]
    chain = output / "github" / ".fused-documents-secrets"
    assert sorted(p.name for p in (chain / "completions").iterdir()) == ["00000", "00001"]
    seconds = {s["stage"]: s["seconds_this_run"] for s in fused}
    assert all(seconds[f"github/{n}"] > 0 for n in ("documents", "langid", "files", "samples", "secrets"))

    # a stage of the chain re-opened for rank 1: the chain runs rank 1 again, whole, and only it
    (output / "github" / "files" / "completions" / "00001").unlink()
    (output / "github" / "files" / "data" / "00001.parquet").unlink()
    kept = (output / "github" / "langid" / "stats" / "00000.json").stat().st_mtime_ns
    again = run_cli("build", str(recipe), "--fuse", "--workers", "2", timeout=1200, check=True)
    assert "github/documents+langid+files+samples+secrets" in again.stderr + again.stdout
    assert (output / "github" / "langid" / "stats" / "00000.json").stat().st_mtime_ns == kept
    assert (output / "github" / "files" / "completions" / "00001").is_file()
    assert_matches(output, REFERENCE)
