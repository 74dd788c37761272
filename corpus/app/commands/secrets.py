"""`coderforge secrets scan PATH...`: the secrets stage's detectors over a user's own files.

For checking a repository before it goes into a recipe, or a shard's source after a build: each
finding is printed as `path:line:column  kind  detector  masked-value`, where the value shows only
a short prefix and its length (a scan report must not become a copy of the secrets). Files that are
nothing but private keys or certificates are reported once, as the build would drop them. Exit
status: 1 when anything is found, 0 when clean, 2 for bad input (a missing path, a FIFO).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from classifiers.secrets.findings import mask
from classifiers.secrets.keys import file_kind
from classifiers.secrets.scanner import Detectors, scan
from corpus.core.errors import UserError
from corpus.core.user_files import read_head, walk_user_paths

secrets_app = typer.Typer(help="Find credentials and personal data in files.", no_args_is_help=True)

#: bytes of a file looked at for a NUL, the sign of a binary file (skipped)
_SNIFF = 8192


def scan_file(path: Path, max_bytes: int, detectors: Detectors) -> list[dict[str, Any]] | str:
    """The findings in one file, or why it was skipped."""
    try:
        raw = read_head(path, max_bytes)
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if b"\0" in raw[:_SNIFF]:
        return "binary"
    text = raw.decode("utf-8", errors="replace")
    kind = file_kind(text)
    if kind is not None:
        return [
            {
                "path": str(path),
                "line": 1,
                "column": 1,
                "kind": kind,
                "detector": "keys:file",
                "masked": "(whole file)",
            }
        ]
    found = []
    for f in scan(text, str(path), detectors):
        line = text.count("\n", 0, f.start) + 1
        column = f.start - (text.rfind("\n", 0, f.start) + 1) + 1
        found.append(
            {
                "path": str(path),
                "line": line,
                "column": column,
                "kind": f.kind,
                "detector": f.detector,
                "masked": mask(text[f.start : f.end]),
            }
        )
    return found


@secrets_app.command("scan")
def scan_command(
    paths: Annotated[list[Path], typer.Argument(help="files or folders (walked recursively)")],
    pii: Annotated[bool, typer.Option("--pii", help="also report e-mail and IP addresses")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the findings and summary as JSON")] = False,
    max_bytes: Annotated[int, typer.Option(help="read at most this many bytes of each file")] = 64 << 20,
) -> None:
    """Print each credential found (kind, line, detector, a masked prefix) and a summary by kind;
    exit 1 when anything is found."""

    if max_bytes < 1:
        raise UserError(f"--max-bytes: must be at least 1 (got {max_bytes})")
    detectors = Detectors(secrets=True, emails=pii, ips=pii)
    findings: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    files = 0
    for entry in walk_user_paths(paths):
        if entry.skipped is not None:
            skipped[entry.skipped.reason] += 1
            continue
        files += 1
        result = scan_file(entry.path, max_bytes, detectors)
        if isinstance(result, str):
            skipped[result.split(" (")[0]] += 1
            continue
        findings += result
        if not as_json:
            for f in result:
                print(f"{f['path']}:{f['line']}:{f['column']}\t{f['kind']}\t{f['detector']}\t{f['masked']}")
    by_kind = dict(sorted(Counter(f["kind"] for f in findings).items()))
    if as_json:
        summary = {"files": files, "findings": findings, "by_kind": by_kind, "skipped": dict(skipped)}
        print(json.dumps(summary, indent=1))
    else:
        with_findings = len({f["path"] for f in findings})
        kinds = ", ".join(f"{k}: {n}" for k, n in by_kind.items()) or "nothing found"
        print(
            f"{files} files scanned, {len(findings)} findings in {with_findings} files ({kinds})",
            file=sys.stderr,
        )
        if skipped:
            print(f"skipped: {', '.join(f'{r}: {n}' for r, n in sorted(skipped.items()))}", file=sys.stderr)
    if findings:
        raise SystemExit(1)  # not typer.Exit: see `coderforge shards verify`


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")
