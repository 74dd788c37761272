"""`coderforge extract`: WARC/WET files to JSONL (url, domain, text), with the skip funnel.

Records that are damaged (a lying Content-Length, a cut or undecodable gzip member, garbage between
records) are listed after the funnel with their `<file>@<offset>`, so a user can look at the bytes;
the rest of the file is read either way (see `corpus.commoncrawl.records`).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from tqdm import tqdm

from corpus.commoncrawl.extract import MathCodeExtractor
from corpus.commoncrawl.records import iter_pages
from corpus.commoncrawl.sources import open_binary
from corpus.commoncrawl.urls import UrlDeduper, domain_of, normalize_url
from corpus.core.atomic import atomic_open
from corpus.core.errors import UserError
from corpus.core.user_files import check_input_file

#: skip reasons that mean the file itself is damaged at that place, not that the page is unwanted
DAMAGE = ("bad_length", "corrupt_record")
#: at most this many damaged records are listed; the funnel counts them all
SHOW_DAMAGED = 20


def extract_command(
    warc: Annotated[
        list[str], typer.Argument(help="WARC/WET files (.gz/.zst/plain): paths, URLs, fsspec URLs")
    ],
    out: Annotated[Path, typer.Argument(help="output JSONL file (written atomically)")],
    main_content: Annotated[
        bool, typer.Option("--main-content/--all-text", help="drop navigation and footers")
    ] = True,
    max_bytes: Annotated[int, typer.Option(help="skip pages larger than this many bytes")] = 5_000_000,
    dedup_urls: Annotated[bool, typer.Option("--dedup-urls/--keep-duplicate-urls")] = True,
) -> None:
    """Extract text (formulas and code kept) from WARC/WET files into OUT as JSONL."""

    for path in warc:
        if "://" not in path:
            check_input_file(path)
    if out.exists() and out.is_dir():
        raise UserError(f"{out}: is a folder; give the JSONL file to write")
    extractor = MathCodeExtractor(main_content=main_content)
    deduper = UrlDeduper() if dedup_urls else None
    skipped: Counter[str] = Counter()
    damaged: list[str] = []

    def on_skip(key: str, reason: str, detail: str) -> None:
        skipped[reason] += 1
        if reason in DAMAGE and len(damaged) < SHOW_DAMAGED:
            damaged.append(f"  {key}: {reason} ({detail})")

    pages = 0
    start = time.perf_counter()
    with atomic_open(str(out), "w", encoding="utf-8") as dst, tqdm(unit="page", desc="extract") as bar:
        for path in warc:
            with open_binary(path) as fh:
                for page in iter_pages(path, fh, max_bytes=max_bytes, on_skip=on_skip):
                    if deduper is not None and page.url and not deduper.is_new(page.url):
                        skipped["duplicate_url"] += 1
                        continue
                    text = extractor.extract(page.content) if page.is_html else page.content.strip()
                    if not text:
                        skipped["empty"] += 1
                        continue
                    record = {
                        "id": f"cc:{page.record_id or f'{os.path.basename(path)}@{page.offset}'}",
                        "url": normalize_url(page.url),
                        "domain": domain_of(page.url),
                        "text": text,
                    }
                    dst.write(json.dumps(record, ensure_ascii=False) + "\n")
                    pages += 1
                    bar.update()
    seconds = time.perf_counter() - start
    funnel = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())) or "none"
    console = Console(stderr=True, highlight=False)
    console.print(
        f"extracted {pages} pages from {len(warc)} files in {seconds:.1f}s "
        f"({pages / max(seconds, 1e-9):.0f} pages/s); skipped: {funnel} -> {out}",
        markup=False,
        soft_wrap=True,
    )
    n_damaged = sum(skipped[reason] for reason in DAMAGE)
    if n_damaged:
        console.print(f"damaged records ({n_damaged}):", markup=False)
        for line in damaged:
            console.print(line, markup=False, soft_wrap=True)
        if n_damaged > len(damaged):
            console.print(f"  ... and {n_damaged - len(damaged)} more", markup=False)


def register(app: typer.Typer) -> None:
    app.command("extract")(extract_command)
