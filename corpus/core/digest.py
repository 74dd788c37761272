"""The checksum every output file is listed and verified with: one definition for the manifest
that records it and the verifier that recomputes it, so the two can never disagree."""

from __future__ import annotations

import hashlib

from corpus.core.atomic import split_url

CHUNK = 1 << 20


def file_digest(path: str) -> tuple[int, str]:
    """(bytes, sha256 hex) of a local or remote file, read in 1 MiB chunks so any size fits."""
    fs, p = split_url(path)
    digest = hashlib.sha256()
    size = 0
    with fs.open(p, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
