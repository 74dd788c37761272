"""`recipes/gharchive-demo.yaml` end to end, its GH Archive hours served on loopback: the list is
made from the events (a rename followed, the fork, the deleted repository and the one created on
the cutoff day left out, the missing hour recorded), then fetched, walked, filtered and sampled."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
import yaml

from tests.conftest import REPO, run_cli
from tests.github.gharchive_hours import demo_hours

DEMO = REPO / "recipes" / "demo-data" / "gharchive"


class _Quiet(SimpleHTTPRequestHandler):
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Quiet.asked.append(self.path)
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(DEMO))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_shipped_hours_are_the_documented_ones() -> None:
    assert {p.name: p.read_bytes() for p in DEMO.glob("*.json.gz")} == demo_hours()


def test_demo_builds_from_a_gharchive_list(server: str, tmp_path: Path) -> None:
    recipe = yaml.safe_load((REPO / "recipes" / "gharchive-demo.yaml").read_text())
    gha = recipe["sources"]["github"]["curation"]["gharchive"]
    gha["hours"] = server
    gha["archives"] = str(REPO / "recipes" / "demo-data" / "github" / "{owner}-{repo}.tar.gz")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    proc = run_cli("build", str(path), "--output", str(out), check=True, timeout=300)
    assert "github/gharchive-list" in proc.stdout

    repos = [json.loads(x) for x in (out / "github" / "repos" / "repos.jsonl").read_text().splitlines()]
    assert [(r["name"], r["stars"]) for r in repos] == [
        ("acme/geometry", 2),  # two WatchEvents
        ("lowlevel/ringbuf", 45),  # 44 in the renamed repository's object, one star in a later hour
        ("tools/numfmt", 0),  # seen under a new name only
    ]
    assert repos[1]["former_names"] == ["lowlevel/ring-buffer"] and repos[1]["created_at"] == "2019-01-20"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gharchive"]["hours"] == {"ok": 3, "missing": 1}
    assert manifest["gharchive"]["not_ok"][0]["hour"] == "2023-10-31T22"
    docs = pl.read_parquet(out / "github" / "fetched" / "data" / "*.parquet")
    by_repo = {json.loads(m)["repo"] for m in docs["metadata"]}
    assert by_repo == {"acme/geometry", "lowlevel/ringbuf", "tools/numfmt"}
    assert (out / "github" / "samples" / "data").is_dir()

    # a second run resumes a finished build: the hours are not asked for again, nothing changes
    asked = len(_Quiet.asked)
    before = {p: p.read_bytes() for p in (out / "github").rglob("*.jsonl")}
    run_cli("build", str(path), "--output", str(out), check=True, timeout=300)
    assert len(_Quiet.asked) == asked
    assert {p: p.read_bytes() for p in (out / "github").rglob("*.jsonl")} == before
