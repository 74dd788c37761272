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

import json
import sys
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "data" / "demo_output_sha256.json"
#: libraries whose own output is part of the demo's bytes
WRITERS = (
    "python",
    "datatrove",
    "pyarrow",
    "polars",
    "fastwarc",
    "resiliparse",
    "fasttext-numpy2",
    "tokenizers",
)


def _manifest(output: Path) -> tuple[dict[str, str], dict[str, str]]:
    manifest = json.loads((output / "manifest.json").read_text())
    files = {f["path"]: f["sha256"] for f in manifest["files"]}
    versions = {k: v for k, v in manifest["versions"].items() if k in WRITERS}
    return files, versions


def test_demo_output_bytes_match_the_reference(demo_output: Path) -> None:
    reference = json.loads(REFERENCE.read_text())
    files, versions = _manifest(demo_output)
    if versions != reference["versions"]:
        changed = {
            k: (reference["versions"].get(k), v)
            for k, v in versions.items()
            if reference["versions"].get(k) != v
        }
        pytest.skip(
            f"reference made with other library versions {changed}; rewrite it with this module's __main__"
        )
    moved = sorted(
        p for p in set(files) | set(reference["files"]) if files.get(p) != reference["files"].get(p)
    )
    assert not moved, f"{len(moved)} output files differ from the reference, e.g. {moved[:5]}"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "manifest.json").is_file():
        print("usage: python -m tests.foundation.test_output_hashes BUILD_OUTPUT", file=sys.stderr)
        return 2
    files, versions = _manifest(Path(argv[0]))
    REFERENCE.write_text(
        json.dumps({"versions": versions, "files": dict(sorted(files.items()))}, indent=1) + "\n"
    )
    print(f"{REFERENCE}: {len(files)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
