"""`OUTPUT/manifest.json`: what a build produced, from what, with what.

Every data and drop file is listed with its document count and sha256, so a consumer (the trainer, a
notebook, a second machine) can check it has the same corpus; the resolved recipe and the package
versions say how to make it again.
"""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from typing import Any

import pyarrow.parquet as pq

from corpus.app.recipe import Recipe
from corpus.app.runner import StageResult
from corpus.core.atomic import atomic_write_text, split_url
from corpus.core.digest import file_digest, recorded_digests
from corpus.core.stage import Stage

PACKAGES = (
    "coderforge",
    "datatrove",
    "pyarrow",
    "polars",
    "fastwarc",
    "resiliparse",
    "fasttext-numpy2",
    "tokenizers",
    "ray",
    "torch",
    "megatron-core",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def describe_file(output: str, path: str, recorded: dict | None = None) -> dict[str, Any]:
    """The manifest entry of one output file: from the digest its task recorded when that matches
    the file's size, else read and hashed here."""
    fs, p = split_url(path)
    _, root = split_url(output)
    entry: dict[str, Any] = {"path": p[len(root.rstrip("/")) + 1 :]}
    if recorded is not None and recorded["bytes"] == fs.size(p):
        entry.update(bytes=recorded["bytes"], sha256=recorded["sha256"], documents=recorded["documents"])
        return entry
    size, sha256 = file_digest(path)
    entry.update(bytes=size, sha256=sha256)
    if p.endswith(".parquet"):
        with fs.open(p, "rb") as f:
            entry["documents"] = pq.ParquetFile(f).metadata.num_rows
    return entry


def describe_stage_files(output: str, stage: Stage) -> list[dict[str, Any]]:
    recorded = recorded_digests(stage.folder)
    _, root = split_url(stage.folder)
    return [
        describe_file(output, f, recorded.get(split_url(f)[1][len(root.rstrip("/")) + 1 :]))
        for f in stage_files(stage)
    ]


def stage_files(stage: Stage) -> list[str]:
    fs, root = split_url(stage.folder)
    protocol = stage.folder.split("://", 1)[0] + "://" if "://" in stage.folder else ""
    found = fs.glob(f"{root}/data/**") + fs.glob(f"{root}/drops/**")
    return sorted(protocol + p for p in found if fs.isfile(p) and not p.rsplit("/", 1)[-1].startswith("."))


def write_manifest(recipe: Recipe, stages: list[Stage], results: list[StageResult], wall: float) -> dict:
    manifest: dict[str, Any] = {
        "recipe": recipe.model_dump(mode="json"),
        "versions": package_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(wall, 3),
        "stages": [],
        "files": [],
    }
    for stage, result in zip(stages, results, strict=True):
        files = describe_stage_files(recipe.output, stage)
        manifest["files"].extend(files)
        manifest["stages"].append(
            {
                "stage": stage.label,
                "tasks": stage.tasks,
                "documents_in": result.stats.documents_in,
                "documents_out": result.stats.documents_out,
                "dropped": result.stats.dropped,
                "bytes_in": result.stats.bytes_in,
                "bytes_out": result.stats.bytes_out,
                "tokens": result.stats.tokens,
                "seconds_this_run": round(result.seconds, 3),
                **(
                    {"cpu_seconds_this_run": round(result.cpu_seconds, 3)}
                    if result.cpu_seconds is not None
                    else {}
                ),
            }
        )
        if stage.manifest is not None:
            manifest.update(stage.manifest(stage))
    atomic_write_text(f"{recipe.output.rstrip('/')}/manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def merge_manifest(output: str, part: dict) -> dict:
    """Merge `part` into `OUTPUT/manifest.json` (top-level keys replaced), written atomically."""
    path = f"{output.rstrip('/')}/manifest.json"
    fs, p = split_url(path)
    current = json.loads(fs.cat_file(p)) if fs.exists(p) else {}
    current.update(part)
    atomic_write_text(path, json.dumps(current, indent=2, sort_keys=True) + "\n")
    return current


def merge_stage_manifests(stages: list[Stage]) -> dict:
    """Merge the manifest entries of `stages` into OUTPUT/manifest.json, for runs outside `build`."""
    manifest: dict = {}
    for stage in stages:
        if stage.manifest is not None:
            manifest = merge_manifest(stage.output, stage.manifest(stage))
    return manifest
