"""The cluster report: what near-dedup found, in a form notebooks and the CLI can show.

The clusters stage writes `report.json` beside its assignments; this module finds it from a build
output, a source folder or the stage folder itself, and renders it as text (cluster sizes, the
candidate and kept-similarity histograms around the threshold, and example pairs closest to it).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from corpus.core.atomic import split_url
from corpus.core.errors import UserError
from dedup.layout import read_json


def find_reports(path: str) -> list[str]:
    """Every `*-clusters/report.json` under `path` (a build output, a source or a stage folder)."""
    fs, root = split_url(path)
    root = root.rstrip("/")
    protocol = path.split("://", 1)[0] + "://" if "://" in path else ""
    hits = [root + "/report.json"] if fs.exists(root + "/report.json") else []
    hits += fs.glob(root + "/*-clusters/report.json") + fs.glob(root + "/*/*-clusters/report.json")
    return sorted({protocol + h for h in hits})


def cluster_report(path: str) -> dict[str, Any]:
    """The report of the one dedup run under `path`; with several, pass the source folder."""
    reports = find_reports(path)
    if not reports:
        raise UserError(f"{path}: no dedup cluster report found (expected */dedup-clusters/report.json)")
    if len(reports) > 1:
        names = ", ".join(str(PurePosixPath(r).parent.parent.name) for r in reports)
        raise UserError(f"{path}: several dedup reports ({names}); pass one source folder")
    fs, first = split_url(reports[0])
    shards = sorted(fs.glob(first.rsplit("/", 1)[0] + "/report.s*.json"))
    report = merge_reports([read_json(reports[0])] + [read_json(p) for p in shards])
    report["path"] = reports[0]
    return report


def merge_reports(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from the reports of clustering shards (each covers its own partitions)."""
    out = dict(parts[0])
    for extra in parts[1:]:
        for key in (
            "documents",
            "documents_without_shingles",
            "clusters",
            "clustered_documents",
            "duplicates",
            "exact_duplicates",
            "near_duplicates",
            "candidates_compared",
            "candidates_accepted",
            "candidates_rejected",
            "verified_pairs",
        ):
            out[key] = out[key] + extra[key]
        for key in ("candidate_similarity_histogram", "kept_similarity_histogram"):
            out[key] = [a + b for a, b in zip(out[key], extra[key], strict=True)]
        sizes = dict(out["cluster_sizes"])
        for k, v in extra["cluster_sizes"].items():
            sizes[k] = sizes.get(k, 0) + v
        out["cluster_sizes"] = dict(sorted(sizes.items(), key=lambda kv: int(kv[0].split("-")[0])))
        out["largest_clusters"] = sorted(
            out["largest_clusters"] + extra["largest_clusters"], key=lambda c: (-c["size"], c["kept_id"])
        )[:10]
        limit = max(len(out["examples"]), len(extra["examples"]))
        out["examples"] = sorted(
            out["examples"] + extra["examples"], key=lambda e: (e["similarity"], e["id"])
        )[:limit]
    return out


def _bar(n: int, top: int, width: int = 30) -> str:
    return "#" * (round(width * n / top) if top else 0)


def format_report(report: dict[str, Any]) -> str:
    p = report["params"]
    lines = [
        f"dedup: {report['documents']} documents, {report['clusters']} clusters, "
        f"{report['duplicates']} duplicates ({report['exact_duplicates']} exact, "
        f"{report['near_duplicates']} near)",
        f"params: word {p['ngram']}-grams, {p['num_perm']} permutations ({p['scheme']}), "
        f"LSH {p['bands_in_effect']} bands x {p['rows_in_effect']} rows, threshold {p['threshold']}, "
        f"verify {p['verify']}",
        f"candidates: {report['candidates_compared']} compared, {report['candidates_accepted']} accepted, "
        f"{report['candidates_rejected']} rejected",
        "cluster sizes: " + ", ".join(f"{k}: {v}" for k, v in report["cluster_sizes"].items()),
    ]
    bins = report["histogram_bins"]
    for title, key in (
        ("similarity of compared candidates", "candidate_similarity_histogram"),
        ("similarity of dropped near-duplicates to the kept copy", "kept_similarity_histogram"),
    ):
        counts = report[key]
        if not any(counts):
            continue
        lines.append(title + ":")
        top = max(counts)
        for lo, hi, n in zip(bins[:-1], bins[1:], counts, strict=True):
            if n:
                lines.append(f"  {lo:4.2f}-{hi:4.2f} {n:8d} {_bar(n, top)}")
    if report["examples"]:
        lines.append("examples (closest to the threshold first):")
        for ex in report["examples"][:10]:
            lines.append(f"  {ex['similarity']:.3f}  {ex['id']}  duplicates  {ex['kept_id']}")
    return "\n".join(lines)
