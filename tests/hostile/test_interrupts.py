"""Stopping a build: Ctrl-C and SIGTERM end it with one line and exit 130, SIGKILL of the main
process leaves no process of the build behind, and every way of stopping resumes to the bytes
and the file tree of a clean build."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpus.app.runner import remove_stale_temporaries
from corpus.core.stage import Stage
from tests.conftest import CODERFORGE, REPO, run_cli

#: four tasks on two workers, then the dedup stages: a stop at the first finished task always lands
#: mid-build whatever the size, so the inputs stay small (the stages' fixed cost dominates)
FILES, RECORDS = 4, 5_000
#: per-run records: timings and executor settings differ between any two runs
RUN_RECORDS = ("executor.json", "stats.json")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    for f in range(FILES):
        with open(folder / f"part-{f}.jsonl", "w") as out:
            for i in range(RECORDS):
                out.write(
                    json.dumps({"id": f"{f}-{i}", "text": "lorem ipsum dolor sit amet " * (3 + i % 7)}) + "\n"
                )
    return folder


def _recipe(tmp_path: Path, inputs: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: stop\noutput: {tmp_path / name}\nexecutor: {{tasks: {FILES}, workers: 2}}\n"
        f"sources: {{text: {{paths: ['{inputs}/*.jsonl']}}}}\ndedup: {{}}\n"
    )
    return path


def _tree(root: Path) -> dict[str, bytes]:
    """Every file of an output except run records (logs, stats, executor settings, the lock)."""
    skip = ("logs", "stats", ".coderforge")
    found = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(part in skip for part in rel.split("/")) and p.name not in RUN_RECORDS:
            found[rel] = b"" if p.name == "manifest.json" else p.read_bytes()
    return found


def _group_alive(pgid: int) -> list[str]:
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(Path(f"/proc/{entry}/cmdline").read_text().replace("\0", " ")[:100])
    return alive


def _start(recipe: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CODERFORGE, "build", str(recipe)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_work(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(out.glob("text/documents/completions/*")):
            return
        time.sleep(0.01)
    raise AssertionError("the build never got under way")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, inputs: Path) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("clean")
    run_cli("build", str(_recipe(tmp, inputs, "out")), check=True)
    return _tree(tmp / "out")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_stop_then_resume(tmp_path: Path, inputs: Path, clean: dict[str, bytes], how: str) -> None:
    recipe = _recipe(tmp_path, inputs, "out")
    out = tmp_path / "out"
    proc = _start(recipe)
    _wait_for_work(out, proc)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # a terminal sends it to the whole foreground group
    else:
        os.kill(proc.pid, signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    if how == "sigkill":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert "interrupted: re-run the same command to resume" in err.strip().splitlines()
        assert "leaked" not in err
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_alive(proc.pid) == []
    assert not (out / "manifest.json").exists()
    run_cli("build", str(recipe), check=True)
    assert _tree(out) == clean
    assert list(out.rglob(".*.tmp-*")) == [] and not (out / ".coderforge" / "lock").exists()


def test_a_killed_trainings_folder_is_cleared_before_its_stage_reruns(tmp_path: Path, killer) -> None:
    """fastText trains from a file written beside the model; a task killed mid-training leaves that
    folder behind, named as a temporary, and the runner clears it before the stage runs again."""
    stage = Stage("commoncrawl", "recall-train-1", str(tmp_path), [], 1)
    iteration = Path(stage.folder) / "iterations" / "math" / "iter_1"
    iteration.mkdir(parents=True)
    train = (
        "from classifiers.recall.model import train_model\n"
        "pos = [f'integral {i} of x dx equals {i * 7} plus theorem' for i in range(150_000)]\n"
        "neg = [f'recipe {i} with butter sugar flour and eggs' for i in range(150_000)]\n"
        f"train_model(pos, neg, {str(iteration / 'model')!r})\n"
    )

    def temporaries() -> list[Path]:
        return [p for p in iteration.iterdir() if p.name.startswith(".train.tmp-")]

    run = killer([sys.executable, "-c", train], until=lambda: any(temporaries()), timeout=120)
    assert run.returncode == -signal.SIGKILL, run.output
    assert len(temporaries()) == 1 and not list(iteration.glob("model*"))
    remove_stale_temporaries(stage)
    assert list(iteration.iterdir()) == []
