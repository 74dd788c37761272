"""`coderforge dedup IN.jsonl OUT.jsonl` end to end, and its one-line errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from corpus.app.cli import main
from dedup.evaluation import plant_variant, real_texts


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_cli_marks_clusters_and_duplicates(tmp_path: Path, capsys):
    rng = random.Random(0)
    texts = real_texts(12, seed=2)
    records = [{"id": f"r{i}", "text": t, "stars": i} for i, t in enumerate(texts)]
    records.append({"id": "near", "text": plant_variant(texts[3], 0.9, rng)[0]})
    records.append({"id": "far", "text": plant_variant(texts[4], 0.4, rng)[0]})
    records.append({"id": "copy", "text": texts[5], "stars": 100})
    records.append({"id": "empty", "text": ""})
    _write(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    assert main(["dedup", str(tmp_path / "in.jsonl"), str(out), "--tasks", "1"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in records]  # every record, input order
    by_id = {r["id"]: r for r in rows}
    assert by_id["near"]["cluster"] == "r3" and by_id["near"]["duplicate"] is True
    assert by_id["r5"]["cluster"] == "copy" and by_id["r5"]["duplicate"] is True  # most stars kept
    assert by_id["copy"] == {**records[-2], "cluster": "copy", "duplicate": False}
    assert by_id["far"]["duplicate"] is False and by_id["far"]["cluster"] == "far"
    assert by_id["empty"]["duplicate"] is False
    assert sum(r["duplicate"] for r in rows) == 2
    err = capsys.readouterr().err
    assert "bands" in err and "2 duplicates" in err
    assert not (tmp_path / "out.jsonl.dedup-work").exists()


def test_cli_options_change_the_plan(tmp_path: Path, capsys):
    _write(tmp_path / "in.jsonl", [{"id": 1, "text": "a b c d e f"}, {"id": 2, "text": "a b c d e f"}])
    out = tmp_path / "out.jsonl"
    args = ["dedup", str(tmp_path / "in.jsonl"), str(out), "--tasks", "1"]
    assert main([*args, "--threshold", "0.8", "--num-perm", "64", "--ngram", "3", "--keep-work"]) == 0
    err = capsys.readouterr().err
    assert "LSH" in err and "cluster report:" in err
    report = json.loads(next((tmp_path / "out.jsonl.dedup-work").rglob("report.json")).read_text())
    assert report["params"]["num_perm"] == 64 and report["params"]["ngram"] == 3
    assert report["exact_duplicates"] == 1
    assert [json.loads(x)["cluster"] for x in out.read_text().splitlines()] == ["1", "1"]


@pytest.mark.parametrize(
    ("lines", "options", "message"),
    [
        (['{"id": "a", "text": "x"}', "{not json"], [], "in.jsonl:2: not a JSON record"),
        (['{"text": "x"}'], [], 'in.jsonl:1: record has no "id"'),
        (['{"id": "a"}'], [], 'record a has no "text" string'),
        (['{"id": "a", "text": "x"}', '{"id": "a", "text": "y"}'], [], "id 'a' already used on line 1"),
        (['{"id": "a", "text": "x"}'], ["--threshold", "1.5"], "--threshold"),
        (['{"id": "a", "text": "x"}'], ["--verify", "maybe"], "--verify"),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, capsys, lines, options, message):
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    code = main(["dedup", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), *options])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_missing_input(tmp_path: Path, capsys):
    assert main(["dedup", str(tmp_path / "nope.jsonl"), str(tmp_path / "o.jsonl")]) == 2
    assert "input not found" in capsys.readouterr().err


def test_dedup_report_command(tmp_path: Path, capsys):
    texts = real_texts(4, seed=6)
    rng = random.Random(1)
    records = [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)]
    records.append({"id": "near", "text": plant_variant(texts[0], 0.8, rng)[0]})
    _write(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    assert main(["dedup", str(tmp_path / "in.jsonl"), str(out), "--tasks", "1", "--keep-work"]) == 0
    capsys.readouterr()
    assert main(["dedup-report", str(tmp_path / "out.jsonl.dedup-work")]) == 0
    text = capsys.readouterr().out
    assert (
        "1 duplicates (0 exact, 1 near)" in text and "r0  duplicates  near" in text
    )  # "near" < "r0": lowest id kept
    assert main(["dedup-report", str(tmp_path / "out.jsonl.dedup-work"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["near_duplicates"] == 1
    assert main(["dedup-report", str(tmp_path)]) == 2
    assert "no dedup cluster report" in capsys.readouterr().err
