"""The manifest part written by the mix and shard stages.

`OUTPUT/manifest.json` is what the trainer reads. Its "megatron" entry holds the blend in
Megatron-LM's `--data-path` form, [weight, prefix, weight, prefix, ...], with prefixes relative to
the manifest's folder and each weight the shard's share of all written tokens: the plan's
repetition and down-sampling are already in the shards, so weighting by tokens makes a blended
loader see exactly the planned mix. "mix" holds the plan, the realised shares and epochs per
group, and the tokens available and used (per group in "plan"; in all beside it, with the
limiting group), so a mix that kept its shares by throwing most of the data away says so;
"tokens" holds the exact counts per source, language and group before and after mixing.
Each "shards" entry lists its files (`.bin`, `.idx`, Parquet twin) with size and sha256, the
reference `coderforge shards verify` checks a copy against before a training run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from corpus.core.atomic import split_url
from corpus.shards.verify import shard_files

#: files hashed at once where the shard writer recorded no digests (an output it wrote before it
#: did): hashlib and file reads release the GIL, and object stores answer slowly
HASH_THREADS = 8


def _read_json(path: str) -> Any:
    fs, p = split_url(path)
    with fs.open(p, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def _relative(path: str, root: str) -> str:
    if "://" in path:
        return path[len(root.rstrip("/")) + 1 :] if path.startswith(root.rstrip("/") + "/") else path
    return os.path.relpath(path, root)


def _with_files(output: str, shards: list[dict]) -> list[dict]:
    """The shard entries with prefixes relative to `output` and each file's size and sha256."""
    prefixes = [_relative(s["prefix"], output) for s in shards]
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        files = list(pool.map(lambda s, p: shard_files(output, p, s.get("files")), shards, prefixes))
    return [dict(s, prefix=p, files=f) for s, p, f in zip(shards, prefixes, files, strict=True)]


def shard_manifest(output: str, tokenizer_folder: str, plan_folder: str, shards_folder: str) -> dict:
    """The manifest entries of the mix/shard stages, from the files those stages wrote."""
    info = _read_json(f"{tokenizer_folder}/tokenizer_info.json")
    plan = _read_json(f"{plan_folder}/plan.json")
    fs, p = split_url(f"{shards_folder}/ranks")
    reports = [_read_json(fs.unstrip_protocol(f)) for f in sorted(fs.glob(p + "/*.json"))]

    shards = sorted((s for r in reports for s in r["shards"]), key=lambda s: (s["group"], s["prefix"]))
    total = sum(s["tokens"] for s in shards)
    data_path: list[float | str] = []
    for s in shards:
        data_path += [s["tokens"] / total if total else 0.0, _relative(s["prefix"], output)]

    written: dict[str, Counter] = {}
    docs: dict[str, Counter] = {}
    fim: dict[str, Counter] = {}
    for r in reports:
        for key, counts in r["tokens"].items():
            written.setdefault(key, Counter()).update(counts)
        for key, counts in r["documents"].items():
            docs.setdefault(key, Counter()).update(counts)
        for g, counts in r["fim"].items():
            fim.setdefault(g, Counter()).update(counts)

    by_group = written.get("by_group", Counter())
    realised = {}
    max_error = 0.0
    for g, gp in plan["groups"].items():
        tokens = by_group.get(g, 0)
        share = tokens / total if total else 0.0
        realised[g] = {
            "tokens": tokens,
            "documents": docs.get("by_group", Counter()).get(g, 0),
            "share": share,
            "planned_share": gp["share"],
            "share_error_pp": 100.0 * (share - gp["share"]),
            "epochs": tokens / gp["available_tokens"] if gp["available_tokens"] else 0.0,
            "available_tokens": gp["available_tokens"],
            "fim": dict(sorted(fim.get(g, Counter()).items())),
        }
        max_error = max(max_error, abs(realised[g]["share_error_pp"]))

    return {
        "tokenizer": {"path": _relative(f"{tokenizer_folder}/tokenizer.json", output), **info},
        "mix": {
            "seed": plan["seed"],
            "plan": plan["groups"],
            "planned_total_tokens": plan["total_tokens"],
            "missing_groups": plan["missing_groups"],
            "realised": realised,
            "total_tokens": total,
            "max_share_error_pp": max_error,
            "available_tokens": plan.get("available_tokens"),
            "used_tokens": plan.get("used_tokens"),
            "used_share": plan.get("used_share"),
            "limiting_group": plan.get("limiting_group"),
        },
        "tokens": {
            "available": plan["available"],
            "written": {
                "tokens": {k: dict(sorted(v.items())) for k, v in sorted(written.items())},
                "documents": {k: dict(sorted(v.items())) for k, v in sorted(docs.items())},
            },
        },
        "shards": _with_files(output, shards),
        "megatron": {
            "data_path": data_path,
            "data_path_arg": " ".join(f"{w:.12g}" if isinstance(w, float) else str(w) for w in data_path),
            "vocab_size": info["padded_vocab_size"],
            "tokenizer_vocab_size": info["vocab_size"],
            "eos_id": info["eos_id"],
            "bos_id": info["bos_id"],
            "dtype": info["dtype"],
            "tokenizer": _relative(f"{tokenizer_folder}/tokenizer.json", output),
        },
    }
