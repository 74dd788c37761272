"""`coderforge inspect`'s shard summary: the same numbers as the manifest and the .idx files."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from corpus.core.errors import UserError
from corpus.shards.inspect import inspect_shards, is_shard_folder, summarise_shards
from tests.mix.helpers import built_output


def test_summary_matches_the_manifest():
    out = built_output()
    manifest = json.loads((out / "manifest.json").read_text())
    for path in (out, out / "mix" / "shards"):
        s = summarise_shards(str(path))
        assert s["tokens"] == manifest["mix"]["total_tokens"]
        assert s["shards"] == len(manifest["shards"])
        assert s["documents"] == sum(x["documents"] for x in manifest["shards"])
        for g in s["groups"]:
            r = manifest["mix"]["realised"][g["group"]]
            assert g["tokens"] == r["tokens"] and g["share"] == pytest.approx(r["share"])
            assert g["planned_share"] == manifest["mix"]["plan"][g["group"]]["share"]
        assert sum(x["tokens"] for x in s["languages"]) == s["tokens"]
        assert sum(s["fim"].values()) == s["documents"]


def test_terminal_output_has_the_headline_numbers():
    out = built_output()
    buf = io.StringIO()
    s = inspect_shards(str(out), console=Console(file=buf, width=150))
    text = buf.getvalue()
    assert f"{s['tokens']:,} tokens" in text and f"{s['documents']:,} sequences" in text
    for g in s["groups"]:
        assert f"{100 * g['share']:.2f}%" in text


def test_a_folder_without_shards_is_a_user_error(tmp_path):
    assert not is_shard_folder(str(tmp_path))
    with pytest.raises(UserError, match="no Megatron shards found"):
        summarise_shards(str(tmp_path))
