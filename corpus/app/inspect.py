"""`coderforge inspect`: what is in a build output, a source folder or a stage folder.

It reads only Parquet columns it needs (through polars' lazy scans), so it stays fast on large
outputs, and it counts drop side files by stage and reason: the answer to "where did my documents go".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from classifiers.recall.stages import loop_summary
from corpus.app.retry import RETRY_REASONS, failed_lists
from corpus.core.atomic import split_url
from corpus.core.errors import UserError
from corpus.core.stage import ALL_SOURCES
from corpus.shards.inspect import inspect_shards, is_shard_folder, print_shard_summary, summarise_shards
from dedup.layout import read_json
from dedup.report import find_reports, format_report, merge_reports

if TYPE_CHECKING:
    import polars as pl


def _find(path: str, kind: str) -> list[str]:
    fs, root = split_url(path)
    protocol = path.split("://", 1)[0] + "://" if "://" in path else ""
    hits = fs.glob(f"{root.rstrip('/')}/**/{kind}/**/*.parquet") + fs.glob(
        f"{root.rstrip('/')}/{kind}/**/*.parquet"
    )
    return sorted({protocol + h for h in hits if not h.rsplit("/", 1)[-1].startswith(".")})


def final_stages(path: str, stages: list[str]) -> list[str] | None:
    """Which of `stages` (relative folders) hold the corpus as it stands: one folder is its own
    answer; for a build output, the last document stage of each source in the manifest's run order
    (a stage over all sources stands for every source before it); None when neither is known."""
    if len(stages) <= 1:
        return stages
    fs, root = split_url(path)
    manifest = f"{root.rstrip('/')}/manifest.json"
    if not fs.exists(manifest):
        return None
    with fs.open(manifest, "r") as f:
        order = [s["stage"] for s in json.load(f).get("stages", [])]
    now: dict[str, str] = {}
    for label in order:
        source = label.split("/", 1)[0]
        if label not in stages:
            continue
        if source == ALL_SOURCES:
            now = {ALL_SOURCES: label}
        else:
            now[source] = label
    return sorted(now.values()) or None


def summarise(path: str) -> dict[str, Any]:
    fs, root = split_url(path)
    if not fs.exists(root):
        raise UserError(f"{path}: no such folder")
    data = _find(path, "data")
    drops = _find(path, "drops")
    if not data and not drops:
        raise UserError(
            f"{path}: no stage output found (expected data/ or drops/ folders with Parquet files)"
        )
    out: dict[str, Any] = {"path": path, "documents": 0, "bytes": 0}
    import polars as pl  # polars costs 0.4 s to import; only these paths need it

    if data:
        docs = pl.scan_parquet(data, include_file_paths="file").select(
            pl.col("file").str.replace(r"/data/[^/]+$", "").alias("stage"),
            "source",
            "group",
            "language",
            pl.col("text").str.len_bytes().alias("bytes"),
        )
        rel = len(root.rstrip("/")) + 1
        docs = docs.collect().with_columns(pl.col("stage").str.slice(rel))
        out["by_stage"] = _count(docs, "stage")
        final = final_stages(path, sorted(set(docs["stage"])))
        if final is not None:  # the corpus as it stands, each document once, not a sum over stages
            docs = docs.filter(pl.col("stage").is_in(final))
            out["scope"] = "documents of the last stage of each source: " + ", ".join(final)
        else:
            out["scope"] = "every stage under this folder, added up (no finished build's manifest.json here)"
        out["documents"] = docs.height
        out["bytes"] = int(docs["bytes"].sum() or 0)
        out["by_source"] = _count(docs, "source")
        out["by_group"] = _count(docs, "group")
        out["by_language"] = _count(docs.with_columns(pl.col("language").fill_null("(unknown)")), "language")
    if drops:
        d = pl.read_parquet(drops, columns=["stage", "reason"])
        agg = (
            d.group_by("stage", "reason")
            .len()
            .sort(["stage", "len", "reason"], descending=[False, True, False])
        )
        out["dropped"] = d.height
        out["drops"] = [{"stage": r[0], "reason": r[1], "count": r[2]} for r in agg.iter_rows()]
        failed = d.filter(pl.col("reason").is_in(RETRY_REASONS)).height
        if failed:  # repositories not fetched or damaged: where their list is, for a retry
            out["failed_fetches"] = {"repositories": failed, "lists": failed_lists(path)}
    else:
        out["dropped"] = 0
        out["drops"] = []
    redactions = _find(path, "redactions")
    if redactions:  # the secrets stages' records: spans replaced by placeholders, per stage and kind
        rel = len(root.rstrip("/")) + 1
        r = pl.scan_parquet(redactions, include_file_paths="file").select(
            pl.col("file").str.replace(r"/redactions/[^/]+$", "").str.slice(rel).alias("stage"), "kind"
        )
        agg = (
            r.group_by("stage", "kind")
            .len()
            .collect()
            .sort(["stage", "len", "kind"], descending=[False, True, False])
        )
        out["redactions"] = [{"stage": s or ".", "kind": k, "count": n} for s, k, n in agg.iter_rows()]
    manifest = f"{root.rstrip('/')}/manifest.json"
    if fs.exists(manifest):
        with fs.open(manifest, "r") as f:
            m = json.load(f)
        out["manifest"] = {k: m[k] for k in ("finished_at", "wall_seconds") if k in m}
        out["manifest"]["files"] = len(m.get("files", []))
    return out


def _count(df: pl.DataFrame, col: str) -> list[dict[str, Any]]:
    import polars as pl  # polars costs 0.4 s to import; only these paths need it

    agg = df.group_by(col).agg(pl.len().alias("documents"), pl.col("bytes").sum().alias("bytes"))
    agg = agg.sort(["documents", col], descending=[True, False])
    return [{col: r[0], "documents": r[1], "bytes": r[2]} for r in agg.iter_rows()]


def extras(path: str) -> dict[str, Any]:
    """What later stages left beside the documents: recall iterations, dedup clusters, shards."""
    fs, root = split_url(path)
    root = root.rstrip("/")
    found: dict[str, Any] = {}
    loops = sorted(
        set(fs.glob(f"{root}/**/iterations/loop.json")) | set(fs.glob(f"{root}/iterations/loop.json"))
    )
    if loops:
        found["recall"] = {
            p.rsplit("/iterations/", 1)[0][len(root) + 1 :] or ".": loop_summary(p.rsplit("/", 1)[0])
            for p in loops
        }

    reports = [r for r in find_reports(path) if r.rsplit("/", 1)[-1] == "report.json"]
    if reports:
        found["dedup"] = {}
        for report in reports:
            shards = sorted(fs.glob(report.rsplit("/", 1)[0] + "/report.s*.json"))
            merged = merge_reports([read_json(report)] + [read_json(s) for s in shards])
            found["dedup"][report[len(root) + 1 :].rsplit("/report.json", 1)[0]] = merged
        found["_dedup_text"] = {k: format_report(v) for k, v in found["dedup"].items()}

    if is_shard_folder(path):
        found["shards"] = summarise_shards(path)
    return found


def _cell(value: Any) -> str:
    """A recall-table cell: held-out AP, F1 and thresholds to three decimals, a gap as `-`."""
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def inspect_path(path: str, as_json: bool = False, console: Console | None = None) -> dict[str, Any]:
    try:
        summary = summarise(path)
    except UserError:
        if is_shard_folder(path):  # a shard folder holds no documents of its own
            return inspect_shards(path, as_json=as_json, console=console)
        raise
    more = extras(path)
    texts = more.pop("_dedup_text", {})
    summary.update(more)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return summary
    if console is None:
        console = Console()
        if not console.is_terminal:  # rich assumes 80 columns off a terminal
            console = Console(width=140)
    console.print(
        f"[bold]{path}[/]: {summary['documents']:,} documents, {summary['bytes']:,} bytes, "
        f"{summary['dropped']:,} dropped"
    )
    if summary.get("scope"):
        console.print(f"[dim]counted: {summary['scope']}; drops from every stage[/]")
    for key, col in (
        ("by_stage", "stage"),
        ("by_source", "source"),
        ("by_group", "group"),
        ("by_language", "language"),
    ):
        rows = summary.get(key)
        if not rows or (key == "by_stage" and len(rows) < 2):
            continue
        table = Table(title=col, title_justify="left")
        table.add_column(col)
        table.add_column("documents", justify="right")
        table.add_column("bytes", justify="right")
        for r in rows[:30]:
            table.add_row(str(r[col]), f"{r['documents']:,}", f"{r['bytes']:,}")
        if len(rows) > 30:
            table.add_row(f"... {len(rows) - 30} more", "", "")
        console.print(table)
    if summary["drops"]:
        table = Table(title="drops", title_justify="left")
        for c in ("stage", "reason", "count"):
            table.add_column(c, justify="right" if c == "count" else "left")
        for r in summary["drops"]:
            table.add_row(r["stage"], r["reason"], f"{r['count']:,}")
        console.print(table)
    if failed := summary.get("failed_fetches"):
        where = ", ".join(failed["lists"]) or "the fetch stages' drops (reason fetch_failed, corrupt_archive)"
        console.print(
            f"[yellow]failed fetches: {failed['repositories']:,} repositories, listed in {escape(where)}; "
            "`coderforge build RECIPE --retry-failed` fetches only those again[/]"
        )
    if summary.get("redactions"):
        table = Table(title="redactions", title_justify="left")
        for c in ("stage", "kind", "count"):
            table.add_column(c, justify="right" if c == "count" else "left")
        for r in summary["redactions"]:
            table.add_row(r["stage"], r["kind"], f"{r['count']:,}")
        console.print(table)
    for stage, rows in summary.get("recall", {}).items():
        table = Table(title=f"recall iterations: {stage}", title_justify="left")
        cols = (
            "target",
            "iteration",
            "seed_positives",
            "recalled",
            "new",
            "target_domains",
            "prefixes",
            "settings",
            "heldout_ap",
            "heldout_f1",
            "threshold",
            "stop_reason",
        )
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(*(_cell(r.get(c)) for c in cols))
        console.print(table)
    for stage, text in texts.items():
        console.print(f"[bold]{stage}[/]\n{text}")
    if "shards" in summary:
        print_shard_summary(summary["shards"], console=console)
    return summary
