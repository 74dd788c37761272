"""`coderforge github ...`: the GitHub path outside a full build.

- `github search`: list repositories through the REST search API into a JSON-lines file that a
  recipe (or `github walk`) can use; cached, so running it again asks GitHub nothing;
- `github walk`: fetch and walk one repository (folder, archive, git or archive URL) and report
  what the walker and the DeepSeek-Coder file rules keep and drop, file by file if asked;
- `github split`: write a repository-level sample's files back out, exactly as they went in;
- `github order-check`: list the imports a build's samples place after the file importing them,
  outside any import cycle (there should be none).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import pyarrow.compute as pc
import pyarrow.parquet as pq
import typer
from datatrove.data import Document
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from corpus.core.atomic import atomic_write_text, split_url
from corpus.core.errors import UserError
from corpus.core.parquet_io import data_files
from corpus.core.schema import row_to_document
from corpus.core.user_files import check_input_file
from corpus.github.file_rules import DeepSeekFileRules
from corpus.github.repo_reader import GithubRepoReader, safe_member_path
from corpus.github.samples import forward_imports, split_sample
from corpus.github.search import GithubApi, RepoQuery, SearchError, search_repositories

github_app = typer.Typer(help="GitHub repositories: search, fetch, walk, file rules.", no_args_is_help=True)


def _day(value: str, option: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise UserError(f"{option}: expected a day as YYYY-MM-DD (got {value!r})") from None


@github_app.command("search")
def search_command(
    out: Annotated[Path, typer.Argument(help="JSON-lines file to write, one repository a line")],
    created_before: Annotated[
        str, typer.Option(help="only repositories created before this day")
    ] = "2023-11-01",
    created_after: Annotated[str, typer.Option(help="first creation day searched")] = "2008-01-01",
    min_stars: Annotated[int, typer.Option(min=0)] = 0,
    language: Annotated[
        list[str] | None, typer.Option(help="GitHub language name; repeat for several")
    ] = None,
    pushed_after: Annotated[str | None, typer.Option(help="only repositories pushed since this day")] = None,
    query: Annotated[str, typer.Option(help="extra search qualifiers")] = "",
    max_repos: Annotated[int | None, typer.Option(min=1)] = None,
    method: Annotated[str, typer.Option(help="git (clone URL) or tarball (API archive URL)")] = "git",
    api_url: Annotated[str, typer.Option(help="REST API base URL")] = "https://api.github.com",
    token_env: Annotated[str, typer.Option(help="environment variable holding the token")] = "GITHUB_TOKEN",
    cache: Annotated[Path | None, typer.Option(help="answer cache folder (default: OUT's folder)")] = None,
    refresh: Annotated[bool, typer.Option(help="revalidate cached answers with their ETags")] = False,
) -> None:
    """Find repositories with the GitHub search API (the paper: created before 2023-11-01)."""

    if method not in ("git", "tarball"):
        raise UserError(f"--method: expected git or tarball (got {method!r})")
    q = RepoQuery(
        created_before=_day(created_before, "--created-before"),
        created_after=_day(created_after, "--created-after"),
        min_stars=min_stars,
        languages=list(language or []),
        pushed_after=_day(pushed_after, "--pushed-after") if pushed_after else None,
        extra=query,
        max_repos=max_repos,
    )
    if q.created_after >= q.created_before:
        raise UserError("--created-after must be before --created-before")
    cache_dir = cache or out.parent / ".github-api-cache"
    api = GithubApi(api_url=api_url, token_env=token_env, cache_dir=str(cache_dir), refresh=refresh)
    records = []
    try:
        with tqdm(desc="github search", unit=" repos", disable=None) as bar:
            records = list(search_repositories(api, q, method, progress=bar.update))
    except SearchError as e:
        raise UserError(str(e)) from None
    atomic_write_text(str(out), "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    Console().print(
        f"{len(records)} repositories -> {out}  ({api.requests_made} API requests, {api.cache_hits} from cache)"
    )


@github_app.command("walk")
def walk_command(
    source: Annotated[str, typer.Argument(help="a folder, .tar.gz/.zip archive, git URL or archive URL")],
    name: Annotated[str, typer.Option(help="owner/name recorded in document ids")] = "local/repo",
    max_file_bytes: Annotated[int, typer.Option(min=1)] = 1_000_000,
    files: Annotated[bool, typer.Option("--files", help="list every file with its verdict")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print machine-readable JSON")] = False,
) -> None:
    """Walk one repository and show what the walker and the DeepSeek-Coder file rules keep."""

    if "://" in source:
        bare = source.split("?")[0]
        archive = bare.endswith((".tar.gz", ".tgz", ".zip")) or "/tarball/" in bare or "/zipball/" in bare
        key = "archive" if archive else "url"
    elif os.path.isdir(check_input_file(source)):
        key = "path"
    elif os.path.isfile(source):
        key = "archive"
    else:
        raise UserError(f"{source}: not found (give a folder, an archive or a URL)")
    if len(name.split("/")) != 2 or not all(name.split("/")):
        raise UserError(f"--name: must look like owner/name (got {name!r})")
    reader = GithubRepoReader([{"name": name, key: source}], max_file_bytes)
    rules = DeepSeekFileRules()
    kept = list(rules.run(reader.run(None, 0, 1), 0, 1))
    drops = [(doc_id, reason, detail, "walk") for doc_id, reason, detail in reader._drops]
    drops += [(doc_id, reason, detail, "rules") for doc_id, reason, detail in rules._drops]
    prefix = f"github:{name}/"
    summary = {
        "repository": name,
        "kept": len(kept),
        "kept_bytes": sum(len(d.text.encode("utf-8")) for d in kept),
        "dropped": dict(sorted(Counter(r for _, r, _, _ in drops).items())),
        "languages": dict(Counter(str(d.metadata.get("language")) for d in kept).most_common()),
    }
    if as_json:
        if files:
            summary["files"] = [{"path": d.id.removeprefix(prefix), "kept": True} for d in kept] + [
                {"path": i.removeprefix(prefix), "kept": False, "reason": r, "detail": t}
                for i, r, t, _ in drops
            ]
        print(json.dumps(summary, indent=1, sort_keys=True))
        return
    console = Console()
    failed = [d for d in drops if d[1] in ("fetch_failed", "corrupt_archive")]
    for _, reason, detail, _ in failed:
        console.print(f"[red]{reason}[/red]: {detail}")
    table = Table(title=f"{name}: {len(kept)} files kept, {len(drops)} dropped")
    table.add_column("reason")
    table.add_column("step")
    table.add_column("files", justify="right")
    for (reason, step), n in sorted(Counter((r, s) for _, r, _, s in drops).items()):
        table.add_row(reason, step, str(n))
    console.print(table)
    if files:
        for d in kept:
            console.print(
                f"  kept     {d.id.removeprefix(prefix)}  [{d.metadata.get('language') or d.metadata.get('language_label')}]"
            )
        for doc_id, reason, detail, _ in drops:
            console.print(f"  dropped  {doc_id.removeprefix(prefix)}  {reason}: {detail}")


@github_app.command("split")
def split_command(
    stage: Annotated[str, typer.Argument(help="a samples stage folder, e.g. OUTPUT/github/samples")],
    sample_id: Annotated[str, typer.Argument(help="the sample's id, e.g. 'github:owner/name#sample-0'")],
    to: Annotated[Path, typer.Option("--to", help="folder to write the files into")] = Path("."),
) -> None:
    """Split a repository-level sample back into its files (exactly the bytes that went in)."""

    paths = data_files(stage)
    if not paths:
        raise UserError(f"{stage}: no data/*.parquet here (give a samples stage folder)")
    row = None
    for path in paths:
        fs, p = split_url(path)
        with fs.open(p, "rb") as fh:
            table = pq.read_table(fh, filters=pc.field("id") == sample_id)
        if table.num_rows:
            row = table.to_pylist()[0]
            break
    if row is None:
        raise UserError(f"{stage}: no document with id {sample_id!r}")
    doc = row_to_document(row)
    if "files" not in doc.metadata:
        raise UserError(f"{sample_id}: not a repository-level sample (it has no file list)")
    written = 0
    for rel, text in split_sample(doc):
        safe = safe_member_path(rel)
        if safe is None:
            raise UserError(f"{sample_id}: refusing the path {rel!r}, which would leave {to}")
        atomic_write_text(str(to / safe), text)
        written += 1
    Console().print(f"{written} files of {sample_id} -> {to}")


def _stage_documents(paths: list[str]) -> Iterator[Document]:
    for path in paths:
        fs, p = split_url(path)
        with fs.open(p, "rb") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=512):
                for row in batch.to_pylist():
                    yield row_to_document(row)


@github_app.command("order-check")
def order_check_command(
    output: Annotated[str, typer.Argument(help="a build output (or its github/samples stage folder)")],
) -> None:
    """List imports placed after the file importing them, outside any cycle; exit 1 if any."""

    stage = output.rstrip("/")
    paths = data_files(stage)
    if not paths:
        stage = f"{stage}/github/samples"
        paths = data_files(stage)
    if not paths:
        raise UserError(f"{output}: no github/samples/data/*.parquet here (give a build output folder)")
    checked, found = forward_imports(_stage_documents(paths))
    by_sample: dict[str, list[tuple[str, str]]] = {}
    for sample_id, path, later in found:
        by_sample.setdefault(sample_id, []).append((path, later))
    for sample_id, edges in by_sample.items():
        typer.echo(f"{sample_id}: {len(edges)} forward imports")
        for path, later in edges:
            typer.echo(f"  {path} imports {later}, which comes later")
    typer.echo(
        f"{len(found)} forward imports outside cycles in {len(by_sample)} of {checked} samples ({stage})"
    )
    if found:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(github_app, name="github")
