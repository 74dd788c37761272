"""Builds whose output is an S3 bucket (moto's S3 server on loopback) keep every promise a local
build makes: the same bytes, "done before" on a re-run, resume after SIGKILL, the output's lock
and build marker.

An object store differs from a disk in ways the runner must not trip over: listings may be cached
per process while task processes write, a put is all-or-nothing (no temporaries to clear), and
"folders" are only key prefixes. The builds run with the AWS variables that point botocore at the
server and read no user AWS configuration.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from corpus.app.claim import LOCK, MARKER, output_lock
from corpus.app.runner import completed_tasks
from corpus.core.atomic import split_url
from corpus.core.stage import Stage
from tests.conftest import CODERFORGE, DEMO_RECIPE, REPO, one_line_error, run_cli

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")

pytestmark = pytest.mark.slow

BUCKET = "corpus"
TEXT = REPO / "recipes" / "demo-data" / "text"


@dataclass
class S3:
    #: the environment a build needs to reach the server
    env: dict[str, str]
    #: a client of its own, never sharing a listings cache with the code under test
    fs: object

    def json(self, key: str) -> dict:
        return json.loads(self.fs.cat_file(f"{BUCKET}/{key}"))

    def keys(self, prefix: str) -> list[str]:
        return sorted(self.fs.find(f"{BUCKET}/{prefix}"))


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    """moto's S3 server on a free loopback port with one bucket; fake credentials, no AWS files."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        aws = tmp_path_factory.mktemp("aws")
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        with pytest.MonkeyPatch.context() as mp:  # the in-process checks reach the same server
            for key, value in env.items():
                mp.setenv(key, value)
            # one log record per request would bury a failure's report
            mp.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)
            fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
            fs.mkdir(BUCKET)
            yield S3({**os.environ, "PYTHONPATH": str(REPO)}, fs)
    finally:
        server.stop()


@dataclass
class BucketBuild:
    output: str
    proc: subprocess.CompletedProcess
    #: the working directory the build ran in, to show it wrote nothing there
    cwd: Path


@pytest.fixture(scope="module")
def demo_in_bucket(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> BucketBuild:
    """The demo recipe built once into the bucket (one task at a time: same bytes, fewer
    processes, each paying for botocore's start)."""
    cwd = tmp_path_factory.mktemp("cwd")
    output = f"s3://{BUCKET}/demo"
    proc = run_cli("build", str(DEMO_RECIPE), "--output", output, "--workers", "1", env=s3.env, cwd=cwd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return BucketBuild(output, proc, cwd)


def _same_corpus(manifest: dict, local: dict) -> None:
    """Every data and drop file, the shards and the training blend: what a consumer checks."""
    assert manifest["files"] == local["files"]
    assert manifest["shards"] == local["shards"]
    assert manifest["megatron"] == local["megatron"]


def test_demo_into_a_bucket_equals_local(s3: S3, demo_in_bucket: BucketBuild, demo_output: Path) -> None:
    local = json.loads((demo_output / "manifest.json").read_text())
    manifest = s3.json("demo/manifest.json")
    _same_corpus(manifest, local)
    assert len(manifest["files"]) > 20
    assert all(not k.rsplit("/", 1)[-1].startswith(".") or "/.coderforge/" in k for k in s3.keys("demo"))

    marker = s3.json(f"demo/{MARKER}")
    assert marker["recipe"] == "demo" and len(marker["fingerprint"]) == 64
    assert not s3.fs.exists(f"{BUCKET}/demo/{LOCK}")  # released when the build ended

    again = run_cli(
        "build", str(DEMO_RECIPE), "--output", demo_in_bucket.output, env=s3.env, cwd=demo_in_bucket.cwd
    )
    assert again.returncode == 0, again.stderr[-3000:]
    for stage in manifest["stages"]:
        rows = [line for line in again.stdout.splitlines() if f"│ {stage['stage']} " in line]
        assert len(rows) == 1 and "done before" in rows[0], again.stdout
    assert s3.json("demo/manifest.json")["files"] == local["files"]


@pytest.mark.xfail(
    strict=True,
    reason="the recall loop keeps its iteration files by local path: an s3:// output leaves a local "
    "s3:/BUCKET/... folder in the working directory",
)
def test_nothing_is_written_outside_the_bucket(demo_in_bucket: BucketBuild) -> None:
    assert sorted(p.name for p in demo_in_bucket.cwd.iterdir()) == []


def test_a_killed_build_resumes_in_a_bucket(s3: S3, demo_output: Path, killer, tmp_path: Path) -> None:
    output = f"s3://{BUCKET}/killed"
    stage = "all/dedup-signatures"  # past the recall loop, two tasks of a few seconds each
    completions = f"{BUCKET}/killed/{stage}/completions"

    def mid_stage() -> bool:
        return s3.fs.exists(completions) and len(s3.fs.ls(completions)) >= 1

    args = ["build", str(DEMO_RECIPE), "--output", output]
    # `env -C`: the build runs in tmp_path, as the resumed one does (the recall loop writes there)
    cmd = ["env", "-C", str(tmp_path), *CODERFORGE, *args, "--workers", "1"]
    killed = killer(cmd, until=mid_stage, timeout=240, poll=0.05, env=s3.env)
    assert killed.returncode == -9, killed.output
    done = len(s3.fs.ls(completions))
    assert done == 1, f"the kill must land mid-stage ({done} of 2 tasks done)\n{killed.output}"
    assert not s3.fs.exists(f"{BUCKET}/killed/manifest.json")
    assert s3.json(f"killed/{LOCK}")["host"] == socket.gethostname()  # left behind by the dead build

    resumed = run_cli(*args, env=s3.env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    rows = {line.split("│")[1].strip(): line for line in resumed.stdout.splitlines() if line.count("│") > 3}
    assert "done before" in rows["github/documents"] and "done before" not in rows[stage], resumed.stdout
    _same_corpus(s3.json("killed/manifest.json"), json.loads((demo_output / "manifest.json").read_text()))
    assert not s3.fs.exists(f"{BUCKET}/killed/{LOCK}")  # the stale lock was taken over, then released


def _small_recipe(tmp_path: Path, output: str, **extra) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    for f in ("essays-a.jsonl", "essays-b.jsonl.gz"):
        (tmp_path / "in" / f).write_bytes((TEXT / f).read_bytes())
    recipe = {
        "name": "bucket",
        "output": output,
        "executor": {"tasks": 2, "workers": 2},  # task processes write while the runner watches
        "sources": {"text": {"paths": ["in/*.jsonl*"]}},
        **extra,
    }
    path = tmp_path / f"r{len(extra)}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_lock_and_marker_in_a_bucket(s3: S3, tmp_path: Path) -> None:
    output = f"s3://{BUCKET}/small"
    recipe = _small_recipe(tmp_path, output)
    lock = f"{BUCKET}/small/{LOCK}"

    # someone else's objects under a prefix: never adopted, never touched
    s3.fs.pipe(f"{BUCKET}/theirs/notes.txt", b"mine")
    line = one_line_error(
        run_cli("build", str(recipe), "--output", f"s3://{BUCKET}/theirs", env=s3.env), code=2
    )
    assert "not empty and no coderforge build made it" in line
    assert s3.keys("theirs") == [f"{BUCKET}/theirs/notes.txt"]

    # a live build holds the output: another one is refused, naming it
    with output_lock(output):
        holder = s3.json(f"small/{LOCK}")
        line = one_line_error(run_cli("build", str(recipe), env=s3.env), code=1)
    assert f"is being built by pid {holder['pid']}" in line
    assert not s3.fs.exists(lock)
    assert not s3.fs.exists(f"{BUCKET}/small/text")

    # a lock whose process is gone on this host is stale and taken over
    s3.fs.pipe(lock, json.dumps({"pid": 2**22 + 7, "host": socket.gethostname(), "since": "then"}).encode())
    built = run_cli("build", str(recipe), env=s3.env)
    assert built.returncode == 0, built.stdout + built.stderr
    assert not s3.fs.exists(lock)
    assert s3.json(f"small/{MARKER}")["recipe"] == "bucket"
    assert len(s3.fs.ls(f"{BUCKET}/small/text/documents/completions")) == 2
    files = [f["path"] for f in s3.json("small/manifest.json")["files"]]
    assert "text/documents/data/00000.parquet" in files and "text/documents/data/00001.parquet" in files

    # another recipe pointed at this output is refused rather than mixed in
    other = _small_recipe(tmp_path, output, seed=7)
    line = one_line_error(run_cli("build", str(other), env=s3.env), code=2)
    assert "holds a build of a different recipe" in line


def test_listings_are_never_stale(s3: S3) -> None:
    """Task processes write completion markers while the runner lists them: a listing cached in
    the runner's process would count a finished stage as unfinished."""
    folder = f"s3://{BUCKET}/fresh/text/documents"
    stage = Stage(source="text", name="documents", output=f"s3://{BUCKET}/fresh", steps=[], tasks=2)
    assert stage.folder == folder
    assert completed_tasks(stage) == 0
    s3.fs.pipe(f"{BUCKET}/fresh/text/documents/completions/00000", b"")
    assert completed_tasks(stage) == 1
    fs, path = split_url(f"{folder}/completions")
    assert len(fs.ls(path)) == 1
    s3.fs.pipe(f"{BUCKET}/fresh/text/documents/completions/00001", b"")  # another process writes
    assert completed_tasks(stage) == 2
    assert len(fs.ls(path)) == 2
