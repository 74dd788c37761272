"""The demo on a real Ray head started on loopback gives the local executor's bytes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, output_digests, run_cli

RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """A Ray head of our own (`--block`), so teardown stops exactly this cluster and no other."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="cfray", dir="/tmp")  # Ray's socket paths must stay short
    start = [
        RAY, "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
        "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp,
    ]  # fmt: skip
    head = subprocess.Popen(start, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert head.poll() is None, head.stderr.read().decode()[-2000:]
            probe = subprocess.run([RAY, "status", "--address", address], capture_output=True, timeout=60)
            if probe.returncode == 0:
                break
            assert time.monotonic() < deadline, "Ray head did not come up"
            time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.ray
def test_demo_on_ray_equals_local(demo_output: Path, ray_head: str, tmp_path: Path) -> None:
    out = tmp_path / "ray-out"
    proc = run_cli(
        "build", str(DEMO_RECIPE), "--executor", "ray", "--ray-address", ray_head, "--output", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "commoncrawl/documents" in proc.stdout
    assert output_digests(out) == output_digests(demo_output)
    assert (out / "manifest.json").is_file()


@pytest.mark.ray
def test_unreachable_ray_address_is_one_line(tmp_path: Path) -> None:
    port = _free_port()
    proc = run_cli(
        "build",
        str(DEMO_RECIPE),
        "--ray-address",
        f"127.0.0.1:{port}",
        "--output",
        str(tmp_path / "o"),
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("error: executor.ray_address: cannot connect to Ray")
    )
