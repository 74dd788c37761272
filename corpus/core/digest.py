"""The checksum every output file is listed and verified with: one definition for the manifest
that records it and the verifier that recomputes it, so the two can never disagree."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq

from corpus.core.atomic import atomic_write_text, split_url

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


#: each task's record of the files it wrote, beside the stage's data: `digests/<rank>.json`
DIGESTS_FOLDER = "digests"


def task_files(stage_folder: str, rank: int) -> list[str]:
    """The data and drop files task `rank` of a stage wrote: every one is named by its rank."""
    fs, root = split_url(stage_folder)
    protocol = stage_folder.split("://", 1)[0] + "://" if "://" in stage_folder else ""
    name = f"{rank:05d}.parquet"
    found = fs.glob(f"{root}/data/{name}") + fs.glob(f"{root}/drops/*/{name}")
    return sorted(protocol + p for p in found)


def record_task_digests(stage_folder: str, rank: int) -> None:
    """Hash the files task `rank` wrote, in the task, before it is marked complete.

    The manifest lists every data and drop file with its sha256; hashing them all in the build's
    own process after the last stage reads the whole output once more on one core (a day at the
    full recipe's scale). A task hashes its own files while they are in the page cache instead,
    and the manifest reads the records.
    """
    fs, root = split_url(stage_folder)
    entries = {}
    for path in task_files(stage_folder, rank):
        size, sha = file_digest(path)
        p = split_url(path)[1]
        with fs.open(p, "rb") as f:
            rows = pq.ParquetFile(f).metadata.num_rows
        entries[p[len(root.rstrip("/")) + 1 :]] = {
            "bytes": size,
            "sha256": sha,
            "documents": rows,
        }
    atomic_write_text(
        f"{stage_folder.rstrip('/')}/{DIGESTS_FOLDER}/{rank:05d}.json", json.dumps(entries, sort_keys=True)
    )


def recorded_digests(stage_folder: str) -> dict[str, dict]:
    """Every task's records of a stage, keyed by path relative to the stage folder."""
    fs, root = split_url(stage_folder)
    found: dict[str, dict] = {}
    for path in sorted(fs.glob(f"{root}/{DIGESTS_FOLDER}/*.json")):
        found.update(json.loads(fs.cat_file(path)))
    return found
