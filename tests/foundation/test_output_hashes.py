"""The demo build's output bytes against a stored reference.

Same recipe + same seed gives the same bytes (tests/foundation/test_demo_build.py compares two
runs); this compares with the bytes of an earlier build, so that a change meant to be only faster
or leaner (streaming, fused steps, new readers) shows any byte it moves. The reference holds the
sha256 of every file the manifest lists, and the versions of the libraries that write those bytes
(Parquet writer, tokenizer trainer, fastText, the HTML extractors): with other versions the
comparison is skipped, saying which, since their own output may differ.

    .venv/bin/python -m tests.foundation.test_output_hashes OUTPUT   # rewrite the reference from a build
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.output_reference import assert_matches, write

REFERENCE = Path(__file__).parent / "data" / "demo_output_sha256.json"


def test_demo_output_bytes_match_the_reference(demo_output: Path) -> None:
    assert_matches(demo_output, REFERENCE)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "manifest.json").is_file():
        print("usage: python -m tests.foundation.test_output_hashes BUILD_OUTPUT", file=sys.stderr)
        return 2
    print(f"{REFERENCE}: {write(Path(argv[0]), REFERENCE)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
