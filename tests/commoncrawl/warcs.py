"""Building WARC and WET files byte by byte, including broken ones, for the reader tests."""

from __future__ import annotations

import gzip
import uuid

import zstandard


def http_response(
    url: str,
    body: bytes,
    content_type: str | None = "text/html; charset=utf-8",
    status: int = 200,
    declared_length: int | None = None,
) -> bytes:
    """One uncompressed WARC response record; `declared_length` lets the header lie."""
    head = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Other'}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    block = (head + "\r\n").encode() + body
    length = len(block) if declared_length is None else declared_length
    warc = (
        "WARC/1.0\r\n"
        "WARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>\r\n"
        "WARC-Date: 2024-03-01T12:00:00Z\r\n"
        f"WARC-Target-URI: {url}\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    return warc + block + b"\r\n\r\n"


def wet_conversion(url: str, text: str) -> bytes:
    block = text.encode("utf-8")
    warc = (
        "WARC/1.0\r\n"
        "WARC-Type: conversion\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'wet:' + url)}>\r\n"
        "WARC-Date: 2024-03-01T12:00:00Z\r\n"
        f"WARC-Target-URI: {url}\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {len(block)}\r\n\r\n"
    ).encode()
    return warc + block + b"\r\n\r\n"


def page(title: str, body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"


def simple(i: int) -> bytes:
    return http_response(
        f"https://site.example/p/{i}", page(f"Page {i}", f"<p>Body of page number {i}.</p>").encode()
    )


def gz_members(records: list[bytes]) -> bytes:
    """Common Crawl layout: one gzip member per record."""
    return b"".join(gzip.compress(r, compresslevel=1) for r in records)


def zstd_frames(records: list[bytes]) -> bytes:
    c = zstandard.ZstdCompressor(level=3)
    return b"".join(c.compress(r) for r in records)
