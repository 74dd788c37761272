"""Shared test helpers: paths, the CLI as a user runs it, and one demo build per session."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEMO_RECIPE = REPO / "recipes" / "demo.yaml"
CODERFORGE = [sys.executable, "-m", "corpus.app.cli"]

os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_cli(*args: str, timeout: float = 600, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run `coderforge ARGS` in a fresh process, exactly as a user would."""
    env = {**kwargs.pop("env", os.environ), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [*CODERFORGE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=kwargs.pop("cwd", REPO),
        **kwargs,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"coderforge {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def one_line_error(proc: subprocess.CompletedProcess, *words: str, code: int = 2, alone: bool = False) -> str:
    """The one `error: ...` line a failed command must end with (exit `code`, no traceback), holding
    every one of `words`. Progress bars may come before it unless `alone`: then it is all of stderr."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    assert not alone or len(lines) == 1, proc.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def jsonl_parts(folder: Path, files: int, records: int) -> None:
    """`files` JSONL inputs of `records` short documents each, of varied length, for kill/resume runs."""
    folder.mkdir()
    for f in range(files):
        with open(folder / f"part-{f}.jsonl", "w") as out:
            for i in range(records):
                text = f"record {i} of file {f}: " + "lorem ipsum dolor sit amet " * (3 + i % 7)
                out.write(json.dumps({"id": f"{f}-{i}", "text": text}) + "\n")


def text_recipe(tmp_path: Path, name: str, title: str, tasks: int, workers: int) -> Path:
    """A recipe over `tmp_path/in/*.jsonl` building into `tmp_path/name`."""
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(
        f"name: {title}\noutput: {tmp_path / name}\nexecutor: {{tasks: {tasks}, workers: {workers}}}\n"
        "sources: {text: {paths: ['in/*.jsonl']}}\n"
    )
    return recipe


def output_digests(root: Path) -> dict[str, str]:
    """sha256 of every data and drop file under a build output (the bytes a build promises)."""
    digests = {}
    for path in sorted(root.rglob("*.parquet")):
        rel = path.relative_to(root).as_posix()
        if "/data/" in f"/{rel}" or "/drops/" in f"/{rel}":
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo recipe built once with the local executor; read-only for tests."""
    out = tmp_path_factory.mktemp("demo") / "out"
    run_cli("build", str(DEMO_RECIPE), "--output", str(out), check=True)
    return out


@dataclass
class KilledRun:
    returncode: int
    #: the last lines the process printed (stdout and stderr), for assertion messages
    output: str


def kill_mid_run(
    cmd: list[str],
    until: Callable[[], bool] | None = None,
    timeout: float = 300.0,
    poll: float = 0.002,
    env: dict[str, str] | None = None,
) -> KilledRun:
    """Start `cmd` in a session of its own and SIGKILL its whole process group once `until()`
    holds, or, with no `until`, wait for the process to kill itself (a kill switch inside a
    pipeline). The group dies whatever happens, so no task process outlives the test."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if until is None:
                proc.wait(timeout=timeout)
            else:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and proc.poll() is None and not until():
                    time.sleep(poll)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.seek(0)
        return KilledRun(proc.returncode, log.read().decode(errors="replace")[-3000:])


@pytest.fixture(scope="session")
def killer() -> Callable[..., KilledRun]:
    """`killer(cmd, until=...)`: the one way the resume tests kill a run (see `kill_mid_run`)."""
    return kill_mid_run
