"""Outputs and recipes under hostile use: a user's folder, two builds at once, inputs edited
between runs, recipes that are wrong in ways a schema alone does not catch, OS errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from corpus.app.claim import output_lock
from tests.conftest import DEMO_RECIPE, REPO, one_line_error, output_digests, run_cli

TEXT = REPO / "recipes" / "demo-data" / "text"


def _recipe(tmp_path: Path, output: Path, name: str = "r.yaml", **extra) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    for f in ("essays-a.jsonl", "essays-b.jsonl.gz"):
        target = tmp_path / "in" / f
        if not target.exists():
            target.write_bytes((TEXT / f).read_bytes())
    recipe = {
        "name": "hostile",
        "output": str(output),
        "executor": {"tasks": 2, "workers": 1},
        "sources": {"text": {"paths": ["in/*.jsonl*"]}},
        **extra,
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_a_users_folder_is_never_adopted(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "manifest.json").write_text('{"mine": true}')
    (out / "data.parquet").write_bytes(b"PAR1 not ours")
    line = one_line_error(run_cli("build", str(_recipe(tmp_path, out))))
    assert "not empty and no coderforge build made it" in line
    assert json.loads((out / "manifest.json").read_text()) == {"mine": True}
    assert (out / "data.parquet").read_bytes() == b"PAR1 not ours"
    assert sorted(p.name for p in out.iterdir()) == ["data.parquet", "manifest.json"]


def test_an_empty_output_is_refused(tmp_path: Path) -> None:
    line = one_line_error(run_cli("build", str(_recipe(tmp_path, tmp_path / "o")), "--output", ""))
    assert "output" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "r.yaml"]


def test_one_build_per_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, out)
    lock = out / ".coderforge" / "lock"
    with output_lock(str(out)):  # another build, alive, holds the output
        holder = json.loads(lock.read_text())
        line = one_line_error(run_cli("build", str(recipe)), code=1)
    assert f"is being built by pid {holder['pid']}" in line and str(lock) in line
    assert not lock.exists()  # released when its build ends
    assert not (out / "text").exists()
    # a lock left by a build that died (its pid is gone on this host) is stale and taken over
    lock.write_text(json.dumps({"pid": 2**22 + 7, "host": socket.gethostname(), "since": "then"}))
    run_cli("build", str(recipe), check=True)
    assert not lock.exists()


def test_edited_inputs_are_not_reported_done(tmp_path: Path) -> None:
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, out)
    run_cli("build", str(recipe), check=True)
    before = output_digests(out)
    essay = tmp_path / "in" / "essays-a.jsonl"
    os.utime(essay)  # touched, same bytes: not a change
    assert "done before" in run_cli("build", str(recipe), check=True).stdout
    lines = essay.read_text().splitlines()
    essay.write_text("\n".join(lines[:-1]) + "\n")
    line = one_line_error(run_cli("build", str(recipe)))
    assert "essays-a.jsonl (size" in line and "--rebuild" in line
    run_cli("build", str(recipe), "--rebuild", check=True)
    after = output_digests(out)
    assert after != before
    clean = tmp_path / "clean"
    run_cli("build", str(recipe), "--output", str(clean), check=True)
    assert output_digests(clean) == after


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"seed": True}, "seed: Input should be a valid integer"),
        (
            {"executor": {"tasks": 1_000_000_000}},
            "executor.tasks: Input should be less than or equal to 100000",
        ),
        (
            {"mix": {"targets": {"text": 0.7, "prose": 0.3}}},
            "mix: group 'prose' takes documents of group prose, which no source gives",
        ),
        ({"sources": {"text": {"paths": ["in"]}}}, "sources.text.paths.0: "),
    ],
    ids=["negative seed", "boolean seed", "absurd tasks", "mix target typo", "folder as text file"],
)
def test_mistakes_are_found_at_load(tmp_path: Path, change: dict, expected: str) -> None:
    recipe = _recipe(tmp_path, tmp_path / "out", **change)
    line = one_line_error(run_cli("build", str(recipe)))
    assert expected in line
    assert not (tmp_path / "out").exists()


def test_a_corrected_recipe_is_accepted_after_a_failed_start(tmp_path: Path) -> None:
    """A first attempt that finished no task leaves no claim a corrected recipe must fight."""
    out = tmp_path / "out"
    bad = _recipe(
        tmp_path, out, name="bad.yaml", executor={"tasks": 2, "ray_address": "127.0.0.1:1", "kind": "ray"}
    )
    line = one_line_error(run_cli("build", str(bad)))
    assert "cannot connect to Ray at 127.0.0.1:1" in line
    assert not out.exists()  # nothing written before the cluster answered
    run_cli("build", str(_recipe(tmp_path, out)), check=True)


@pytest.mark.parametrize(
    "text",
    [
        "name: a\nname: b\nsources: {text: {paths: [x]}}\n",
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\nname: x\n",
    ],
    ids=["duplicate key", "billion laughs"],
)
def test_hostile_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    start = time.monotonic()
    line = one_line_error(run_cli("build", str(path), timeout=60))
    assert time.monotonic() - start < 30
    assert "given twice" in line or "aliases expand it" in line


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("/proc/coderforge", "inside /proc, a system folder"),
        ("/sys/coderforge", "inside /sys, a system folder"),
        ("foo://bucket/x", "unknown file system protocol foo://"),
        ("/tmp/" + "/".join(["d" * 200] * 21), "longer than the file system allows"),
        ("/tmp/" + "n" * 300, "longer than the file system allows"),
    ],
    ids=["proc", "sys", "unknown protocol", "long path", "long name"],
)
def test_outputs_that_cannot_be(tmp_path: Path, output: str, expected: str) -> None:
    line = one_line_error(run_cli("build", str(DEMO_RECIPE), "--output", output))
    assert expected in line


def test_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """A real ENOSPC: the output on a 256 KiB tmpfs (mounting needs root, as on the CI machine;
    skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        big = tmp_path / "in" / "big.jsonl"
        big.parent.mkdir()
        with big.open("w") as f:
            for i in range(4000):
                f.write(json.dumps({"id": str(i), "text": os.urandom(600).hex()}) + "\n")  # incompressible
        recipe = _recipe(tmp_path, mount / "out")
        line = one_line_error(run_cli("build", str(recipe)), code=1)
        assert "stage text/documents: No space left on device: " in line
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_rebuild_replaces_another_recipes_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("build", str(_recipe(tmp_path, out, dedup={})), check=True)
    assert (out / "all" / "dedup").is_dir()
    other = _recipe(tmp_path, out, name="other.yaml")
    line = one_line_error(run_cli("build", str(other)))
    assert "holds a build of a different recipe" in line and "--rebuild" in line
    run_cli("build", str(other), "--rebuild", check=True)
    assert not (out / "all").exists()  # the old recipe's stages are gone, not left beside the new
    clean = tmp_path / "clean"
    run_cli("build", str(other), "--output", str(clean), check=True)
    assert output_digests(out) == output_digests(clean)
