"""Corrupt records are counted, recorded and skipped; the build goes on."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import polars as pl

from tests.conftest import REPO, run_cli

DATA = REPO / "recipes" / "demo-data"


def _tarball(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> None:
    """members: (name, content, symlink target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content, target in members:
            info = tarfile.TarInfo(name)
            if target is not None:
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            else:
                info.size = len(content or b"")
                tar.addfile(info, io.BytesIO(content or b""))


def test_corrupt_inputs_are_counted_and_skipped(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    # text: a gzip cut in the middle, and a file with a broken line and a record without text
    lines = [json.dumps({"id": f"d{i}", "text": f"document number {i} " * 20}) for i in range(400)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    (inputs / "cut.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    (inputs / "mixed.jsonl").write_text(
        '{"id": "ok", "text": "fine"}\n{"id": "bad", "text": \n{"id": "notext", "body": "x"}\n[1, 2]\n'
    )
    # github: a truncated archive, and one with hostile members next to a good file
    good = (DATA / "github" / "tools-numfmt.tar.gz").read_bytes()
    (inputs / "cut.tar.gz").write_bytes(good[: len(good) // 2])
    _tarball(
        inputs / "hostile.tar.gz",
        [
            ("repo-abc/ok.py", b"print('ok')\n", None),
            ("repo-abc/../../escape.py", b"x = 1\n", None),
            ("/etc/cron.d/evil", b"* * * * * root true\n", None),
            ("repo-abc/passwd", None, "/etc/passwd"),
        ],
    )
    # web: a WARC cut inside its last record
    warc = (DATA / "commoncrawl" / "CC-DEMO-00000.warc.gz").read_bytes()
    (inputs / "cut.warc.gz").write_bytes(warc[:5000])
    shutil.copy(DATA / "commoncrawl" / "CC-DEMO-00001.warc.gz", inputs / "whole.warc.gz")

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"""
name: corrupt
output: {tmp_path / "out"}
executor: {{tasks: 2, workers: 1}}
sources:
  github:
    repos:
      - {{name: cut/repo, archive: in/cut.tar.gz}}
      - {{name: hostile/repo, archive: in/hostile.tar.gz}}
  commoncrawl: {{warc: [in/cut.warc.gz, in/whole.warc.gz]}}
  text: {{paths: [in/cut.jsonl.gz, in/mixed.jsonl]}}
"""
    )
    proc = run_cli("build", str(recipe))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    drops = pl.read_parquet(out / "*" / "documents" / "drops" / "*" / "*.parquet")
    by = {(r[0], r[1]) for r in drops.select("id", "reason").iter_rows()}

    assert ("mixed.jsonl:2", "corrupt_record") in by
    assert ("mixed.jsonl:3", "missing_text") in by
    assert ("mixed.jsonl:4", "corrupt_record") in by
    assert any(i.startswith("cut.jsonl.gz:") and r == "corrupt_file" for i, r in by)
    assert ("github:cut/repo", "corrupt_archive") in by
    assert ("github:hostile/repo/passwd", "symlink") in by
    assert sum(r == "unsafe_path" for _, r in by) == 2
    assert any(i.startswith("cut.warc.gz@") and r == "corrupt_record" for i, r in by)

    docs = pl.read_parquet(out / "*" / "documents" / "data" / "*.parquet")
    ids = set(docs["id"])
    assert "text:ok" in ids and "github:hostile/repo/ok.py" in ids
    kept_from_cut = docs.filter(pl.col("id").str.starts_with("text:d")).height
    assert 0 < kept_from_cut < 400  # what was readable before the cut is kept
    assert docs.filter(pl.col("source") == "commoncrawl").height >= 10
    assert not (tmp_path / "escape.py").exists() and not (out.parent / "escape.py").exists()
    stats = json.loads(run_cli("inspect", str(out), "--json", check=True).stdout)
    every_drop = pl.read_parquet(out / "*" / "*" / "drops" / "*" / "*.parquet")
    assert stats["dropped"] == every_drop.height
