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
    assert os.environ["CODERFORGE_OUTPUT"] in text
