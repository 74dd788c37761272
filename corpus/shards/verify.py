"""Check a shard folder before a training run spends GPU hours on it.

The build's `manifest.json` is the reference: it lists every shard file (`.bin`, `.idx`, Parquet
twin) with its size and sha256, so a file that changed after the build (one flipped byte), went
missing, or was left behind by another run is named, and a folder without that manifest (a build
killed before it finished) is refused rather than passed. On top of that every `.idx` must parse,
agree with its `.bin` size, and describe one sequence per document; every sequence must end with
EOS and hold only ids below the vocabulary; the Parquet twin, when present, must have one row per
sequence with the same token count; and the manifest's blend must name exactly the shards on disk.
With megatron-core installed, each shard is also opened with its own `IndexedDataset`, which is
what the trainer will do.

`quick` skips everything that reads the `.bin` bytes (the checksums, EOS and vocabulary scans):
sizes, index structure and twins only, for a folder too large to hash before every run. A byte
changed in place without changing the size therefore passes a quick check.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from corpus.core.atomic import split_url
from corpus.core.digest import file_digest
from corpus.core.errors import UserError
from corpus.shards.inspect import locate_shards, shard_prefixes
from corpus.shards.megatron import MegatronShardReader

#: the files one shard may have, in the order the manifest lists them
SHARD_EXTENSIONS = (".bin", ".idx", ".parquet")
#: the manifest sections the mix and shard stages write; without them there is nothing to check against
MANIFEST_SECTIONS = ("mix", "shards", "megatron")
SHARDS_SUBFOLDER = "mix/shards"


def shard_digests(prefix: str) -> list[dict[str, Any]]:
    """Extension, bytes and sha256 of each file of the shard at `prefix` (a full path or URL).

    The twin is listed only when it was written (the recipe can turn it off), so the manifest says
    exactly which files make up the shard. The shard writer records these as it finishes a shard.
    """
    fs, _ = split_url(prefix)
    entries = []
    for ext in SHARD_EXTENSIONS:
        path = f"{prefix}{ext}"
        if ext == ".parquet" and not fs.exists(split_url(path)[1]):
            continue
        size, sha = file_digest(path)
        entries.append({"ext": ext, "bytes": size, "sha256": sha})
    return entries


def shard_files(
    output: str, prefix: str, recorded: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The manifest entries of one shard's files: path relative to `output`, bytes and sha256.

    `prefix` is relative to `output`; `recorded` is what `shard_digests` gave the writer, else the
    files are hashed here.
    """
    digests = recorded if recorded is not None else shard_digests(f"{output.rstrip('/')}/{prefix}")
    return [{"path": prefix + d["ext"], "bytes": d["bytes"], "sha256": d["sha256"]} for d in digests]


def output_of(folder: str) -> str:
    """The build output a shard folder belongs to (its manifest.json sits there)."""
    if folder.rstrip("/").endswith("/" + SHARDS_SUBFOLDER):
        return folder.rstrip("/")[: -len(SHARDS_SUBFOLDER) - 1]
    raise UserError(
        f"{folder}: not the {SHARDS_SUBFOLDER} folder of a build output, so there is no manifest.json "
        "to verify it against; pass the build output"
    )


def read_manifest(output: str) -> dict[str, Any]:
    """OUTPUT/manifest.json with the shard checksums, or a one-line refusal saying what is missing."""
    path = f"{output}/manifest.json"
    fs, p = split_url(path)
    if not fs.exists(p):
        raise UserError(
            f"{path}: not found; the build did not finish (manifest.json is written last), "
            "so its shards cannot be trusted: run the build again"
        )
    try:
        manifest = json.loads(fs.cat_file(p))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from e
    missing = [k for k in MANIFEST_SECTIONS if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise UserError(
            f"{path}: no {', '.join(repr(k) for k in missing)} section; the mix stages did not finish"
        )
    entries = manifest["shards"]
    if not isinstance(entries, list) or any(
        not isinstance(s, dict)
        or not isinstance(s.get("files"), list)
        or not all(isinstance(f, dict) and {"path", "bytes", "sha256"} <= f.keys() for f in s["files"])
        for s in entries
    ):
        raise UserError(
            f"{path}: the shard entries have no checksums (an older coderforge wrote it); "
            "run the build again to rewrite the manifest"
        )
    return manifest


def _relative(path: str, output: str) -> str:
    """`path` relative to `output`; either may carry a protocol (fsspec globs drop it)."""
    root = output.split("://", 1)[-1].rstrip("/") + "/"
    path = path.split("://", 1)[-1]
    return path[len(root) :] if path.startswith(root) else path


def files_on_disk(folder: str, output: str) -> set[str]:
    """Shard files under `folder` (paths relative to `output`), leaving out half-written temp files."""
    fs, root = split_url(folder)
    return {
        _relative(p, output)
        for p in fs.glob(f"{root}/*/*")
        if p.endswith(SHARD_EXTENSIONS) and not p.rsplit("/", 1)[-1].startswith(".")
    }


def check_files(output: str, manifest: dict[str, Any], on_disk: set[str], quick: bool) -> list[str]:
    """Problems with the shard files against the manifest: missing, extra, other size or sha256."""
    listed = {f["path"]: f for s in manifest["shards"] for f in s["files"]}
    problems = [f"{rel}: missing (manifest.json lists it)" for rel in sorted(listed.keys() - on_disk)]
    problems += [
        f"{rel}: not in manifest.json (left by another run?)" for rel in sorted(on_disk - listed.keys())
    ]
    fs, _ = split_url(output)
    for rel in sorted(listed.keys() & on_disk):
        want = listed[rel]
        path = f"{output}/{rel}"
        if quick:
            size = fs.size(split_url(path)[1])
            if size != want["bytes"]:
                problems.append(f"{rel}: {size} bytes, manifest.json says {want['bytes']}")
            continue
        size, sha = file_digest(path)
        if size != want["bytes"]:
            problems.append(f"{rel}: {size} bytes, manifest.json says {want['bytes']}")
        elif sha != want["sha256"]:
            problems.append(f"{rel}: sha256 differs from manifest.json (the bytes changed after the build)")
    return problems


def verify_shards(path: str, use_megatron: bool = True, quick: bool = False) -> dict[str, Any]:
    """Problems found (empty list when the folder is sound) and what was checked.

    Raises UserError when there is nothing to check against: no shards, or no complete manifest.
    """
    if "://" not in path:
        # absolute, so the shard paths found on disk and the manifest's relative ones line up
        path = os.path.abspath(path)
    folder, _ = locate_shards(path)
    output = output_of(folder)
    manifest = read_manifest(output)
    prefixes = shard_prefixes(folder)
    mg = manifest["megatron"]
    eos, vocab = mg.get("eos_id"), mg.get("vocab_size")
    indexed = None
    if use_megatron:
        try:
            with warnings.catch_warnings():  # megatron-core warns about absent TransformerEngine/apex
                warnings.simplefilter("ignore")
                # imported here: megatron-core is an optional heavy dependency (the train extra)
                from megatron.core.datasets import indexed_dataset as indexed
        except ImportError:
            indexed = None
    problems = check_files(output, manifest, files_on_disk(folder, output), quick)
    sequences = tokens = 0
    for prefix in prefixes:
        name = _relative(prefix, output)
        try:
            r = MegatronShardReader(prefix)
        except (ValueError, OSError) as e:
            problems.append(f"{name}.idx: {e}")
            continue
        itemsize = np.dtype(r.dtype).itemsize
        expected = int(r.lengths.sum(dtype=np.int64)) * itemsize
        fs, bin_path = split_url(prefix + ".bin")
        if not fs.exists(bin_path):
            continue  # reported above as missing from the disk or from the manifest
        actual = fs.size(bin_path)
        if actual != expected:
            problems.append(f"{name}.bin: {actual} bytes, the index describes {expected}")
            continue
        if not np.array_equal(r.document_indices, np.arange(len(r) + 1)):
            problems.append(f"{name}.idx: not one sequence per document")
        if len(r) and not quick:
            data = r._data()
            ends = (r.pointers // itemsize + r.lengths - 1).astype(np.int64)
            if eos is not None and not (data[ends] == eos).all():
                problems.append(
                    f"{name}.bin: {int((data[ends] != eos).sum())} sequences do not end with EOS {eos}"
                )
            if vocab is not None and int(data.max()) >= vocab:
                problems.append(f"{name}.bin: id {int(data.max())} is not below the vocabulary size {vocab}")
        fs, twin_path = split_url(prefix + ".parquet")
        if fs.exists(twin_path):
            with fs.open(twin_path, "rb") as f:
                twin = pq.read_table(f, columns=["tokens"]).column("tokens").to_numpy()
            if twin.size != len(r) or not np.array_equal(twin, r.lengths):
                problems.append(f"{name}.parquet: rows or token counts differ from the index")
        if indexed is not None:
            try:
                ds = indexed.IndexedDataset(prefix)
                if len(ds) != len(r):
                    problems.append(f"{name}: megatron-core reads {len(ds)} sequences, expected {len(r)}")
            except Exception as e:  # whatever megatron-core objects to is a problem to report
                problems.append(f"{name}: megatron-core cannot open it ({type(e).__name__}: {e})")
        sequences += len(r)
        tokens += r.tokens
    if mg.get("data_path"):
        named = {os.path.normpath(p) for p in mg["data_path"][1::2]}
        present = {os.path.normpath(_relative(p, output)) for p in prefixes}
        if named != present:
            problems.append(
                f"manifest.json: megatron.data_path names {len(named - present)} missing shards and "
                f"leaves out {len(present - named)} on disk"
            )
    return {
        "folder": folder,
        "shards": len(prefixes),
        "sequences": sequences,
        "tokens": tokens,
        "megatron_checked": indexed is not None,
        "quick": quick,
        "problems": problems,
    }
