"""Hostile records inside otherwise good input files: every reader drops the one bad record, says
where it was, and reads the rest of the file.

JSONL: a lone-surrogate escape and a line of 200,000 nested brackets in a build's text source, and
both given to `coderforge dedup`. WARC: a Content-Length of 99,999,999 in one gzip member of a
9-record Common Crawl file cut from the demo data (and the same file uncompressed), through
`coderforge extract` and through a build; then garbage, broken members, lying metadata records,
unknown charsets and formulas nested too deep for Python's stack, on the record walker itself.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from corpus.commoncrawl.extract import MathCodeExtractor
from corpus.commoncrawl.records import iter_pages
from corpus.commoncrawl.urls import normalize_url
from dedup.jsonl import JsonlRecords
from tests.conftest import REPO, run_cli
from tests.conftest import one_line_error as error_line

DEMO_WARC = REPO / "recipes" / "demo-data" / "commoncrawl" / "CC-DEMO-00001.warc.gz"
#: the gzip member (0-based) of the 9-record file whose Content-Length is made to lie
LIAR = 4
LIE = b"Content-Length: 99999999\r\n"
#: 200,000 nested brackets: far past the JSON parser's recursion limit
NESTED = "[" * 200_000 + "]" * 200_000
#: the JSON text of a string holding a lone surrogate: backslash, u, d, 8, 0, 0
SURROGATE_LINE = '{"id": "s", "text": "bad \\ud800 x"}'
TIMEOUT = 300


def one_line_error(proc, *words: str) -> None:
    """These commands print nothing but the error: it is all of stderr."""
    error_line(proc, *words, alone=True)


# --- helpers -----------------------------------------------------------------------------------


def gzip_members(data: bytes) -> list[bytes]:
    """The gzip members of a multi-member file, as bytes, in order."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        out.append(data[pos:end])
        pos = end
    return out


def nine_records() -> list[bytes]:
    """The nine HTML pages of the demo crawl file CC-DEMO-00001, one gzip member each."""
    members = gzip_members(DEMO_WARC.read_bytes())[:9]
    for m in members:
        assert b"HTTP/1.1 200" in gzip.decompress(m) and b"text/html" in gzip.decompress(m)
    return members


def lying_warcs(folder: Path) -> dict[str, tuple[Path, int]]:
    """`bad.warc.gz` and `bad.warc`: the nine pages, the fifth claiming 99,999,999 bytes.

    Returns name -> (path, offset of the lying record: its gzip member, or its WARC line)."""
    members = nine_records()
    records = [gzip.decompress(m) for m in members]
    liar = re.sub(rb"Content-Length: \d+\r\n", LIE, records[LIAR], count=1)
    assert liar != records[LIAR]
    folder.mkdir(parents=True, exist_ok=True)
    gz = folder / "bad.warc.gz"
    gz.write_bytes(b"".join(members[:LIAR]) + gzip.compress(liar) + b"".join(members[LIAR + 1 :]))
    plain = folder / "bad.warc"
    plain.write_bytes(b"".join(records[:LIAR]) + liar + b"".join(records[LIAR + 1 :]))
    return {
        "bad.warc.gz": (gz, sum(len(m) for m in members[:LIAR])),
        "bad.warc": (plain, sum(len(r) for r in records[:LIAR])),
    }


def good_urls() -> list[str]:
    urls = []
    for i, m in enumerate(nine_records()):
        if i != LIAR:
            urls.append(re.search(rb"WARC-Target-URI: (\S+)", gzip.decompress(m)).group(1).decode())
    return urls


def walk(path: Path, **kw) -> tuple[list[str], list[tuple[str, str, str]], Counter[str]]:
    """The record walker over one file: page URLs, skips (key, reason, detail), counters."""
    skips: list[tuple[str, str, str]] = []
    counts: Counter[str] = Counter()
    with open(path, "rb") as fh:
        pages = iter_pages(
            str(path), fh, on_skip=lambda *a: skips.append(a), count=lambda k: counts.update([k]), **kw
        )
        urls = [p.url for p in pages]
    return urls, skips, counts


def build(tmp_path: Path, sources: str) -> Path:
    """`coderforge build` of a recipe with these sources (YAML, inputs relative to tmp_path)."""
    recipe = tmp_path / "r.yaml"
    out = tmp_path / "out"
    recipe.write_text(
        f"name: hostile\noutput: {out}\nexecutor: {{tasks: 2, workers: 1}}\nsources:\n{sources}"
    )
    proc = run_cli("build", str(recipe), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return out


def documents(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "*" / "documents" / "data" / "*.parquet")


def drops(out: Path) -> list[tuple[str, str, str]]:
    files = list(out.glob("*/documents/drops/*/*.parquet"))
    if not files:
        return []
    return [tuple(r) for r in pl.read_parquet(files).select("id", "reason", "detail").iter_rows()]


def write_jsonl(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def good_lines(n: int) -> list[str]:
    return [
        json.dumps({"id": f"g{i}", "text": f"Good document number {i}, with some words. " * 3})
        for i in range(n)
    ]


# --- JSONL in a build's text source --------------------------------------------------------------


def test_text_source_keeps_a_lone_surrogate_document_with_a_replacement_character(tmp_path: Path) -> None:
    lines = good_lines(10)
    lines.insert(5, SURROGATE_LINE)
    assert "\\ud800" in lines[5]  # the six characters of the escape, not a character
    write_jsonl(tmp_path / "in" / "t.jsonl", lines)
    out = build(tmp_path, "  text: {paths: [in/t.jsonl]}\n")

    docs = dict(documents(out).select("id", "text").iter_rows())
    assert {f"text:g{i}" for i in range(10)} <= set(docs)
    assert docs["text:s"] == "bad \ufffd x"
    assert len(docs) == 11
    assert not [d for d in drops(out) if d[1] == "corrupt_file"]
    assert drops(out) == []


def test_text_source_drops_a_line_of_200000_nested_brackets_and_keeps_the_rest(tmp_path: Path) -> None:
    lines = good_lines(10)
    lines.insert(4, NESTED)  # line 5 of the file
    write_jsonl(tmp_path / "in" / "t.jsonl", lines)
    out = build(tmp_path, "  text: {paths: [in/t.jsonl]}\n")

    assert set(documents(out)["id"]) == {f"text:g{i}" for i in range(10)}
    assert [(i, r) for i, r, _ in drops(out)] == [("t.jsonl:5", "corrupt_record")]
    assert "nested too deeply" in drops(out)[0][2]
    # the drop is data, not a failed task: running the build again finds it done, not broken
    again = run_cli("build", str(tmp_path / "r.yaml"), timeout=TIMEOUT)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert set(documents(out)["id"]) == {f"text:g{i}" for i in range(10)}
    stats = json.loads(run_cli("inspect", str(out), "--json", check=True).stdout)
    assert stats["documents"] == 10 and stats["dropped"] == 1


# --- a lying Content-Length in a Common Crawl file -----------------------------------------------


@pytest.mark.parametrize("name", ["bad.warc.gz", "bad.warc"])
def test_extract_reads_past_a_content_length_of_99999999(tmp_path: Path, name: str) -> None:
    path, offset = lying_warcs(tmp_path / "in")[name]
    out = tmp_path / "pages.jsonl"
    proc = run_cli("extract", str(path), str(out), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["url"] for r in rows] == good_urls()
    assert all(r["text"].strip() for r in rows)
    assert "skipped: bad_length 1 ->" in proc.stderr
    assert "too_large" not in proc.stderr
    assert f"{name}@{offset}: bad_length" in proc.stderr


@pytest.mark.parametrize("name", ["bad.warc.gz", "bad.warc"])
def test_build_reads_past_a_content_length_of_99999999(tmp_path: Path, name: str) -> None:
    offset = lying_warcs(tmp_path / "in")[name][1]
    out = build(tmp_path, f"  commoncrawl: {{warc: [in/{name}]}}\n")

    docs = documents(out)
    urls = sorted(json.loads(meta)["url"] for meta in docs["metadata"])
    assert urls == sorted(normalize_url(u) for u in good_urls())
    assert [(i, r) for i, r, _ in drops(out)] == [(f"{name}@{offset}", "bad_length")]
    assert "99999999" in drops(out)[0][2]
    stats = json.loads(run_cli("inspect", str(out), "--json", check=True).stdout)
    assert stats["documents"] == 8 and stats["dropped"] == 1


def test_the_walker_names_the_lying_record_by_its_place(tmp_path: Path) -> None:
    """A length past its member is `bad_length`, not `too_large`: skipping it as too large would
    skip the four records after it with it."""
    path, offset = lying_warcs(tmp_path)["bad.warc.gz"]
    urls, skips, counts = walk(path)
    assert urls == good_urls()
    assert [(k, r) for k, r, _ in skips] == [(f"bad.warc.gz@{offset}", "bad_length")]
    assert counts == {"records": 9, "resyncs": 1}


# --- the record walker on more damage ------------------------------------------------------------


def _pages(tmp_path: Path, name: str, data: bytes) -> tuple[list[str], list[tuple[str, str, str]]]:
    path = tmp_path / name
    path.write_bytes(data)
    urls, skips, _ = walk(path)
    return urls, skips


def _with_length(record: bytes, length: bytes) -> bytes:
    return re.sub(rb"Content-Length: \d+\r\n", b"Content-Length: " + length + b"\r\n", record, count=1)


def _metadata(url: str, claimed: int | None = None) -> bytes:
    block = b"fetchTimeMs: 120\r\ncharset-detected: UTF-8\r\n"
    head = (
        "WARC/1.0\r\nWARC-Type: metadata\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Type: application/warc-fields\r\n"
        f"Content-Length: {len(block) if claimed is None else claimed}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def test_a_lying_metadata_record_does_not_hide_the_pages_after_it(tmp_path: Path) -> None:
    """Records that can never be pages are walked too: fastwarc would skip a lying one for us."""
    members = nine_records()
    lie = gzip.compress(_metadata("https://calc-tutor.example/", claimed=99_999_999))
    data = b"".join(members[:3]) + lie + b"".join(members[3:])
    urls, skips = _pages(tmp_path, "meta.warc.gz", data)
    assert len(urls) == 9
    assert [(k, r) for k, r, _ in skips] == [(f"meta.warc.gz@{sum(map(len, members[:3]))}", "bad_length")]


def test_a_length_a_little_too_long_in_a_big_file_is_caught_at_the_member_end(tmp_path: Path) -> None:
    """Not only a length past the end of the file: 300 bytes into the next member is a lie too,
    where without the check the next record would be read as this one's payload."""
    members = nine_records()
    records = [gzip.decompress(m) for m in members]
    declared = int(re.search(rb"Content-Length: (\d+)", records[2]).group(1))
    lie = gzip.compress(_with_length(records[2], str(declared + 300).encode()))
    urls, skips = _pages(tmp_path, "little.warc.gz", b"".join(members[:2]) + lie + b"".join(members[3:]))
    assert len(urls) == 8
    assert [(k, r) for k, r, _ in skips] == [(f"little.warc.gz@{sum(map(len, members[:2]))}", "bad_length")]


def test_a_content_length_that_is_no_number_is_bad_length(tmp_path: Path) -> None:
    members = nine_records()
    records = [gzip.decompress(m) for m in members]
    broken = gzip.compress(_with_length(records[1], b"12x4"))
    urls, skips = _pages(tmp_path, "nan.warc.gz", members[0] + broken + b"".join(members[2:]))
    assert len(urls) == 8
    assert [(k, r) for k, r, _ in skips] == [(f"nan.warc.gz@{len(members[0])}", "bad_length")]


def test_garbage_between_members_is_recorded_and_skipped(tmp_path: Path) -> None:
    members = nine_records()
    junk = b"\x00garbage from a bad copy\x1f\x8b\x08not a member" * 40_000  # ~1.5 MB, fake magics in it
    at = sum(map(len, members[:5]))
    urls, skips = _pages(tmp_path, "junk.warc.gz", b"".join(members[:5]) + junk + b"".join(members[5:]))
    assert len(urls) == 9
    assert skips == [
        (f"junk.warc.gz@{at}", "corrupt_record", f"garbage: {len(junk)} bytes that are not a gzip member")
    ]


def test_garbage_at_the_end_and_a_truncated_final_member_are_recorded(tmp_path: Path) -> None:
    members = nine_records()
    size = sum(map(len, members))
    urls, skips = _pages(tmp_path, "tail.warc.gz", b"".join(members) + b"trailing junk\n" * 10)
    assert len(urls) == 9
    assert [(k, r, d.split(":")[0]) for k, r, d in skips] == [
        (f"tail.warc.gz@{size}", "corrupt_record", "garbage")
    ]
    cut = b"".join(members) + gzip.compress(gzip.decompress(members[0]))[:25]
    urls, skips = _pages(tmp_path, "cut.warc.gz", cut)
    assert len(urls) == 9
    assert skips == [(f"cut.warc.gz@{size}", "corrupt_record", "truncated: file ends inside a gzip member")]


def test_a_member_that_does_not_decompress_loses_only_its_record(tmp_path: Path) -> None:
    members = nine_records()
    broken = members[6][:40] + bytes(b ^ 0x5A for b in members[6][40:80]) + members[6][80:]
    at = sum(map(len, members[:6]))
    urls, skips = _pages(tmp_path, "flip.warc.gz", b"".join(members[:6]) + broken + b"".join(members[7:]))
    assert len(urls) == 8
    assert [(k, r) for k, r, _ in skips] == [(f"flip.warc.gz@{at}", "corrupt_record")]


def test_an_unknown_http_charset_falls_back_to_detection(tmp_path: Path) -> None:
    """`charset=utf8mb4` (a database's name for UTF-8) used to raise LookupError for the file."""
    members = nine_records()
    record = gzip.decompress(members[2]).replace(b"charset=utf-8", b"charset=utf8mb4", 1)
    assert b"utf8mb4" in record
    urls, skips = _pages(
        tmp_path, "cs.warc.gz", b"".join(members[:2]) + gzip.compress(record) + b"".join(members[3:])
    )
    assert len(urls) == 9 and skips == []


def test_a_formula_nested_past_the_stack_keeps_the_page() -> None:
    """MathML conversion recurses per level; 100,000 nested <mrow> used to fail the whole file."""
    deep = "<math>" + "<mrow>" * 100_000 + "<mi>x</mi>" + "</mrow>" * 100_000 + "</math>"
    html = f"<html><body><main><p>Before the formula.</p><p>{deep}</p><p>After it.</p></main></body></html>"
    text = MathCodeExtractor().extract(html)
    assert "Before the formula." in text and "After it." in text and "$x$" in text


# --- coderforge dedup ----------------------------------------------------------------------------


def test_dedup_names_the_line_of_200000_nested_brackets(tmp_path: Path) -> None:
    lines = good_lines(4)
    lines.insert(2, json.dumps({"id": "n", "text": "x"})[:-1] + ', "deep": ' + NESTED + "}")
    write_jsonl(tmp_path / "in.jsonl", lines)
    proc = run_cli("dedup", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), timeout=TIMEOUT)
    one_line_error(proc, "in.jsonl:3:", "nested too deeply")
    assert not (tmp_path / "out.jsonl").exists()


def test_dedup_refuses_a_lone_surrogate_with_its_line(tmp_path: Path) -> None:
    """Refused, not repaired: dedup writes every input record back, and UTF-8 cannot hold a lone
    surrogate; the build's readers (which only keep text) replace it by U+FFFD instead."""
    lines = good_lines(4)
    lines.insert(1, SURROGATE_LINE)
    write_jsonl(tmp_path / "in.jsonl", lines)
    proc = run_cli("dedup", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), timeout=TIMEOUT)
    one_line_error(proc, "in.jsonl:2:", "lone surrogate")
    assert not (tmp_path / "out.jsonl").exists()


def test_dedup_accepts_surrogate_pairs_and_escaped_backslashes(tmp_path: Path) -> None:
    """Only a lone surrogate is refused: a pair is one character, and `\\\\ud800` is text."""
    lines = [
        '{"id": "pair", "text": "a smiling face \\ud83d\\ude00 in a sentence of several words"}',
        '{"id": "text", "text": "the escape \\\\ud800 written out in a sentence of words"}',
    ]
    write_jsonl(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    proc = run_cli("dedup", str(tmp_path / "in.jsonl"), str(out), "--tasks", "1", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [json.loads(line)["text"] for line in lines]
    assert "\U0001f600" in rows[0]["text"] and "\\ud800" in rows[1]["text"]


def test_dedup_reader_drops_bad_lines_and_keeps_the_split(tmp_path: Path) -> None:
    """Without the CLI's check in front (a benchmark, a pipeline of one's own), the reader drops a
    bad line with its file:line and goes on; bad lines still count in the split among tasks."""
    lines = good_lines(6)
    lines[1] = NESTED
    lines[3] = '{"id": "u", "text": "caf\xe9"}'  # replaced below by invalid UTF-8
    lines.insert(5, "")
    path = tmp_path / "in.jsonl"
    write_jsonl(path, lines)
    path.write_bytes(path.read_bytes().replace("caf\xe9".encode(), b"caf\xe9"))
    seen: dict[int, list[str]] = {}
    dropped: list[tuple[str, str, str]] = []
    for rank in (0, 1):
        reader = JsonlRecords(str(path))
        seen[rank] = [doc.id for doc in reader.run(rank=rank, world_size=2)]
        dropped += reader._drops
    assert seen == {0: ["g0", "g2", "g4"], 1: ["g5"]}
    assert [(i, r) for i, r, _ in dropped] == [("in.jsonl:2", "corrupt_record"), ("in.jsonl:4", "not_utf8")]
