"""The real-code build's output bytes (the planted build of conftest.py) against a stored reference.

The reference was written by the build as it stood before the shard path's ids went through
tiktoken's encoder (corpus.mix.rank_encoder): the same shards, token for token, on 15 real
releases. Rewrite it only for a change meant to move bytes:

    .venv/bin/pytest tests/realdata/test_output_hashes.py --basetemp=/tmp/rd
    .venv/bin/python -m tests.realdata.test_output_hashes /tmp/rd/real-code0/out
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.output_reference import assert_matches, write
from tests.realdata.conftest import RealBuild

pytestmark = pytest.mark.realdata

REFERENCE = Path(__file__).parent / "data" / "real_output_sha256.json"


def test_real_code_output_bytes_match_the_reference(real_build: RealBuild) -> None:
    assert_matches(real_build.output, REFERENCE)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "manifest.json").is_file():
        print("usage: python -m tests.realdata.test_output_hashes BUILD_OUTPUT", file=sys.stderr)
        return 2
    print(f"{REFERENCE}: {write(Path(argv[0]), REFERENCE)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
