"""The GitHub stages inside a real `coderforge build`: search, fetch (tarball endpoint), walk, file
rules and repository samples, against a loopback server; and the `github` commands."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO, run_cli
from tests.github.fake_github import FakeGithub, Repo, make_tarball

TOKEN = "ghp_build_stage_token"

APP = {
    "app/__init__.py": "",
    "app/main.py": "from app.models import User\nfrom app import db\n\n\ndef run():\n    return User(db.connect())\n",
    "app/models.py": "from app.db import connect\n\n\nclass User:\n    def __init__(self, conn):\n        self.conn = conn\n",
    "app/db.py": "import sqlite3\n\nfrom app import models\n\n\ndef connect():\n    return sqlite3.connect(':memory:')\n",
    "README.md": "# app\n\nA small application with a dependency cycle between models and db.\n",
    "config.json": '{"name": "value"}\n',
    "data/long.txt": "word " * 201 + "\n" + "short line\n" * 20,
    "web/index.html": "<html><body><script>" + "var x = 1;\n" * 50 + "</script><p>hi</p></body></html>\n",
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    server = FakeGithub(
        [
            Repo("team/app", "2021-04-01", 40, make_tarball("team-app-abc1234", APP)),
            Repo(
                "team/tool",
                "2022-01-01",
                9,
                make_tarball(
                    "team-tool-1",
                    {
                        "tool.c": '#include "tool.h"\nint main(void) { return 0; }\n',
                        "tool.h": "int tool(void);\n",
                    },
                ),
            ),
            Repo("team/broken", "2022-02-01", 8, b"\x1f\x8b not really gzip"),
            Repo("team/listed", "2020-01-01", 7, make_tarball("t-l-1", {"x.py": "X = 1\n"})),
            Repo("team/recent", "2024-01-01", 99, make_tarball("t-r-1", {"x.py": "X = 1\n"})),
        ],
        token=TOKEN,
    ).start()
    yield server
    server.stop()


def recipe(tmp: Path, fake: FakeGithub, listed: Path) -> Path:
    extra = tmp / "extra"
    (extra / "src").mkdir(parents=True)
    (extra / "src" / "tool.cpp").write_text('#include "tool.hpp"\nint run() { return tool_value; }\n')
    (extra / "src" / "tool.hpp").write_text("#pragma once\nconstexpr int tool_value = 42;\n")
    listing = tmp / "more-repos.txt"
    listing.write_text(f'# more repositories\n{{"name": "local/extra", "path": "{extra}"}}\n\nteam/app\n')
    text = f"""
name: github-stages
seed: 5
executor: {{tasks: 2, workers: 1}}
sources:
  github:
    repos:
      - {{name: team/listed, path: {listed}}}
    curation:
      lists: [{listing}]
      search:
        api_url: {fake.url}
        token_env: CF_BUILD_TOKEN
        created_before: 2023-11-01
        min_stars: 5
      fetch: {{method: tarball}}
"""
    path = tmp / "recipe.yaml"
    path.write_text(text)
    return path


def test_search_fetch_rules_and_samples_in_a_build(fake: FakeGithub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CF_BUILD_TOKEN", TOKEN)
    listed = tmp_path / "listed"
    (listed / "lib").mkdir(parents=True)
    (listed / "lib" / "x.py").write_text("VALUE = 'listed'\n")
    out = tmp_path / "out"
    path = recipe(tmp_path, fake, listed)
    proc = run_cli("build", str(path), "--output", str(out), check=True, timeout=300)
    assert "github/samples" in proc.stdout

    repos = [json.loads(line) for line in (out / "github" / "repos" / "repos.jsonl").read_text().splitlines()]
    # the list file first, then the search: created before the cutoff, at least 5 stars, each
    # repository once, and not the recipe's own repository again
    assert [r["name"] for r in repos] == ["local/extra", "team/app", "team/tool", "team/broken"]
    assert repos[1]["archive"] == f"{fake.url}/repos/team/app/tarball/HEAD"
    samples = pl.read_parquet(out / "github" / "samples" / "data" / "*.parquet")
    ids = sorted(samples["id"].to_list())
    assert ids == [
        "github:local/extra#sample-0",
        "github:team/app#sample-0",
        "github:team/app/README.md",
        "github:team/listed#sample-0",
        "github:team/tool#sample-0",
    ]
    app = samples.filter(pl.col("id") == "github:team/app#sample-0").row(0, named=True)
    meta = json.loads(app["metadata"])
    # models <-> db is a cycle; main depends on both; every file once
    assert sorted(f["path"] for f in meta["files"]) == ["app/db.py", "app/main.py", "app/models.py"]
    assert meta["files"][-1]["path"] == "app/main.py"
    assert app["language"] == "Python" and meta["dedup_level"] == "repository"
    for f in meta["files"]:
        assert app["text"][f["start"] : f["end"]] == APP[f["path"]]
        assert f"# {f['path']}\n" in app["text"]

    extra = json.loads(samples.filter(pl.col("id") == "github:local/extra#sample-0")["metadata"][0])
    assert [f["path"] for f in extra["files"]] == ["src/tool.hpp", "src/tool.cpp"]  # header first
    drops = pl.read_parquet(out / "github" / "*" / "drops" / "*" / "*.parquet")
    by_id = dict(zip(drops["id"], drops["reason"], strict=True))
    assert by_id["github:team/broken"] == "corrupt_archive"
    assert by_id["github:team/app/app/__init__.py"] == "empty"
    assert by_id["github:team/app/config.json"] == "json_yaml_size"
    assert by_id["github:team/app/data/long.txt"] == "max_line_length"
    assert by_id["github:team/app/web/index.html"] == "html_visible_text"

    # a second build asks GitHub nothing and changes nothing
    asked = len(fake.requests)
    before = {p: p.read_bytes() for p in (out / "github").rglob("data/*.parquet")}
    run_cli("build", str(path), "--output", str(out), check=True, timeout=300)
    assert len(fake.requests) == asked
    assert {p: p.read_bytes() for p in (out / "github").rglob("data/*.parquet")} == before
    # a sample splits back into exactly its files
    back = tmp_path / "back"
    run_cli(
        "github",
        "split",
        str(out / "github" / "samples"),
        "github:team/app#sample-0",
        "--to",
        str(back),
        check=True,
    )
    assert {p.relative_to(back).as_posix(): p.read_text() for p in back.rglob("*") if p.is_file()} == {
        k: v for k, v in APP.items() if k in ("app/main.py", "app/models.py", "app/db.py")
    }
    # the token is in no file of the output
    for p in out.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes(), p


def test_github_commands(fake: FakeGithub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = tmp_path / "repos.jsonl"
    env_ok = run_cli(
        "github",
        "search",
        str(listing),
        "--api-url",
        fake.url,
        "--token-env",
        "CF_NO_TOKEN",
        "--min-stars",
        "5",
    )
    assert env_ok.returncode == 2 and "401" in env_ok.stderr and "Traceback" not in env_ok.stderr
    monkeypatch.setenv("CF_OK_TOKEN", TOKEN)
    ok = run_cli(
        "github",
        "search",
        str(listing),
        "--api-url",
        fake.url,
        "--token-env",
        "CF_OK_TOKEN",
        "--min-stars",
        "9",
    )
    assert ok.returncode == 0, ok.stderr
    from corpus.github.repo_lists import load_repo_lists

    listed = load_repo_lists([str(listing)], "tarball", fake.url)  # search output is a valid list
    assert [r["name"] for r in listed] == ["team/app", "team/tool"]  # created before 2023-11-01
    assert all(r["url"].startswith("https://example.invalid/") for r in listed)
    bad = run_cli("github", "search", str(listing), "--created-before", "Nov 2023")
    assert bad.returncode == 2 and "--created-before" in bad.stderr
    archive = REPO / "recipes" / "demo-data" / "github" / "acme-geometry.tar.gz"
    walked = run_cli("github", "walk", str(archive), "--name", "acme/geometry", "--json", check=True)
    summary = json.loads(walked.stdout)
    assert summary["kept"] == 6 and summary["dropped"] == {"binary": 1, "generated": 1, "vendored": 2}


def test_a_refused_search_stops_the_build_with_one_line(
    fake: FakeGithub, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("CF_BUILD_TOKEN", "not-the-token")
    path = tmp_path / "r.yaml"
    path.write_text(
        f"name: t\nsources:\n  github:\n    curation:\n      search: {{api_url: {fake.url}, token_env: CF_BUILD_TOKEN}}\n"
    )
    proc = run_cli("build", str(path), "--output", str(tmp_path / "out"), timeout=300)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: sources.github.curation.search: GitHub API answered 401")
    assert "$CF_BUILD_TOKEN" in last and "not-the-token" not in proc.stderr + proc.stdout
