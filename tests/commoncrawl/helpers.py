"""Shared helpers for the Common Crawl tests."""

from __future__ import annotations

from corpus.commoncrawl.extract import MathCodeExtractor


def extract_text(html: str, main_content: bool = True) -> str:
    """One page through a fresh `MathCodeExtractor`: the tests convert pages one at a time."""
    return MathCodeExtractor(main_content=main_content).extract(html)
