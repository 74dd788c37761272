"""Reading over HTTP from a flaky server on 127.0.0.1, crawl paths files, URL normalisation."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corpus.commoncrawl.records import iter_pages
from corpus.commoncrawl.sources import ResumableHttpReader, crawl_paths, open_binary
from corpus.commoncrawl.urls import UrlDeduper, domain_of, normalize_url, path_prefixes
from corpus.core.errors import UserError
from tests.commoncrawl.warcs import gz_members, simple


class FlakyServer:
    """Serves files; the first `drops` GETs of each file stop after `cut` bytes; honours Range."""

    def __init__(self, files: dict[str, bytes], drops: int = 2, cut: int = 700, fail_first: int = 0) -> None:
        self.files = files
        self.drops = drops
        self.cut = cut
        self.fail_first = fail_first
        self.requests: list[tuple[str, str | None]] = []

    def handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                if server.fail_first > 0:
                    server.fail_first -= 1
                    self.send_error(503)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = data[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if server.drops > 0 and len(body) > server.cut:
                    server.drops -= 1
                    self.wfile.write(body[: server.cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


@contextmanager
def serve(server: FlakyServer) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), server.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_resumes_with_range_requests_after_dropped_connections() -> None:
    data = gz_members([simple(i) for i in range(40)])
    server = FlakyServer({"/seg/a.warc.gz": data}, drops=3, cut=1500, fail_first=1)
    with serve(server) as base:
        reader = ResumableHttpReader(f"{base}/seg/a.warc.gz", retries=5, backoff_s=0.01)
        with open_binary(f"{base}/seg/a.warc.gz") as fh:
            pages = list(iter_pages("a.warc.gz", fh))
        assert server.drops == 0 and server.fail_first == 0
        server.drops = 3
        got = b"".join(iter(lambda: reader.read(4096), b""))
    assert [p.url for p in pages] == [f"https://site.example/p/{i}" for i in range(40)]
    assert got == data
    assert reader.reconnects >= 3, server.requests
    assert any(rng and rng.startswith("bytes=") for _, rng in server.requests)


def test_http_404_is_an_error_not_a_retry_loop() -> None:
    with serve(FlakyServer({})) as base:
        reader = ResumableHttpReader(f"{base}/missing.warc.gz", retries=2, backoff_s=0.01)
        with pytest.raises(OSError, match="HTTP 404"):
            reader.read(10)


def test_crawl_paths_selects_segments_and_builds_urls(tmp_path: Path) -> None:
    lines = [
        f"crawl-data/CC-MAIN-2024-10/segments/1707947474{seg}.{n}/warc/CC-MAIN-x-{seg}-{n}.warc.gz"
        for seg in ("001", "002", "003")
        for n in range(3)
    ]
    paths_file = tmp_path / "warc.paths.gz"
    paths_file.write_bytes(gzip.compress("\n".join(lines).encode()))
    chosen = crawl_paths(
        "CC-MAIN-2024-10",
        paths_file=str(paths_file),
        segments=["1707947474002.1"],
        base_url="https://mirror.test/",
    )
    assert chosen == ["https://mirror.test/" + lines[4]]
    first = crawl_paths("CC-MAIN-2024-10", paths_file=str(paths_file), first=2)
    assert first == ["https://data.commoncrawl.org/" + p for p in lines[:2]]
    with pytest.raises(UserError, match="CC-MAIN"):
        crawl_paths("2024-10", paths_file=str(paths_file))
    with pytest.raises(UserError, match="none of the segments"):
        crawl_paths("CC-MAIN-2024-10", paths_file=str(paths_file), segments=["nope"])


def test_crawl_paths_over_http() -> None:
    lines = "crawl-data/CC-MAIN-2024-10/segments/1.1/wet/a.warc.wet.gz\n"
    server = FlakyServer({"/crawl-data/CC-MAIN-2024-10/wet.paths.gz": gzip.compress(lines.encode())}, drops=0)
    with serve(server) as base:
        got = crawl_paths("CC-MAIN-2024-10", kind="wet", base_url=base + "/")
    assert got == [f"{base}/crawl-data/CC-MAIN-2024-10/segments/1.1/wet/a.warc.wet.gz"]


def test_missing_local_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such WARC"):
        open_binary(str(tmp_path / "nope.warc.gz"))


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("HTTP://Example.COM:80/a/./b/../c?utm_source=x&b=2&a=1#frag", "http://example.com/a/c?a=1&b=2"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x/", "https://example.com:8443/x/"),
        ("https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_normalize_url(raw: str, norm: str) -> None:
    assert normalize_url(raw) == norm


def test_domains_prefixes_and_dedup() -> None:
    assert domain_of("https://WWW.MathQA.example/questions/12") == "mathqa.example"
    assert path_prefixes("https://a.example/questions/tagged/graphs", 2) == [
        "/questions/",
        "/questions/tagged/",
    ]
    assert path_prefixes("https://a.example/docs/", 3) == ["/docs/"]
    assert path_prefixes("https://a.example/index.html", 2) == []
    d = UrlDeduper()
    assert d.is_new("https://a.example/x?utm_medium=y")
    assert not d.is_new("HTTPS://A.example:443/x")
    assert d.is_new("https://a.example/x?page=2") and len(d) == 2


def test_crawl_inputs_expand_and_read_over_http(tmp_path: Path) -> None:
    """`cc://CRAWL/warc?...` in a recipe: paths file and WARC files served from 127.0.0.1."""
    from datatrove.executor.local import LocalPipelineExecutor

    from corpus.commoncrawl.sources import expand_inputs
    from corpus.commoncrawl.warc_reader import WarcDocumentReader
    from corpus.core.parquet_io import ParquetDocumentWriter

    files = {
        f"/crawl-data/CC-MAIN-2024-10/segments/9.{k}/warc/f{k}.warc.gz": gz_members(
            [simple(3 * k + i) for i in range(3)]
        )
        for k in range(3)
    }
    listing = "\n".join(p.lstrip("/") for p in files)
    files["/crawl-data/CC-MAIN-2024-10/warc.paths.gz"] = gzip.compress(listing.encode())
    with serve(FlakyServer(files, drops=1, cut=300)) as base:
        spec = f"cc://CC-MAIN-2024-10/warc?segments=9.0,9.2&base_url={base}/"
        assert expand_inputs([spec, "local.warc.gz"]) == [
            f"{base}/crawl-data/CC-MAIN-2024-10/segments/9.0/warc/f0.warc.gz",
            f"{base}/crawl-data/CC-MAIN-2024-10/segments/9.2/warc/f2.warc.gz",
            "local.warc.gz",
        ]
        stage = tmp_path / "stage"
        LocalPipelineExecutor(
            [WarcDocumentReader([spec]), ParquetDocumentWriter(str(stage))],
            tasks=2,
            workers=1,
            logging_dir=str(stage),
        ).run()
    import pyarrow.parquet as pq

    urls = sorted(
        json.loads(r["metadata"])["url"]
        for f in sorted(stage.glob("data/*.parquet"))
        for r in pq.read_table(f).to_pylist()
    )
    assert urls == sorted(f"https://site.example/p/{i}" for i in (0, 1, 2, 6, 7, 8))
    with pytest.raises(UserError, match="unknown crawl option"):
        expand_inputs(["cc://CC-MAIN-2024-10/warc?segment=1"])


def test_fsspec_urls_are_read(tmp_path: Path) -> None:
    import fsspec

    data = gz_members([simple(i) for i in range(3)])
    with fsspec.open("memory://bucket/seg/a.warc.gz", "wb") as f:
        f.write(data)
    (tmp_path / "b.warc.gz").write_bytes(data)
    for url in ("memory://bucket/seg/a.warc.gz", f"file://{tmp_path / 'b.warc.gz'}"):
        with open_binary(url) as fh:
            assert [p.url for p in iter_pages(url, fh)] == [f"https://site.example/p/{i}" for i in range(3)]
