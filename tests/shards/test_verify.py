"""`coderforge shards verify` finds damaged shards and a blend that does not match the disk."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from corpus.shards.verify import verify_shards
from tests.conftest import run_cli
from tests.mix.helpers import built_output


@pytest.fixture
def copy(tmp_path):
    out = tmp_path / "out"
    src = built_output()
    shutil.copytree(src / "mix" / "shards", out / "mix" / "shards")
    shutil.copytree(src / "mix" / "plan", out / "mix" / "plan")
    shutil.copy(src / "manifest.json", out / "manifest.json")
    return out


def test_a_sound_build_verifies_with_megatron(copy):
    report = verify_shards(str(copy))
    assert report["problems"] == [] and report["megatron_checked"]
    assert report["shards"] >= 3 and report["tokens"] > 0
    proc = run_cli("shards", "verify", str(copy))
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok")


def test_damage_is_reported_and_fails_the_command(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    first, second, third = (copy / p for p in manifest["megatron"]["data_path"][1:6:2])
    bin_path = first.with_suffix(".bin")
    bin_path.write_bytes(bin_path.read_bytes()[:-2])  # truncated
    data = np.fromfile(second.with_suffix(".bin"), dtype=np.uint16)
    data[-1] = 7  # the last sequence loses its EOS
    data.tofile(second.with_suffix(".bin"))
    for ext in (".bin", ".idx", ".parquet"):
        third.with_suffix(ext).unlink()  # a shard the manifest still names
    problems = verify_shards(str(copy))["problems"]
    assert any("bytes, the index describes" in p for p in problems)
    assert any("do not end with EOS" in p for p in problems)
    assert any("names 1 missing shards" in p for p in problems)
    proc = run_cli("shards", "verify", str(copy), "--no-megatron")
    assert proc.returncode == 1 and "problem:" in proc.stdout


def test_no_shards_is_a_one_line_user_error(tmp_path):
    proc = run_cli("shards", "inspect", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "Traceback" not in proc.stderr
