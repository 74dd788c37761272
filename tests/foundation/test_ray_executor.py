"""The demo on a real Ray head started on loopback gives the local executor's bytes."""

from __future__ import annotations

import json
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


#: a loopback address other than 127.0.0.1, which Ray would swap for the machine's own address
NODE_IP = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """A Ray head of our own (`--block`), so teardown stops exactly this cluster and no other.

    It runs with a private HOME and token authentication off, and the build under test gets the
    same environment, so a token in the user's ~/.ray cannot make the two disagree.
    """
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="cfray", dir="/tmp")  # Ray's socket paths must stay short
    # Ray 2.5x+ turns on token authentication when a token file exists or an earlier local
    # ray.init() in this process enabled it; this cluster and its clients agree on no tokens.
    env = {**os.environ, "HOME": temp, "RAY_AUTH_MODE": "disabled"}
    log = open(os.path.join(temp, "head.log"), "w+b")  # noqa: SIM115 - closed in teardown
    start = [
        RAY, "start", "--head", "--block", "--port", str(port), "--node-ip-address", NODE_IP,
        "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp,
    ]  # fmt: skip
    head = subprocess.Popen(start, start_new_session=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 180
        while b"block forever" not in Path(log.name).read_bytes():
            assert head.poll() is None, Path(log.name).read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "Ray head did not come up"
            time.sleep(0.5)
        yield f"{NODE_IP}:{port}", env
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)  # a Ray head may take longer to stop; nothing of it is needed
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.ray
def test_demo_on_ray_equals_local(demo_output: Path, ray_head: tuple[str, dict], tmp_path: Path) -> None:
    """On Ray, with each source's document stages fused (the other stages run as they are): the
    bytes of the local build that ran every stage apart."""
    address, env = ray_head
    out = tmp_path / "ray-out"
    proc = run_cli(
        "build",
        str(DEMO_RECIPE),
        "--executor",
        "ray",
        "--ray-address",
        address,
        "--fuse",
        "--output",
        str(out),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "commoncrawl/documents" in proc.stdout
    assert "github/documents+langid+files+samples+secrets" in proc.stderr
    assert (out / "github" / ".fused-documents-secrets" / "completions" / "00001").is_file()
    counts = ("documents_in", "documents_out", "dropped", "bytes_in", "bytes_out", "tokens")
    fused, apart = (
        [
            {k: s[k] for k in ("stage", *counts)}
            for s in json.loads((o / "manifest.json").read_text())["stages"]
        ]
        for o in (out, demo_output)
    )
    assert fused == apart  # every stage's documents, drops, bytes and tokens, as run apart
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
