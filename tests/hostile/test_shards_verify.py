"""`coderforge shards verify` against a user who moves, damages and half-builds outputs.

Every test runs the command as a user does, on a copy of the real demo build: the manifest's
sha256 for each shard file is the reference, so one flipped byte, a missing file or a missing
manifest is a failure, while `--quick` (sizes and index structure, no hashing) lets an in-place
change through by design.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli


@pytest.fixture
def copy(demo_output: Path, tmp_path: Path) -> Path:
    """A damageable copy of the demo build (the session's build stays read-only)."""
    out = tmp_path / "out"
    shutil.copytree(demo_output, out)
    return out


def manifest_of(output: Path) -> dict:
    return json.loads((output / "manifest.json").read_text())


def assert_one_line_per_problem(proc, named: str) -> list[str]:
    """The command failed with a header, then only `problem:` lines, one naming `named`."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    header, *problems = proc.stdout.strip().splitlines()
    assert " shards, " in header and not header.startswith("problem")
    assert problems and all(line.startswith("problem: ") for line in problems), proc.stdout
    assert any(named in line for line in problems), proc.stdout
    return problems


def flip_one_byte(output: Path) -> str:
    """Flip the low bit of one token inside the first `.bin`, keeping it a valid non-EOS id, so
    only the checksum can tell (index, sizes, EOS and vocabulary all still agree)."""
    manifest = manifest_of(output)
    rel = manifest["shards"][0]["prefix"] + ".bin"
    vocab, eos = manifest["megatron"]["vocab_size"], manifest["megatron"]["eos_id"]
    data = np.fromfile(output / rel, dtype=manifest["megatron"]["dtype"])
    position = next(
        i
        for i in range(len(data) // 2, len(data))
        if data[i] != eos and data[i] ^ 1 != eos and data[i] ^ 1 < vocab
    )
    raw = bytearray((output / rel).read_bytes())
    raw[position * data.itemsize] ^= 1  # little-endian: the low byte comes first
    (output / rel).write_bytes(bytes(raw))
    return rel


def test_the_manifest_holds_every_shard_file_with_its_sha256(demo_output):
    shards = demo_output / "mix" / "shards"
    on_disk = {
        p.relative_to(demo_output).as_posix(): p
        for p in shards.glob("*/*")
        if p.suffix in (".bin", ".idx", ".parquet")
    }
    listed = {f["path"]: f for s in manifest_of(demo_output)["shards"] for f in s["files"]}
    assert listed.keys() == on_disk.keys() and any(k.endswith(".bin") for k in listed)
    for rel, path in on_disk.items():
        assert listed[rel]["bytes"] == path.stat().st_size
        assert listed[rel]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("target", [".", "mix/shards"])
def test_a_relative_path_from_another_cwd_is_ok(demo_output, tmp_path, target):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = os.path.relpath(demo_output / target, elsewhere)
    assert not os.path.isabs(relative)
    proc = run_cli("shards", "verify", relative, cwd=elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "ok"


def test_one_flipped_byte_in_a_bin_fails_naming_the_file(copy):
    rel = flip_one_byte(copy)
    proc = run_cli("shards", "verify", str(copy))
    problems = assert_one_line_per_problem(proc, rel)
    assert problems == [
        f"problem: {rel}: sha256 differs from manifest.json (the bytes changed after the build)"
    ]


def test_quick_does_not_hash_so_a_flipped_byte_passes(copy):
    """`--quick` checks sizes, indexes and twins without reading `.bin` bytes: by design it cannot
    see a byte changed in place, which is what the full check is for."""
    flip_one_byte(copy)
    proc = run_cli("shards", "verify", str(copy), "--quick")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no checksums (--quick)" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "ok"


def test_quick_still_catches_a_changed_size(copy):
    rel = manifest_of(copy)["shards"][0]["prefix"] + ".bin"
    with open(copy / rel, "ab") as f:
        f.write(b"\0\0")
    proc = run_cli("shards", "verify", str(copy), "--quick", "--no-megatron")
    assert_one_line_per_problem(proc, f"{rel}: ")


def test_a_deleted_shard_file_fails_naming_it(copy):
    rel = manifest_of(copy)["shards"][-1]["prefix"] + ".bin"
    (copy / rel).unlink()
    proc = run_cli("shards", "verify", str(copy))
    problems = assert_one_line_per_problem(proc, rel)
    assert f"problem: {rel}: missing (manifest.json lists it)" in problems


def test_a_shard_file_the_manifest_does_not_list_fails_naming_it(copy):
    prefix = manifest_of(copy)["shards"][0]["prefix"]
    stray = prefix.rsplit("/", 1)[0] + "/99999_00000"
    for ext in (".bin", ".idx"):
        shutil.copy(copy / (prefix + ext), copy / (stray + ext))
    proc = run_cli("shards", "verify", str(copy), "--no-megatron")
    problems = assert_one_line_per_problem(proc, stray + ".bin")
    assert f"problem: {stray}.idx: not in manifest.json (left by another run?)" in problems


def _no_manifest(path: Path) -> None:
    path.unlink()  # what a build killed in mix/shards leaves: shards on disk, no manifest.json


def _no_mix_sections(path: Path) -> None:
    manifest = json.loads(path.read_text())
    for key in ("mix", "shards", "megatron"):
        del manifest[key]
    path.write_text(json.dumps(manifest))


def _no_checksums(path: Path) -> None:
    manifest = json.loads(path.read_text())
    for s in manifest["shards"]:
        del s["files"]
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage", [_no_manifest, _no_mix_sections, _no_checksums])
def test_an_output_without_a_complete_manifest_is_refused_in_one_line(copy, damage):
    damage(copy / "manifest.json")
    for args in ((), ("--quick",)):
        proc = run_cli("shards", "verify", str(copy), *args)
        assert proc.returncode == 2 and proc.stdout.strip() != "ok"
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "manifest.json" in lines[0], proc.stderr
