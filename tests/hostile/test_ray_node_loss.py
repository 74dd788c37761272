"""A Ray worker node dies in the middle of a stage: the build still ends with a clean run's bytes.

A real two-node cluster runs on loopback (a head and a worker node, one CPU each, each in its own
process tree and temp folder). Once a stage has finished a task and the worker node is running
another, the worker node is lost: its raylet and every process it started are SIGKILLed, as when
the machine goes away. The build either finishes on the head (datatrove resubmits the tasks of a
dead actor) or stops with one line, and then the same command, run again on what is left of the
cluster, finishes it. Either way the output equals an uninterrupted local build's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import CODERFORGE, REPO, jsonl_parts, output_digests, run_cli, text_recipe

RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
TASKS, RECORDS = 6, 30_000
#: loopback addresses other than 127.0.0.1, which Ray would swap for the machine's own address
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block` of our own; stopping it stops exactly its processes."""

    def __init__(self, args: list[str], env: dict[str, str], temp: str, name: str) -> None:
        self.temp = temp
        self.log_path = os.path.join(temp, f"{name}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [RAY, "start", "--block", *args, "--temp-dir", temp],
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.lost: list[psutil.Process] = []

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")[-3000:]

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while b"block forever" not in Path(self.log_path).read_bytes():
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, f"Ray node did not come up\n{self.log()}"
            time.sleep(0.3)

    def processes(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.proc.pid).children(recursive=True)
        return []

    def running_a_task(self) -> bool:
        """Whether a datatrove task runs on this node now (Ray names the actor's process)."""
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                if "RankWorker.run_for_rank" in " ".join(p.cmdline()):
                    return True
        return False

    def lose(self) -> None:
        """The node goes away: SIGKILL its raylet first, then everything else it started."""
        procs = self.processes()
        raylets = [p for p in procs if _name(p) == "raylet"]
        assert raylets, "no raylet found on the worker node"
        for p in [*raylets, *(p for p in procs if p not in raylets)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        self.lost = procs

    def stop(self) -> None:
        procs = [*self.processes(), *self.lost]
        with contextlib.suppress(ProcessLookupError):  # a lost node has nothing left to stop gently
            os.killpg(self.proc.pid, signal.SIGKILL if self.lost else signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for p in procs:  # anything of this node that left its process group
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


def _off_loopback(procs: list[psutil.Process]) -> list[str]:
    """Connections of `procs` to anything but the loopback range: the test keeps to this machine."""
    found = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            for c in p.net_connections(kind="inet"):
                if c.raddr and not ipaddress.ip_address(c.raddr.ip.removeprefix("::ffff:")).is_loopback:
                    found.append(f"{_name(p)} -> {c.raddr.ip}:{c.raddr.port}")
    return found


def _name(p: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return p.name()
    return ""


@pytest.fixture
def two_nodes() -> Iterator[tuple[str, dict[str, str], Node, Node]]:
    """A head and a worker node on loopback, one CPU each, with their own temp folders.

    Private HOME and token authentication off, as in the single-head test, so the build under test
    and the cluster agree. The head declares a node dead after about 3 s of failed health checks
    instead of Ray's 15 s, so the test spends its time on the build, not on waiting.
    """
    port = _free_port()
    root = tempfile.mkdtemp(prefix="cfray", dir="/tmp")  # Ray's socket paths must stay short
    env = {
        **os.environ,
        "HOME": root,
        "RAY_AUTH_MODE": "disabled",
        "RAY_health_check_initial_delay_ms": "1000",
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
    }
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 1024**2), "--disable-usage-stats"]
    nodes: list[Node] = []
    try:
        os.mkdir(head_temp := os.path.join(root, "h"))
        head = Node(
            ["--head", "--port", str(port), "--node-ip-address", HEAD_IP, "--include-dashboard=false",
             *common],
            env, head_temp, "head",
        )  # fmt: skip
        nodes.append(head)
        head.wait_up()
        os.mkdir(worker_temp := os.path.join(root, "w"))
        worker = Node(
            ["--address", f"{HEAD_IP}:{port}", "--node-ip-address", WORKER_IP, *common],
            env, worker_temp, "worker",
        )  # fmt: skip
        nodes.append(worker)
        worker.wait_up()
        yield f"{HEAD_IP}:{port}", env, head, worker
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_lost_worker_node_costs_no_bytes(tmp_path: Path, two_nodes) -> None:
    address, env, head, worker = two_nodes
    jsonl_parts(tmp_path / "in", TASKS, RECORDS)
    recipe = text_recipe(tmp_path, "ray", "node-loss", TASKS, 2)
    out = tmp_path / "ray"
    completions = out / "text" / "documents" / "completions"
    cmd = [*CODERFORGE, "build", str(recipe), "--executor", "ray", "--ray-address", address]
    with open(tmp_path / "build.log", "w+b") as log:
        build = subprocess.Popen(
            cmd, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 150
            while not (completions.is_dir() and os.listdir(completions) and worker.running_a_task()):
                assert build.poll() is None, Path(log.name).read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the worker node never ran a task mid-stage"
                time.sleep(0.05)
            done_at_loss = len(os.listdir(completions))
            cluster = [psutil.Process(build.pid), *head.processes(), *worker.processes()]
            assert _off_loopback(cluster) == []
            worker.lose()
            returncode = build.wait(timeout=240)
        finally:
            if build.poll() is None:
                build.kill()
                build.wait()
        output = Path(log.name).read_text(errors="replace")
    assert 1 <= done_at_loss < TASKS, f"the node must be lost mid-stage ({done_at_loss} of {TASKS} done)"

    if returncode != 0:  # the stage stopped: one line, and the same command finishes it
        errors = [line for line in output.strip().splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and output.strip().splitlines()[-1] == errors[0], output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        rerun = run_cli(*cmd[len(CODERFORGE) :], env=env, timeout=240)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    else:  # datatrove saw the actor die with its node and ran its task again
        assert "RayActorError" in output and "text/documents" in output, output[-3000:]
    assert (out / "manifest.json").is_file()
    assert [p for p in out.rglob(".*.tmp-*")] == []

    clean = text_recipe(tmp_path, "clean", "node-loss", TASKS, 2)
    run_cli("build", str(clean), check=True, env=env)
    assert output_digests(out) == output_digests(tmp_path / "clean")
    assert len(output_digests(out)) >= TASKS
