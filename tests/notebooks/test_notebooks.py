"""Both inspection notebooks run top to bottom against a real build output, without an error."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.mix.helpers import built_output

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(scope="module")
def output(request) -> Path:
    """The demo build when it carries shards; otherwise a build of the mix stages on real files."""
    demo = request.getfixturevalue("demo_output")
    if (demo / "mix" / "shards").is_dir():
        return demo
    return built_output()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inspect_shards.ipynb", "pipeline_report.ipynb"])
def test_notebook_runs_clean(name, output, monkeypatch):
    monkeypatch.setenv("CODERFORGE_OUTPUT", str(output))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook drew no plot"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    if name == "inspect_shards.ipynb":
        assert "every one ends with EOS and equals its source text" in text
    else:  # every section whose data this output has must run, not be skipped
        if list(output.glob("**/iter_*/summary.json")):
            assert "no recall iterations" not in text
        if list(output.glob("**/*clusters/assign/*.parquet")):
            assert "duplicates removed in" in text
    assert os.environ["CODERFORGE_OUTPUT"] in text


@pytest.mark.slow
def test_pipeline_report_shows_duplicate_clusters(tmp_path, monkeypatch):
    """A build whose code went through MinHash dedup (25 forks of real files) before the mix."""
    dedup_config = pytest.importorskip("dedup.config")
    dedup_stages = pytest.importorskip("dedup.stages")
    from corpus.mix.stages import mix_stages
    from tests.mix.helpers import run_local
    from tests.mix.helpers import _code_rows, make_inputs, small_settings, write_stage

    inputs = make_inputs(tmp_path)
    rows = _code_rows(160)
    rows += [dict(r, id=r["id"] + "-fork", text=r["text"] + "\n# local change\n") for r in rows[:25]]
    write_stage(tmp_path / "github" / "documents", rows)
    run_local(dedup_stages.dedup_stages(dedup_config.DedupConfig(), "github", str(tmp_path), tasks=2))
    inputs[0] = str(tmp_path / "github" / "dedup")
    run_local(mix_stages(inputs, str(tmp_path), small_settings(), seed=7, tasks=2))

    monkeypatch.setenv("CODERFORGE_OUTPUT", str(tmp_path))
    nb = nbformat.read(NOTEBOOKS / "pipeline_report.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    text = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    assert "25 duplicates removed in 25 clusters" in text
    assert "no deduplication output" not in text
