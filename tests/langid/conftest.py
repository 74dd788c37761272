"""The pinned real-code corpus as the language-ID tests read it."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator

import pytest

from tests.realdata import fetch
from tests.realdata.packages import PACKAGES, cache_dir


def real_code_files(wanted: Callable[[str], bool] = lambda name: True) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of every file of the pinned archives whose name is `wanted`, in
    archive order; the calling test is skipped when the corpus is missing or stale."""
    for pkg in PACKAGES:
        hit = fetch.cached(cache_dir(), pkg)
        if hit is None:
            pytest.skip(f"the real-code corpus is missing or stale in {cache_dir()}: run `make real-code`")
        with tarfile.open(hit.path) as tar:
            for member in tar.getmembers():
                if member.isfile() and wanted(member.name):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    yield member.name, handle.read()
