"""SIGKILL a build in the middle of a stage; the same command finishes it, equal to a clean run."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from tests.conftest import CODERFORGE, jsonl_parts, output_digests, run_cli, text_recipe

#: one worker runs the four tasks one after another, each ~0.3 s at this size: the kill (polling
#: every 10 ms) lands after the first task with two or three tasks still to go
FILES, RECORDS = 4, 20_000


def test_sigkill_then_resume_equals_clean_run(tmp_path: Path, killer) -> None:
    jsonl_parts(tmp_path / "in", FILES, RECORDS)
    killed = text_recipe(tmp_path, "killed", "resume", FILES, 1)
    completions = tmp_path / "killed" / "text" / "documents" / "completions"
    killer(
        [*CODERFORGE, "build", str(killed)],
        until=lambda: completions.is_dir() and len(os.listdir(completions)) >= 1,
        timeout=120,
        poll=0.01,
    )
    done = len(os.listdir(completions)) if completions.is_dir() else 0
    assert 1 <= done < FILES, f"the kill must land mid-stage ({done} of {FILES} tasks done)"
    assert not (tmp_path / "killed" / "manifest.json").exists()

    resumed = run_cli("build", str(killed), check=True)
    assert "text/documents" in resumed.stdout
    clean = text_recipe(tmp_path, "clean", "resume", FILES, 1)
    clean.write_text(clean.read_text())
    run_cli("build", str(clean), check=True)

    assert output_digests(tmp_path / "killed") == output_digests(tmp_path / "clean")
    docs = pl.read_parquet(tmp_path / "killed" / "text" / "documents" / "data" / "*.parquet")
    assert docs.height == FILES * RECORDS and docs["id"].n_unique() == FILES * RECORDS
    leftovers = [p for p in (tmp_path / "killed").rglob(".*.tmp-*")]
    assert leftovers == []
