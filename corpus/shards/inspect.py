"""Headline numbers of a shard folder, for `coderforge inspect` and the inspection notebook.

Token and sequence counts come from the `.idx` files themselves (exact, and cheap: an index is 20
bytes per document), the planned shares from `plan.json`, languages and FIM from the Parquet twins
(only the columns needed). The same function feeds the terminal and `inspect_shards.ipynb`, so
both always show the same numbers.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from corpus.core.atomic import split_url
from corpus.core.errors import UserError
from corpus.shards.megatron import MegatronShardReader


def locate_shards(path: str) -> tuple[str, str | None]:
    """(shard stage folder, plan folder or None) for a build output or a shard stage folder."""
    fs, root = split_url(path.rstrip("/"))
    protocol = path.split("://", 1)[0] + "://" if "://" in path else ""
    for candidate in (f"{root}/mix/shards", root):
        if fs.exists(f"{candidate}/ranks") or fs.glob(f"{candidate}/*/*.idx"):
            parent = candidate.rsplit("/", 1)[0]
            plan = f"{parent}/plan" if fs.exists(f"{parent}/plan/plan.json") else None
            return protocol + candidate, (protocol + plan) if plan else None
    raise UserError(f"{path}: no Megatron shards found (expected mix/shards/<group>/*.idx)")


def is_shard_folder(path: str) -> bool:
    try:
        locate_shards(path)
    except UserError:
        return False
    return True


def shard_prefixes(folder: str) -> list[str]:
    fs, root = split_url(folder)
    protocol = folder.split("://", 1)[0] + "://" if "://" in folder else ""
    return sorted(protocol + p[: -len(".idx")] for p in fs.glob(f"{root}/*/*.idx"))


def summarise_shards(path: str) -> dict[str, Any]:
    """Tokens, documents, realised vs planned shares, epochs, FIM, languages and lengths."""
    import polars as pl  # polars costs 0.4 s to import; only these paths need it

    folder, plan_folder = locate_shards(path)
    prefixes = shard_prefixes(folder)
    if not prefixes:
        raise UserError(f"{path}: the shard folder {folder} holds no .idx files yet")
    lengths_by_group: dict[str, list[np.ndarray]] = {}
    dtype = None
    for prefix in prefixes:
        reader = MegatronShardReader(prefix)
        dtype = np.dtype(reader.dtype).name
        lengths_by_group.setdefault(prefix.rsplit("/", 2)[-2], []).append(np.asarray(reader.lengths))
    lengths = {g: np.concatenate(v) for g, v in lengths_by_group.items()}
    total = int(sum(int(v.sum()) for v in lengths.values()))

    plan: dict[str, Any] = {}
    if plan_folder:
        fs, p = split_url(f"{plan_folder}/plan.json")
        with fs.open(p, "rb") as f:
            plan = json.loads(f.read())
    groups = []
    for g in sorted(set(lengths) | set(plan.get("groups", {}))):
        tokens = int(lengths[g].sum()) if g in lengths else 0
        gp = plan.get("groups", {}).get(g, {})
        available = gp.get("available_tokens", 0)
        share = tokens / total if total else 0.0
        groups.append(
            {
                "group": g,
                "documents": int(lengths[g].size) if g in lengths else 0,
                "tokens": tokens,
                "share": share,
                "planned_share": gp.get("share"),
                "error_pp": None if gp.get("share") is None else 100 * (share - gp["share"]),
                "epochs": tokens / available if available else None,
            }
        )
    all_lengths = np.concatenate(list(lengths.values()))
    summary: dict[str, Any] = {
        "folder": folder,
        "shards": len(prefixes),
        "documents": int(all_lengths.size),
        "tokens": total,
        "dtype": dtype,
        "groups": groups,
        "length": {
            "mean": float(all_lengths.mean()),
            "median": float(np.median(all_lengths)),
            "p99": float(np.percentile(all_lengths, 99)),
            "max": int(all_lengths.max()),
        },
    }
    twins = [p + ".parquet" for p in prefixes]
    fs, _ = split_url(twins[0])
    if all(fs.exists(split_url(t)[1]) for t in twins):
        df = pl.scan_parquet(twins).select("language", "source", "fim", "tokens").collect()
        lang = (
            df.group_by(pl.col("language").fill_null("unknown"))
            .agg(pl.len().alias("documents"), pl.col("tokens").sum())
            .sort(["tokens", "language"], descending=[True, False])
        )
        summary["languages"] = lang.to_dicts()
        summary["sources"] = (
            df.group_by("source")
            .agg(pl.len().alias("documents"), pl.col("tokens").sum())
            .sort("source")
            .to_dicts()
        )
        fim = df.group_by(pl.col("fim").fill_null("none")).len().sort("fim")
        summary["fim"] = dict(fim.iter_rows())
    return summary


def print_shard_summary(summary: dict[str, Any], console=None) -> None:
    console = console or Console()
    ln = summary["length"]
    console.print(
        f"[bold]{summary['folder']}[/]: {summary['shards']} shards, {summary['documents']:,} sequences, "
        f"{summary['tokens']:,} tokens ({summary['dtype']}); tokens per sequence mean {ln['mean']:.0f}, "
        f"median {ln['median']:.0f}, p99 {ln['p99']:.0f}, max {ln['max']:,}"
    )
    table = Table(title="mix: realised vs planned", title_justify="left")
    for col in ("group", "documents", "tokens", "share", "planned", "error (pp)", "epochs"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for g in summary["groups"]:
        table.add_row(
            g["group"],
            f"{g['documents']:,}",
            f"{g['tokens']:,}",
            f"{100 * g['share']:.2f}%",
            "-" if g["planned_share"] is None else f"{100 * g['planned_share']:.2f}%",
            "-" if g["error_pp"] is None else f"{g['error_pp']:+.3f}",
            "-" if g["epochs"] is None else f"{g['epochs']:.3f}",
        )
    console.print(table)
    if "fim" in summary:
        console.print("FIM: " + ", ".join(f"{k} {v:,}" for k, v in summary["fim"].items()))
    if summary.get("languages"):
        table = Table(title="languages (by tokens)", title_justify="left")
        for col in ("language", "documents", "tokens"):
            table.add_column(col, justify="left" if col == "language" else "right")
        for r in summary["languages"][:20]:
            table.add_row(str(r["language"]), f"{r['documents']:,}", f"{r['tokens']:,}")
        if len(summary["languages"]) > 20:
            table.add_row(f"... {len(summary['languages']) - 20} more", "", "")
        console.print(table)


def inspect_shards(path: str, as_json: bool = False, console=None) -> dict[str, Any]:
    """What `coderforge inspect` shows for a shard folder (or an output that has one)."""
    summary = summarise_shards(path)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print_shard_summary(summary, console)
    return summary
