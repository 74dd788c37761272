"""A bad recipe gets one line naming the key or path, exit code 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

DATA = REPO / "recipes" / "demo-data"

GOOD = f"""
name: t
output: OUT
sources:
  text:
    paths: [{DATA}/text/essays-a.jsonl]
"""


def write_recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text.replace("OUT", str(tmp_path / "out")))
    return path


CASES = {
    "unknown key": (GOOD + "executor: {kind: local, taks: 3}\n", "executor.taks: unknown key"),
    "unknown top-level key": (GOOD + "dedupe: true\n", "dedupe: unknown key"),
    "wrong type": (GOOD + "executor: {tasks: many}\n", "executor.tasks: Input should be a valid integer"),
    "bad choice": (GOOD + "executor: {kind: slurm}\n", "executor.kind: Input should be 'local' or 'ray'"),
    "missing key": ("output: OUT\nsources: {text: {paths: [x.jsonl]}}\n", "name: required key is missing"),
    "missing input": (
        "name: t\noutput: OUT\nsources: {text: {paths: [nowhere/missing.jsonl]}}\n",
        "sources.text.paths.0: input not found",
    ),
    "glob matches nothing": (
        "name: t\noutput: OUT\nsources: {commoncrawl: {warc: ['nowhere/*.warc.gz']}}\n",
        "sources.commoncrawl.warc.0: no file matches",
    ),
    "no sources": ("name: t\noutput: OUT\nsources: {}\n", "give at least one of github, commoncrawl, text"),
    "shares": (
        GOOD + "mix: {targets: {code: 0.6, text: 0.3}}\n",
        "shares must add up to 1.0",
    ),
    "repo location": (
        "name: t\noutput: OUT\nsources: {github: {repos: [{name: a/b}]}}\n",
        "give exactly one of archive, path or url",
    ),
    "repo name": (
        f"name: t\noutput: OUT\nsources: {{github: {{repos: [{{name: nope, path: {DATA}}}]}}}}\n",
        "sources.github.repos.0.name: Value error, must look like owner/name",
    ),
    "not yaml": ("name: [unclosed\n", "not valid YAML"),
    "not a mapping": ("- just\n- a list\n", "must be a YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_recipe(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    recipe = write_recipe(tmp_path, text)
    proc = run_cli("build", str(recipe))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {recipe}"), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_output_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    recipe = write_recipe(tmp_path, GOOD)
    for target, expected in (
        (blocker, "exists and is not a folder"),
        (blocker / "sub" / "out", "cannot be written"),
    ):
        proc = run_cli("build", str(recipe), "--output", str(target))
        assert proc.returncode == 2
        assert f"error: output: {target}" in proc.stderr and expected in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_missing_recipe_file(tmp_path: Path) -> None:
    proc = run_cli("build", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: recipe not found"


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, GOOD)
    proc = run_cli("build", str(recipe), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "text/documents" in proc.stdout and "TextSourceReader" in proc.stdout
    assert not (tmp_path / "out").exists()


def test_other_recipe_into_same_output_is_refused(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, GOOD)
    run_cli("build", str(recipe), check=True)
    other = tmp_path / "other.yaml"
    other.write_text(GOOD.replace("OUT", str(tmp_path / "out")).replace("name: t", "name: t\nseed: 7"))
    proc = run_cli("build", str(other))
    assert proc.returncode == 2
    assert "holds a build of a different recipe" in proc.stderr
    # a run-only change (workers, executor) is the same build and resumes
    assert run_cli("build", str(recipe), "--workers", "1").returncode == 0


def test_home_folder_paths_expand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`~/…` inputs and output are the user's home, as in a shell (recipes that name a cache)."""
    from corpus.app.recipe import load_recipe

    home = tmp_path / "home"
    (home / "texts").mkdir(parents=True)
    (home / "texts" / "a.jsonl").write_text('{"text": "hello"}\n')
    monkeypatch.setenv("HOME", str(home))
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(
        "name: t\nseed: 1\noutput: ~/out\nsources:\n  text:\n    paths: [~/texts/a.jsonl]\n"
        "mix:\n  targets: {text: 1.0}\n"
    )
    recipe = load_recipe(recipe_file)
    assert recipe.output == str(home / "out")
    assert recipe.sources.text.paths == [str(home / "texts" / "a.jsonl")]
