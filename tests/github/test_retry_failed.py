"""`coderforge build --retry-failed` against a loopback server that answers like GitHub's tarball
endpoint: repositories missing (404), cut on the wire or damaged in the first build are listed as
failed; the retry asks the server for those and nothing else; the result has the bytes of a clean
build. A retry killed while it re-opened tasks is finished by the next plain build."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from corpus.app.plan import plan
from corpus.app.recipe import load_recipe
from corpus.app.retry import JOURNAL, downstream, finish_reopening, plan_reopening, record_reopening
from corpus.core.errors import BuildError
from tests.conftest import DEMO_RECIPE, run_cli
from tests.github.fake_github import FakeGithub, Repo, make_tarball
from tests.hostile.test_interrupts import _tree

#: in the recipe's own `repos` (stage github/documents, 3 tasks: ranks 0, 1)
OWN = ["o/doc-ok", "o/doc-missing"]
#: in a list file (stage github/fetched, 3 tasks: rank = index % 3)
LISTED = ["o/alpha", "o/beta", "o/gamma", "o/delta", "o/eps", "o/zeta"]
#: how each failing repository fails the first time
MISSING = {"o/doc-missing", "o/beta"}  # 404
CUT_ON_WIRE = {"o/gamma"}  # fewer bytes than Content-Length: fetch_failed
DAMAGED = {"o/eps"}  # a complete download of a cut archive: corrupt_archive
FAILING = MISSING | CUT_ON_WIRE | DAMAGED


def _tarball(name: str) -> bytes:
    owner, repo = name.split("/")
    pkg = repo.replace("-", "_")
    files = {
        f"{pkg}/__init__.py": f'"""The {repo} package."""\n\nfrom {pkg}.core import run\n',
        f"{pkg}/core.py": f"def run(x: int) -> int:\n    return x * {len(repo)} + {sum(map(ord, repo))}\n",
        "README.md": f"# {repo}\n\nA small repository named {name}, served on loopback.\n",
        f"{pkg}/py.typed": "",  # dropped as empty: drop records are compared too
    }
    return make_tarball(f"{owner}-{repo}-abc1234", files)


def _url(server: FakeGithub, name: str) -> str:
    return f"{server.url}/repos/{name}/tarball/main"


def _recipe(tmp: Path, server: FakeGithub) -> Path:
    listing = tmp / "more.jsonl"
    listing.write_text("".join(json.dumps({"name": n, "archive": _url(server, n)}) + "\n" for n in LISTED))
    own = "".join(f"      - {{name: {n}, archive: '{_url(server, n)}'}}\n" for n in OWN)
    path = tmp / "recipe.yaml"
    path.write_text(
        "name: retry-failed\nseed: 3\nexecutor: {tasks: 3, workers: 1}\nsources:\n  github:\n"
        f"    repos:\n{own}    curation:\n      lists: [{listing}]\n      fetch: {{method: tarball}}\n"
    )
    return path


def _tarball_requests(server: FakeGithub) -> list[str]:
    return sorted(r["path"] for r in server.requests if "/tarball/" in r["path"])


@dataclass
class Runs:
    server: FakeGithub
    recipe: Path
    first: object
    first_requests: list[str]
    first_failed: list[dict]
    first_inspect: dict
    retry: object
    retry_requests: list[str]
    retried: Path
    clean: Path
    resumed: Path
    resume_requests: list[str]
    untouched: bool


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("retry")
    good = {n: _tarball(n) for n in OWN + LISTED}
    served = [
        Repo(n, "2020-01-01", 1, good[n][: len(good[n]) // 2] if n in DAMAGED else good[n])
        for n in OWN + LISTED
        if n not in MISSING
    ]
    for repo in served:
        repo.truncate_body = repo.name in CUT_ON_WIRE
    server = FakeGithub(served).start()
    try:
        recipe = _recipe(tmp, server)
        out, clean = tmp / "out", tmp / "clean"
        first = run_cli("build", str(recipe), "--output", str(out), check=True, timeout=300)
        first_requests = _tarball_requests(server)
        failed_file = out / "github" / "fetched" / "failed.jsonl"
        first_failed = [json.loads(line) for line in failed_file.read_text().splitlines()]
        first_failed += [
            json.loads(line)
            for line in (out / "github" / "documents" / "failed.jsonl").read_text().splitlines()
        ]
        inspect = json.loads(run_cli("inspect", str(out), "--json", check=True).stdout)

        # the server recovers: missing repositories appear, bodies arrive whole, archives are whole
        for repo in served:
            repo.truncate_body = False
            repo.tarball = good[repo.name]
        server.repos += [Repo(n, "2020-01-01", 1, good[n]) for n in sorted(MISSING)]

        # a retry killed right after it recorded what to re-open, and after one removal
        resumed = tmp / "resumed"
        shutil.copytree(out, resumed)
        stages = plan(load_recipe(recipe, {"output": str(resumed)}))
        record_reopening(stages, plan_reopening(stages))
        (resumed / "github" / "fetched" / "completions" / "00001").unlink()

        task0 = out / "github" / "fetched" / "data" / "00000.parquet"
        before = task0.stat().st_mtime_ns
        server.requests.clear()
        retry = run_cli("build", str(recipe), "--output", str(out), "--retry-failed", check=True, timeout=300)
        retry_requests = _tarball_requests(server)
        untouched = task0.stat().st_mtime_ns == before
        server.requests.clear()
        run_cli("build", str(recipe), "--output", str(resumed), check=True, timeout=300)
        resume_requests = _tarball_requests(server)
        run_cli("build", str(recipe), "--output", str(clean), check=True, timeout=300)
        yield Runs(
            server,
            recipe,
            first,
            first_requests,
            first_failed,
            inspect,
            retry,
            retry_requests,
            out,
            clean,
            resumed,
            resume_requests,
            untouched,
        )
    finally:
        server.stop()


def test_the_first_build_lists_the_failed_repositories(runs: Runs) -> None:
    assert runs.first_requests == sorted(f"/repos/{n}/tarball/main" for n in OWN + LISTED)
    by_name = {r["name"]: r for r in runs.first_failed}
    assert set(by_name) == FAILING
    for name in MISSING:
        assert by_name[name]["reason"] == "fetch_failed" and "HTTP 404" in by_name[name]["detail"]
    assert by_name["o/gamma"]["reason"] == "fetch_failed" and "truncated" in by_name["o/gamma"]["detail"]
    assert by_name["o/eps"]["reason"] == "corrupt_archive"
    # the task is the one that read the repository: index % tasks in its list
    assert by_name["o/doc-missing"]["task"] == 1
    assert {n: by_name[n]["task"] for n in ("o/beta", "o/gamma", "o/eps")} == {
        "o/beta": 1,
        "o/gamma": 2,
        "o/eps": 1,
    }
    assert "4 repositories could not be fetched" in runs.first.stdout
    assert "--retry-failed" in runs.first.stdout
    failed = runs.first_inspect["failed_fetches"]
    assert failed["repositories"] == 4
    assert sorted(Path(p).relative_to(runs.retried).as_posix() for p in failed["lists"]) == [
        "github/documents/failed.jsonl",
        "github/fetched/failed.jsonl",
    ]


def test_the_retry_asks_only_for_the_failed_repositories(runs: Runs) -> None:
    assert runs.retry_requests == sorted(f"/repos/{n}/tarball/main" for n in FAILING)
    out = runs.retry.stdout
    assert "retry: 4 repositories" in out and "github/fetched tasks 1, 2" in out
    assert "github/documents tasks 1" in out
    assert "github/files, github/samples, github/secrets" in out
    assert "retry: 4 of 4 repositories fetched this time" in out
    assert "could not be fetched" not in out
    assert not list(runs.retried.rglob("failed.jsonl"))
    assert not (runs.retried / JOURNAL).exists()
    assert runs.untouched  # github/fetched task 0 (alpha, delta) fetched fine and was not re-run
    inspect = json.loads(run_cli("inspect", str(runs.retried), "--json", check=True).stdout)
    assert "failed_fetches" not in inspect


def test_the_retried_build_equals_a_clean_build(runs: Runs) -> None:
    clean = _tree(runs.clean)
    assert any(p.startswith("github/samples/data/") for p in clean)
    assert any(p.startswith("github/fetched/drops/github-reader/") for p in clean)
    assert {p for p in clean if "/cache/repos/o/eps/" in p}  # the damaged copy was replaced
    assert _tree(runs.retried) == clean


def test_a_retry_killed_while_reopening_is_finished_by_the_next_build(runs: Runs) -> None:
    assert not (runs.resumed / JOURNAL).exists()
    assert runs.resume_requests == sorted(f"/repos/{n}/tarball/main" for n in FAILING)
    assert _tree(runs.resumed) == _tree(runs.clean)


def test_retry_and_rebuild_together_are_refused(runs: Runs) -> None:
    proc = run_cli("build", str(runs.recipe), "--output", str(runs.clean), "--retry-failed", "--rebuild")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --retry-failed and --rebuild")


def test_later_stages_that_read_github_documents_run_again_and_others_do_not(tmp_path: Path) -> None:
    stages = plan(load_recipe(DEMO_RECIPE, {"output": str(tmp_path / "demo")}))
    documents = next(s for s in stages if s.label == "github/documents")
    again = [s.label for s in downstream(stages, [documents])]
    assert again[:4] == ["github/langid", "github/files", "github/samples", "github/secrets"]
    assert {"all/dedup", "all/decontam", "mix/shards"} <= set(again)
    assert not [label for label in again if label.startswith(("commoncrawl/", "text/"))]


@pytest.mark.parametrize("where", ["../elsewhere", "github/cache", ".coderforge/x", "github"])
def test_a_reopening_record_naming_anything_but_a_stage_folder_is_refused(
    runs: Runs, tmp_path: Path, where: str
) -> None:
    out = tmp_path / "out"
    (out / ".coderforge").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (out / JOURNAL).write_text(json.dumps({"tasks": {}, "stages": [where], "forget": []}))
    stages = plan(load_recipe(runs.recipe, {"output": str(out)}))
    with pytest.raises(BuildError, match="is not a stage folder"):
        finish_reopening(stages)
    assert (tmp_path / "elsewhere").is_dir() and (out / JOURNAL).is_file()
