"""Repository list files: the accepted line forms, and one-line errors naming file and line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from corpus.core.errors import UserError
from corpus.github.repo_lists import load_repo_lists

API = "https://ghe.example/api/v3"


def test_line_forms_dedup_and_compression(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text(
        "# header comment\n\n"
        "torvalds/linux\n"
        "https://gitlab.example/group/tool.git\n"
        '{"name": "me/local", "path": "/srv/checkouts/local", "stars": 3}\n'
        '{"name": "me/pinned", "commit": "abc123", "default_branch": "dev"}\n'
        "torvalds/linux\n"
    )
    b = tmp_path / "b.jsonl.gz"
    b.write_bytes(gzip.compress(b"me/local\nother/repo\n"))
    git = load_repo_lists([str(a), str(b)], "git", API)
    assert git == [
        {"name": "torvalds/linux", "url": "https://github.com/torvalds/linux.git"},
        {"name": "group/tool", "url": "https://gitlab.example/group/tool.git"},
        {"name": "me/local", "path": "/srv/checkouts/local", "stars": 3},
        {
            "name": "me/pinned",
            "commit": "abc123",
            "default_branch": "dev",
            "url": "https://github.com/me/pinned.git",
        },
        {"name": "other/repo", "url": "https://github.com/other/repo.git"},
    ]
    tar = load_repo_lists([str(a)], "tarball", API)
    assert tar[0]["archive"] == f"{API}/repos/torvalds/linux/tarball/HEAD"
    assert tar[3]["archive"] == f"{API}/repos/me/pinned/tarball/abc123"  # a pinned commit wins


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not a repo", "expected owner/name, a git URL or a JSON object"),
        ('{"name": "x"}', "name must look like owner/name"),
        ('{"name": "a/b", "colour": 1}', "unknown key 'colour'"),
        ('{"name": "a/b", "url": "u", "path": "p"}', "give at most one of archive, path or url"),
        ("{broken", "not valid JSON"),
        ("https://host/", "cannot tell owner/name"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "list.txt"
    f.write_text(f"ok/one\n{line}\n")
    with pytest.raises(UserError) as err:
        load_repo_lists([str(f)], "git", API)
    assert str(err.value).startswith(f"{f}:2: ") and message in str(err.value)


def test_missing_list_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="repository list not found"):
        load_repo_lists([str(tmp_path / "nope.txt")], "git", API)


def test_recipe_lists_resolve_against_the_recipe_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every other input path, a relative list path is the recipe's neighbour, wherever the
    command runs from; a missing one stops loading with one line naming the key."""
    from corpus.app.recipe import load_recipe

    here = tmp_path / "recipes"
    (here / "lists").mkdir(parents=True)
    (here / "lists" / "more.txt").write_text("torvalds/linux\n")
    (here / "r").mkdir()
    recipe = here / "recipe.yaml"
    body = "name: t\noutput: {out}\nsources:\n  github:\n    repos: [{{name: a/b, path: r}}]\n    curation: {{lists: [{lst}]}}\n"
    recipe.write_text(body.format(out=tmp_path / "out", lst="lists/more.txt"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_recipe(recipe)
    assert loaded.sources.github.curation.lists == [str(here / "lists" / "more.txt")]
    assert load_repo_lists(loaded.sources.github.curation.lists, "git", API)[0]["name"] == "torvalds/linux"
    recipe.write_text(body.format(out=tmp_path / "out", lst="lists/gone.txt"))
    with pytest.raises(UserError) as err:
        load_recipe(recipe)
    assert "sources.github.curation.lists.0" in str(err.value) and "\n" not in str(err.value)
