"""The mix and shard stages end to end on real documents, read back with megatron-core."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from corpus.mix.fim import FimSplit, assemble
from corpus.shards.megatron import MegatronShardReader
from tests.mix.helpers import build_mix, built_output, make_inputs

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def out() -> Path:
    return built_output()


@pytest.fixture(scope="module")
def manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def tok(out):
    from corpus.mix.config import TokenizerSettings
    from corpus.mix.tokenizer import load_tokenizer

    return load_tokenizer(str(out / "mix/tokenizer/tokenizer.json"), TokenizerSettings())


def test_realised_shares_are_within_half_a_point_of_the_plan(manifest):
    realised = manifest["mix"]["realised"]
    assert set(realised) == {"code", "math", "text"}
    for g, target in {"code": 0.6, "math": 0.1, "text": 0.3}.items():
        assert abs(realised[g]["share"] - target) * 100 < 0.5, (g, realised[g])
    assert manifest["mix"]["max_share_error_pp"] < 0.5
    assert realised["code"]["fim"].get("psm", 0) > 0 and "psm" not in realised["text"]["fim"]


def test_token_accounting_is_exact(out, manifest):
    """Counts per source/language/group equal the tokens actually in the .bin files."""
    written = manifest["tokens"]["written"]["tokens"]
    in_bins = {}
    for shard in manifest["shards"]:
        reader = MegatronShardReader(str(out / shard["prefix"]))
        assert reader.tokens == shard["tokens"] and len(reader) == shard["documents"]
        in_bins[shard["group"]] = in_bins.get(shard["group"], 0) + reader.tokens
    assert in_bins == written["by_group"]
    assert sum(written["by_source"].values()) == sum(written["by_language"].values()) == sum(in_bins.values())
    twins = pl.read_parquet([out / (s["prefix"] + ".parquet") for s in manifest["shards"]])
    by_source = twins.group_by("source").agg(pl.col("tokens").sum()).sort("source")
    assert dict(by_source.iter_rows()) == written["by_source"]
    available = manifest["tokens"]["available"]["tokens"]["by_source"]
    assert set(available) == {"github", "text", "commoncrawl"}


def test_megatron_opens_every_shard_and_ids_equal_the_tokenized_documents(out, manifest, tok):
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    assert manifest["megatron"]["eos_id"] == tok.eos_id
    assert manifest["megatron"]["vocab_size"] == tok.padded_vocab_size
    for shard in manifest["shards"]:
        prefix = str(out / shard["prefix"])
        ds = indexed.IndexedDataset(prefix)
        twin = pl.read_parquet(prefix + ".parquet")
        assert len(ds) == twin.height == shard["documents"]
        for i, row in enumerate(twin.iter_rows(named=True)):
            if row["fim"] is None:
                expected = tok.encode_batch([row["text"]])[0]
            else:
                split = FimSplit(row["fim"], row["fim_a"], row["fim_b"])
                parts = tok.encode_batch(list(split.parts(row["text"])))
                expected = assemble(split, *parts, tok.fim_begin_id, tok.fim_hole_id, tok.fim_end_id)
            ids = ds[i].tolist()
            assert ids == [*expected, tok.eos_id], (shard["prefix"], i)
            assert len(ids) == row["tokens"]


def test_manifest_data_path_names_every_shard_by_token_weight(out, manifest):
    mg = manifest["megatron"]
    weights, prefixes = mg["data_path"][::2], mg["data_path"][1::2]
    assert sum(weights) == pytest.approx(1.0)
    assert len(prefixes) == len(manifest["shards"]) >= 3
    for p in prefixes:
        assert not os.path.isabs(p)
        assert (out / (p + ".bin")).is_file() and (out / (p + ".idx")).is_file()
    total = manifest["mix"]["total_tokens"]
    for w, s in zip(weights, manifest["shards"], strict=True):
        assert w == pytest.approx(s["tokens"] / total)
    assert mg["data_path_arg"].split()[1::2] == prefixes
    # small shard size: groups roll over into several shards
    assert any(s["prefix"].endswith("_00001") for s in manifest["shards"])


def test_drops_are_recorded_with_reasons(out, manifest):
    drops = pl.read_parquet(list((out / "mix").rglob("drops/**/*.parquet")))
    reasons = dict(drops.group_by("reason").len().iter_rows())
    assert reasons["no-mix-group"] == 1  # the unrecalled web page
    assert drops.filter(pl.col("reason") == "no-mix-group")["id"].to_list() == ["cc:web-unrecalled"]
    plan = manifest["mix"]["plan"]
    not_taken = sum(p["documents"] - manifest["mix"]["realised"][g]["documents"] for g, p in plan.items())
    assert reasons["downsampled"] == not_taken > 0


def test_same_seed_gives_identical_bytes(tmp_path, out):
    again = tmp_path / "again"
    build_mix(again, make_inputs(again))

    def digests(root: Path) -> dict[str, str]:
        files = [
            p for p in (root / "mix").rglob("*") if p.is_file() and p.suffix in (".bin", ".idx", ".parquet")
        ]
        files += [root / "mix/tokenizer/tokenizer.json"]
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    first, second = digests(out), digests(again)
    assert first == second and len(first) > 10
    m1 = json.loads((out / "manifest.json").read_text())
    m2 = json.loads((again / "manifest.json").read_text())
    assert m1["megatron"] == m2["megatron"] and m1["mix"] == m2["mix"]


def test_a_budget_beyond_the_data_repeats_epochs(tmp_path):
    from corpus.mix.stages import mix_stages
    from tests.mix.helpers import run_local, small_settings

    inputs = make_inputs(tmp_path, code=40, text=15, math=60)
    settings = small_settings()
    settings.mix.total_tokens = 250_000
    m = run_local(mix_stages(inputs, str(tmp_path), settings, seed=3, tasks=1))
    realised = m["mix"]["realised"]
    assert realised["math"]["epochs"] > 2 and m["mix"]["plan"]["math"]["full_epochs"] >= 2
    assert abs(m["mix"]["total_tokens"] - 250_000) / 250_000 < 0.01
    for g, target in {"code": 0.6, "math": 0.1, "text": 0.3}.items():
        assert abs(realised[g]["share"] - target) * 100 < 0.5
    twins = pl.read_parquet(list((tmp_path / "mix/shards").rglob("*.parquet")))
    copies = twins.group_by("id").agg(pl.col("epoch").sort()).filter(pl.col("epoch").list.len() > 1)
    assert copies.height > 0
    assert all(e == list(range(len(e))) for e in copies["epoch"].to_list())  # epoch k is copy k


@pytest.mark.slow
def test_blended_megatron_datasets_build_with_the_manifest_weights(out, manifest, tmp_path):
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    class Vocab:
        def __init__(self, eod: int, size: int) -> None:
            self.eod, self.vocab_size = eod, size
            self.unique_identifiers = {"eod": eod, "vocab_size": size}

    mg = manifest["megatron"]
    prefixes = [str(out / p) for p in mg["data_path"][1::2]]
    weights = mg["data_path"][::2]
    # with a cache path megatron-core builds its indices on rank 0 and broadcasts: one gloo process
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    try:
        config = GPTDatasetConfig(
            random_seed=1234,
            sequence_length=64,
            blend=(prefixes, weights),
            split="95,5,0",
            path_to_cache=str(tmp_path / "cache"),
            tokenizer=Vocab(mg["eos_id"], mg["vocab_size"]),
            reset_position_ids=False,
            reset_attention_mask=False,
            eod_mask_loss=False,
            create_attention_mask=False,
        )
        train, valid, _ = BlendedMegatronDatasetBuilder(
            GPTDataset, [2000, 50, 0], lambda: True, config
        ).build()
    finally:
        dist.destroy_process_group()
    assert len(train) >= 2000 and len(valid) >= 50
    sample = train[0]
    assert sample["tokens"].shape == (64,) and int(sample["tokens"].max()) < mg["vocab_size"]
    # samples per group follow the planned token shares
    group_of = [p.split("/")[-2] for p in prefixes]
    counts = np.bincount(np.asarray(train.dataset_index[:2000]), minlength=len(prefixes))
    share = {
        g: sum(c for c, gg in zip(counts, group_of, strict=True) if gg == g) / 2000 for g in set(group_of)
    }
    assert share["code"] == pytest.approx(0.6, abs=0.02)
    assert share["math"] == pytest.approx(0.1, abs=0.02)
    assert torch.is_tensor(sample["tokens"])
