"""Shared test helpers: paths, the CLI as a user runs it, and one demo build per session."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
