"""The WARC/WET walker on files made here: broken, oversized, foreign-charset and compressed."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from pathlib import Path

from corpus.commoncrawl.records import iter_pages
from tests.commoncrawl.warcs import (
    gz_members,
    http_response,
    page,
    simple,
    wet_conversion,
    zstd_frames,
)


def read(path: Path, **kw):
    skips: list[tuple[str, str, str]] = []
    counts: Counter[str] = Counter()
    with open(path, "rb") as fh:
        pages = list(
            iter_pages(
                str(path), fh, on_skip=lambda *a: skips.append(a), count=lambda k: counts.update([k]), **kw
            )
        )
    return pages, skips, counts


def urls(pages) -> list[str]:
    return [p.url for p in pages]


def test_gzip_and_zstd_and_plain_give_the_same_pages(tmp_path: Path) -> None:
    records = [simple(i) for i in range(5)]
    expected = [f"https://site.example/p/{i}" for i in range(5)]
    for name, data in {
        "a.warc.gz": gz_members(records),
        "a.warc.zst": zstd_frames(records),
        "a.warc": b"".join(records),
    }.items():
        (tmp_path / name).write_bytes(data)
        pages, skips, _ = read(tmp_path / name)
        assert urls(pages) == expected, name
        assert skips == [], name
        assert "Body of page number 3" in pages[3].content


def test_truncated_gzip_keeps_complete_records_and_reports_the_cut_one(tmp_path: Path) -> None:
    data = gz_members([simple(i) for i in range(6)])
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[: len(data) - 40])
    pages, skips, _ = read(path)
    assert urls(pages) == [f"https://site.example/p/{i}" for i in range(5)]
    assert [(s[0], s[1], s[2].split(":")[0]) for s in skips] == [
        (f"cut.warc.gz@{len(data) - len(gz_members([simple(5)]))}", "corrupt_record", "truncated")
    ]


def test_file_cut_inside_a_header_does_not_crash(tmp_path: Path) -> None:
    records = [simple(i) for i in range(3)]
    raw = b"".join(records)
    path = tmp_path / "cut.warc"
    path.write_bytes(raw[: len(records[0]) + len(records[1]) + 30])
    pages, skips, _ = read(path)
    assert urls(pages) == [f"https://site.example/p/{i}" for i in range(2)]
    assert len(skips) <= 1


def test_content_length_too_long_loses_only_the_lying_record(tmp_path: Path) -> None:
    """A record claiming 50 kB swallows its successors; the resync finds them again."""
    body = page("Liar", "<p>short</p>").encode()
    records = [simple(0), simple(1), http_response("https://site.example/liar", body, declared_length=50_000)]
    records += [simple(i) for i in range(3, 6)]
    for name, data, liar_at in (
        ("lie.warc.gz", gz_members(records), len(gz_members(records[:2]))),
        ("lie.warc", b"".join(records), len(b"".join(records[:2]))),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        pages, skips, counts = read(path)
        assert urls(pages) == [f"https://site.example/p/{i}" for i in (0, 1, 3, 4, 5)], name
        assert [(s[0], s[1]) for s in skips] == [(f"{name}@{liar_at}", "bad_length")], name
        assert counts["resyncs"] == 1


def test_content_length_too_short_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    body = page("Liar", "<p>" + "words " * 200 + "</p>").encode()
    records = [
        simple(0),
        http_response("https://site.example/liar", body, declared_length=40),
        simple(2),
        simple(3),
    ]
    path = tmp_path / "short.warc.gz"
    path.write_bytes(gz_members(records))
    pages, skips, _ = read(path)
    assert "https://site.example/p/0" in urls(pages)
    assert urls(pages)[-2:] == ["https://site.example/p/2", "https://site.example/p/3"]
    assert "https://site.example/liar" not in urls(pages)
    assert skips, "the damaged record must be reported"


def test_non_html_non_200_and_empty_are_counted(tmp_path: Path) -> None:
    records = [
        simple(0),
        http_response("https://site.example/a.pdf", b"%PDF-1.4", "application/pdf"),
        http_response("https://site.example/gone", b"<html>gone</html>", status=404),
        http_response("https://site.example/moved", b"", status=301),
        http_response("https://site.example/img", b"\x89PNG\r\n", "image/png"),
        http_response("https://site.example/empty", b"   ", "text/html"),
        http_response("https://site.example/untyped", page("No type", "<p>sniffed</p>").encode(), None),
        http_response("https://site.example/binary", b"\x00\x01\x02 not html", None),
    ]
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(gz_members(records))
    pages, skips, _ = read(path)
    assert urls(pages) == ["https://site.example/p/0", "https://site.example/untyped"]
    reasons = Counter(s[1] for s in skips)
    assert reasons == {"non_html": 3, "not_http_200": 2, "empty": 1}


def test_pages_in_non_utf8_charsets_are_decoded(tmp_path: Path) -> None:
    russian = "Функция возвращает сумму элементов списка"
    japanese = "関数はリストの合計を返します。変数を初期化してから使います"
    french = "Déjà vu: l'élève a résolu l'équation très rapidement"
    records = [
        # charset in the HTTP header
        http_response(
            "https://ru.example/a",
            page("ru", f"<p>{russian}</p>").encode("cp1251"),
            "text/html; charset=windows-1251",
        ),
        # charset only in <meta>
        http_response(
            "https://jp.example/a",
            (
                "<html><head><meta charset='shift_jis'></head><body><p>" + japanese + "</p></body></html>"
            ).encode("shift_jis"),
            "text/html",
        ),
        # no declaration at all: detected
        http_response(
            "https://fr.example/a", page("fr", f"<p>{french}</p>" * 5).encode("latin-1"), "text/html"
        ),
    ]
    path = tmp_path / "charsets.warc.gz"
    path.write_bytes(gz_members(records))
    pages, skips, _ = read(path)
    assert skips == []
    assert russian in pages[0].content
    assert japanese in pages[1].content
    assert french in pages[2].content


def test_a_50_mb_page_is_skipped_unread_and_the_next_page_read(tmp_path: Path) -> None:
    path = tmp_path / "big.warc.gz"
    big = b"<html><body><p>" + b"x" * (50 * 1024 * 1024) + b"</p></body></html>"
    with open(path, "wb") as f:
        f.write(gzip.compress(simple(0), 1))
        f.write(gzip.compress(http_response("https://site.example/huge", big), 1))
        f.write(gzip.compress(simple(2), 1))
    size = len(big)
    del big
    start = time.perf_counter()
    pages, skips, _ = read(path, max_bytes=5_000_000)
    assert urls(pages) == ["https://site.example/p/0", "https://site.example/p/2"]
    assert [(s[1], s[2].split()[0]) for s in skips] == [("too_large", str(size))]
    assert time.perf_counter() - start < 30


def test_a_50_mb_page_is_handled_when_the_limit_allows_it(tmp_path: Path) -> None:
    path = tmp_path / "big.warc.gz"
    big = page("Huge", "<p>" + "word " * (10 * 1024 * 1024) + "</p>").encode()
    path.write_bytes(gz_members([http_response("https://site.example/huge", big), simple(1)]))
    pages, skips, _ = read(path, max_bytes=100_000_000)
    assert urls(pages) == ["https://site.example/huge", "https://site.example/p/1"]
    assert len(pages[0].content) > 50_000_000 and skips == []


def test_wet_files_yield_text_pages(tmp_path: Path) -> None:
    warcinfo = (
        b"WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\n"
        b"Content-Type: application/warc-fields\r\nContent-Length: 11\r\n\r\nsoftware: x\r\n\r\n"
    )
    records = [warcinfo, wet_conversion("https://a.example/x", "Plain text of page x.\nSecond line.")]
    records.append(wet_conversion("https://a.example/y", "Text of y: $e^{i\\pi} + 1 = 0$"))
    path = tmp_path / "a.warc.wet.gz"
    path.write_bytes(gz_members(records))
    pages, skips, _ = read(path)
    assert urls(pages) == ["https://a.example/x", "https://a.example/y"]
    assert not pages[0].is_html and pages[0].content == "Plain text of page x.\nSecond line."
    assert skips == []


def test_garbage_file_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "garbage.warc.gz"
    path.write_bytes(b"\x1f\x8b\x08" + b"not really gzip" * 100)
    pages, skips, _ = read(path)
    assert pages == []
    assert skips and skips[0][1] == "corrupt_record"


def test_file_cut_between_records_reports_the_lost_tail(tmp_path: Path) -> None:
    """fastwarc stops silently when a gzip member ends before its WARC header does."""
    members = [gzip.compress(simple(i), 1) for i in range(4)]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(b"".join(members[:3]) + members[3][:20])
    pages, skips, _ = read(path)
    assert urls(pages) == [f"https://site.example/p/{i}" for i in range(3)]
    offset = sum(len(m) for m in members[:3])
    assert skips == [(f"cut.warc.gz@{offset}", "corrupt_record", "truncated: file ends inside a gzip member")]


def test_truncated_zstd_keeps_what_came_before(tmp_path: Path) -> None:
    body = page("Liar", "<p>short</p>").encode()
    records = [
        simple(0),
        simple(1),
        http_response("https://site.example/liar", body, declared_length=50_000),
        simple(3),
    ]
    path = tmp_path / "lie.warc.zst"
    path.write_bytes(zstd_frames(records))
    pages, skips, _ = read(path)
    assert urls(pages)[:2] == ["https://site.example/p/0", "https://site.example/p/1"]
    assert [s[1] for s in skips] == ["corrupt_record"]
