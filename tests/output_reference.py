"""A build's output bytes against a stored reference of sha256s.

Same recipe + same seed gives the same bytes (two runs are compared elsewhere); a reference made
by an earlier build shows every byte a change meant to be only faster or leaner moves (streaming,
fused steps, another encoder). The reference holds the sha256 of every file the manifest lists and
the versions of the libraries whose own output those bytes are; with other versions the comparison
is skipped, saying which. tiktoken is not among them: ids go through it only for the releases
checked to give HF's ids (corpus.mix.rank_encoder), through HF otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: libraries whose own output is part of a build's bytes
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


def manifest_hashes(output: Path) -> tuple[dict[str, str], dict[str, str]]:
    manifest = json.loads((output / "manifest.json").read_text())
    files = {f["path"]: f["sha256"] for f in manifest["files"]}
    versions = {k: v for k, v in manifest["versions"].items() if k in WRITERS}
    return files, versions


def assert_matches(output: Path, reference_path: Path) -> None:
    reference = json.loads(reference_path.read_text())
    files, versions = manifest_hashes(output)
    if versions != reference["versions"]:
        changed = {
            k: (reference["versions"].get(k), v)
            for k, v in versions.items()
            if reference["versions"].get(k) != v
        }
        pytest.skip(
            f"reference made with other library versions {changed}; rewrite it ({reference_path.name})"
        )
    moved = sorted(
        p for p in set(files) | set(reference["files"]) if files.get(p) != reference["files"].get(p)
    )
    assert not moved, f"{len(moved)} output files differ from the reference, e.g. {moved[:5]}"


def write(output: Path, reference_path: Path) -> int:
    files, versions = manifest_hashes(output)
    reference_path.parent.mkdir(parents=True, exist_ok=True)
    reference_path.write_text(
        json.dumps({"versions": versions, "files": dict(sorted(files.items()))}, indent=1) + "\n"
    )
    return len(files)
