"""Shard manifests and blends: what the trainer accepts, and one-line errors for what it cannot use."""

from __future__ import annotations

import json
import shutil

import pytest

from corpus.core.errors import UserError
from tests.trainer.conftest import EOS, VOCAB, write_shards
from trainer.data import check_shard, resolve_blend
from trainer.recipe import DataConfig


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    return folder, write_shards(folder)


def test_manifest_blend_resolves_relative_prefixes(shards):
    folder, prefixes = shards
    section = {"data_path": [0.7, "code", 0.3, "math"], "vocab_size": VOCAB, "eos_id": EOS}
    (folder / "manifest.json").write_text(json.dumps({"megatron": section}))
    blend = resolve_blend(DataConfig(manifest=str(folder)))
    assert blend.prefixes == prefixes and blend.weights == [0.7, 0.3]
    assert (blend.vocab_size, blend.eos_id) == (VOCAB, EOS)


def test_zero_weight_shards_are_left_out_and_plain_prefix_lists_work(shards):
    _, prefixes = shards
    blend = resolve_blend(DataConfig(data_path=[1.0, prefixes[0], 0.0, prefixes[1]], eos_id=EOS))
    assert blend.prefixes == prefixes[:1]
    plain = resolve_blend(DataConfig(data_path=prefixes, eos_id=EOS))
    assert plain.weights is None and plain.prefixes == prefixes


def test_check_shard_counts_tokens(shards):
    import numpy as np

    _, prefixes = shards
    n_seq, tokens = check_shard(prefixes[0])
    assert n_seq == 300
    assert tokens == np.fromfile(prefixes[0] + ".bin", dtype=np.uint16).size


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate_idx", "header describes"),
        ("grow_bin", "tokens end at byte"),
        ("garbage_idx", "not a megatron index"),
    ],
)
def test_damaged_shards_are_one_line_errors(tmp_path, shards, damage, message):
    _, prefixes = shards
    prefix = tmp_path / "code"
    shutil.copy(prefixes[0] + ".bin", f"{prefix}.bin")
    shutil.copy(prefixes[0] + ".idx", f"{prefix}.idx")
    if damage == "truncate_idx":
        data = (tmp_path / "code.idx").read_bytes()
        (tmp_path / "code.idx").write_bytes(data[:-5])
    elif damage == "grow_bin":
        with open(f"{prefix}.bin", "ab") as f:
            f.write(b"\0\0")
    else:
        (tmp_path / "code.idx").write_bytes(b"not an index at all, just some bytes")
    with pytest.raises(UserError, match=message):
        resolve_blend(DataConfig(data_path=[str(prefix)], eos_id=EOS))


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"tokens": {}}, "no 'megatron.data_path' section"),
        ({"megatron": {"data_path": [0.5, "a", "b"]}}, r"\[weight, prefix, \.\.\.\]"),
        ({"megatron": {"data_path": [0.0, "a"]}}, "not all zero"),
    ],
)
def test_bad_manifests(tmp_path, manifest, message):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=message):
        resolve_blend(DataConfig(manifest=str(tmp_path / "manifest.json")))


def test_manifest_that_is_not_json(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        resolve_blend(DataConfig(manifest=str(tmp_path)))
