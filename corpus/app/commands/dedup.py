"""`coderforge dedup IN.jsonl OUT.jsonl`: deduplicate a JSONL file of {"id", "text"} records.

The same four stages as in a build run on the local executor (or Ray) over a work folder beside
the output, so an interrupted run resumes; every record is written back, in input order, with
`cluster` (the id of its cluster's kept record, its own id when unique) and `duplicate`.
Optional record keys `stars`, `created_at`, `language` and `source` feed the keep-policy and the
partitioning exactly as document metadata does in a build.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from loguru import logger

from corpus.app.runner import RunSettings, run_stages
from corpus.core.atomic import atomic_write_text
from corpus.core.errors import UserError
from corpus.core.json_lines import BadRecord, parse_line
from corpus.core.strict import validate
from corpus.core.user_files import check_input_file
from dedup.config import DedupConfig
from dedup.jsonl import JsonlRecords
from dedup.layout import read_json, read_table
from dedup.report import cluster_report, format_report
from dedup.stages import dedup_stages, describe, layout_for

#: a `\\uD800`-`\\uDFFF` escape: only such a line can parse to a lone surrogate
_ESCAPED_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_records(path: Path) -> int:
    """Validate every record before any work: a broken line or a duplicate id stops the run with
    its line number. Returns the number of records; only the ids are held, not the texts.

    Lines are parsed by `parse_line`, as every reader parses them, so a line nested too deeply
    for Python's parser is a one-line error here rather than a traceback in a task. A lone UTF-16
    surrogate escape (`\\ud800`) is refused too: the output is each input record written back,
    and UTF-8 cannot hold a lone surrogate; replacing it would change the user's text unasked."""
    if not path.is_file():
        raise UserError(f"{path}: input not found")
    seen: dict[str, int] = {}
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                rec = parse_line(raw)
            except BadRecord as e:
                raise UserError(f"{path}:{lineno}: not a JSON record ({e.detail})") from None
            except RecursionError:  # a deep line with escapes can outrun the surrogate walk
                raise UserError(f"{path}:{lineno}: not a JSON record (JSON nested too deeply)") from None
            if not isinstance(rec, dict):
                raise UserError(f"{path}:{lineno}: a record must be a JSON object")
            doc_id, text = rec.get("id"), rec.get("text")
            if not isinstance(doc_id, str | int) or doc_id == "":
                raise UserError(f'{path}:{lineno}: record has no "id" (a non-empty string)')
            if not isinstance(text, str):
                raise UserError(f'{path}:{lineno}: record {doc_id!s} has no "text" string')
            if _ESCAPED_SURROGATE.search(raw) and _holds_surrogate(json.loads(raw)):
                raise UserError(
                    f"{path}:{lineno}: record {doc_id!s} holds a lone surrogate escape (like \\ud800), "
                    "which UTF-8 cannot encode; replace it (e.g. by \\ufffd) or remove the record"
                )
            doc_id = str(doc_id)
            if doc_id in seen:
                raise UserError(f"{path}:{lineno}: id {doc_id!r} already used on line {seen[doc_id]}")
            seen[doc_id] = lineno
    return len(seen)


def _holds_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a lone surrogate in any string (a key included).

    A walk with a stack of its own: a record nested as deep as the JSON parser allows would
    exhaust Python's."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _claim_work(work: Path, input: Path, config, tasks: int) -> None:
    """Resume only a run of the same input and settings; a stale work folder is started afresh."""
    st = input.stat()
    fingerprint = json.dumps(
        {
            "input": str(input.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "tasks": tasks,
            "config": config.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    marker = work / "dedup-run.json"
    if work.exists():
        if not marker.is_file():
            if any(work.iterdir()):
                raise UserError(f"--work: {work} exists and was not made by coderforge dedup; choose another")
        elif marker.read_text(encoding="utf-8") != fingerprint:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        atomic_write_text(str(marker), fingerprint)


def _reader(path: Path):

    return partial(JsonlRecords, str(path))


def dedup_command(
    input: Annotated[Path, typer.Argument(help="JSONL with {'id', 'text'} records")],
    output: Annotated[Path, typer.Argument(help="JSONL written with 'cluster' and 'duplicate' added")],
    threshold: Annotated[float, typer.Option(help="Jaccard similarity of word n-gram sets")] = 0.7,
    num_perm: Annotated[int, typer.Option(help="MinHash permutations")] = 256,
    ngram: Annotated[int, typer.Option(help="words per shingle")] = 5,
    verify: Annotated[str, typer.Option(help="exact | estimated | none")] = "exact",
    scheme: Annotated[str, typer.Option(help="classic | oph")] = "classic",
    exact_only: Annotated[
        bool, typer.Option("--exact-only", help="only whitespace-normalised exact dedup")
    ] = False,
    tasks: Annotated[int, typer.Option(min=1, help="datatrove tasks per stage")] = 2,
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    work: Annotated[Path | None, typer.Option(help="work folder (default: OUTPUT.dedup-work)")] = None,
    keep_work: Annotated[
        bool, typer.Option(help="keep the work folder (cluster report, signatures)")
    ] = False,
) -> None:
    """Deduplicate IN.jsonl (exact + MinHash) and write OUT.jsonl with cluster ids."""
    check_input_file(input)
    if executor not in ("local", "ray"):
        raise UserError(f"--executor: use local or ray (got {executor!r})")
    config = validate(
        DedupConfig,
        {
            "threshold": threshold,
            "num_perm": num_perm,
            "ngram": ngram,
            "verify": verify,
            "scheme": scheme,
            "near": not exact_only,
        },
        None,
    )
    n_records = _check_records(input)
    if output.exists() and output.is_dir():
        raise UserError(f"{output}: is a folder, expected a JSONL file path")
    work = work or output.with_name(output.name + ".dedup-work")
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    _claim_work(work, input, config, tasks)
    print(describe(config), file=sys.stderr)
    stages = dedup_stages(config, "cli", str(work), tasks, reader=_reader(input), write_output=False)[:3]
    t0 = time.perf_counter()
    for result in run_stages(stages, RunSettings(kind=executor, workers=tasks)):
        print(f"  {result.stage.name:<18} {result.seconds:6.1f}s", file=sys.stderr)
    layout = layout_for(stages)
    cluster_of: dict[str, str] = {}
    for r in range(tasks):
        for c in range(config.cluster_shards):
            table = read_table(layout.assign(r, c), ["id", "kept_id"])
            cluster_of.update(
                zip(table.column("id").to_pylist(), table.column("kept_id").to_pylist(), strict=True)
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    duplicates = 0
    with input.open("rb") as fin, tmp.open("w", encoding="utf-8") as fout:
        for raw in fin:
            if not raw.strip():
                continue
            rec = json.loads(raw)
            doc_id = str(rec["id"])
            kept = cluster_of.get(doc_id, doc_id)
            rec["cluster"] = kept
            rec["duplicate"] = kept != doc_id
            duplicates += rec["duplicate"]
            fout.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, output)
    report = read_json(layout.report())
    print(
        f"{n_records} records, {report['clusters']} clusters, {duplicates} duplicates "
        f"({report['exact_duplicates']} exact, {report['near_duplicates']} near) in "
        f"{time.perf_counter() - t0:.1f}s -> {output}",
        file=sys.stderr,
    )
    if keep_work:
        print(f"cluster report: {layout.report()}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)


def dedup_report_command(
    path: Annotated[str, typer.Argument(help="build output, source folder or dedup-clusters folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Show the dedup cluster report: sizes, similarity histograms, example pairs."""

    report = cluster_report(path)
    if as_json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(format_report(report))


def register(app: typer.Typer) -> None:
    app.command("dedup")(dedup_command)
    app.command("dedup-report")(dedup_report_command)
