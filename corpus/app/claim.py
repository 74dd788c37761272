"""Who may write into an output folder, and whether what is there still matches the inputs.

A build writes only into an empty folder, a new one, or one that an earlier build of the same
recipe made (its marker `.coderforge/build.json`): a user's folder is never adopted. One build
writes an output at a time (`.coderforge/lock`, holding the pid and host; a lock whose process is
gone on this host is stale and taken over). The marker records the recipe's fingerprint and every
local input's identity, so a re-run over edited inputs does not report "done before" over an
output built from the old ones: it stops and lists the changed files, and `--rebuild` starts over.

An input's identity is its size and modification time, backed by a sampled content hash (the
first, middle and last MiB with the size): a moved or re-checked-out file whose bytes are the same
is not a change, and checking costs at most 3 MiB of reading per file, whatever its size. The price
is that an edit that keeps size and modification time and falls outside the sampled parts goes
unnoticed; a folder input (a repository checkout) is identified by the names, sizes and
modification times of its files, not their content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from corpus.app.recipe import Recipe, is_url
from corpus.core.atomic import atomic_write_text, split_url
from corpus.core.errors import BuildError, UserError

MARKER = ".coderforge/build.json"
LOCK = ".coderforge/lock"
SAMPLE_BYTES = 1 << 20


def recipe_inputs(recipe: Recipe) -> list[str]:
    """Every local file or folder the recipe reads (URLs are not fingerprinted)."""
    paths: list[str] = []
    gh = recipe.sources.github
    if gh:
        paths += [p for r in gh.repos for p in (r.archive, r.path) if p]
        paths += gh.curation.lists
    if recipe.sources.commoncrawl:
        paths += recipe.sources.commoncrawl.warc
    if recipe.sources.text:
        paths += recipe.sources.text.paths
    if recipe.langid and recipe.langid.model:
        paths.append(recipe.langid.model)
    if recipe.recall:
        for loop in (recipe.recall.commoncrawl, recipe.recall.github):
            if loop is None:
                continue
            paths += [loop.tokenizer] if loop.tokenizer else []
            paths += [p for t in loop.targets for p in (*t.positives, *t.negatives)]
    if recipe.decontam:
        paths += [p for bench in recipe.decontam.sets for p in bench.paths]
    if recipe.tokenizer.path:
        paths.append(recipe.tokenizer.path)
    return sorted({p for p in paths if not is_url(p)})


def _sample_hash(path: str, size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        for start in sorted({0, max(0, size // 2 - SAMPLE_BYTES // 2), max(0, size - SAMPLE_BYTES)}):
            f.seek(start)
            h.update(f.read(SAMPLE_BYTES))
    return h.hexdigest()


def _folder_digest(root: str) -> str:
    h = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                h.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def identity(path: str, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """The identity of one input; `known` (the recorded one) spares the content hash when size
    and modification time are unchanged."""
    if os.path.isdir(path):
        return {"folder": _folder_digest(path)}
    st = os.stat(path)
    quick = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if known and all(known.get(k) == v for k, v in quick.items()) and "sample" in known:
        return {**quick, "sample": known["sample"]}
    return {**quick, "sample": _sample_hash(path, st.st_size)}


def _changed(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    if "folder" in old or "folder" in new:
        return None if old.get("folder") == new.get("folder") else "files added, removed or modified"
    if old.get("size") != new.get("size"):
        return f"size {old.get('size')} -> {new.get('size')}"
    if old.get("sample") != new.get("sample"):
        return "content"
    return None


def recipe_fingerprint(recipe: Recipe, run_only: dict[str, set[str]]) -> str:
    """Hash of everything in the recipe that decides the output bytes."""
    data = recipe.model_dump(mode="json", exclude={"output", "description"})
    for section, keys in run_only.items():
        for key in keys:
            (data.get(section) or {}).pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _read_json(fs: Any, path: str) -> dict[str, Any]:
    with fs.open(path, "r") as f:
        return json.load(f)


def has_completed_work(output: str) -> bool:
    """Whether any task of any stage finished here (a failed first attempt leaves none)."""
    fs, root = split_url(output)
    return bool(fs.glob(f"{root}/*/*/completions/*"))


def refuse_foreign(output: str) -> None:
    """A folder with content and no build marker is the user's: never written into."""
    fs, root = split_url(output)
    _, marker = split_url(f"{output.rstrip('/')}/{MARKER}")
    if fs.exists(marker) or not fs.exists(root):
        return
    if [p for p in fs.ls(root, detail=False) if not p.rstrip("/").endswith("/.coderforge")]:
        raise UserError(
            f"output: {output} is not empty and no coderforge build made it; choose a new or empty folder"
        )


def claim_output(recipe: Recipe, fingerprint: str, rebuild: bool) -> None:
    """Refuse what is not ours or no longer matches; record the recipe and its inputs."""
    fs, root = split_url(recipe.output)
    marker = f"{recipe.output.rstrip('/')}/{MARKER}"
    _, marker_path = split_url(marker)
    inputs = recipe_inputs(recipe)
    if fs.exists(marker_path):
        previous = _read_json(fs, marker_path)
        if previous.get("fingerprint") != fingerprint and has_completed_work(recipe.output) and not rebuild:
            raise UserError(
                f"output: {recipe.output} holds a build of a different recipe "
                f"({previous.get('recipe', '?')}); choose another output, or re-run with --rebuild to replace it"
            )
        recorded = previous.get("inputs", {})
        current = {p: identity(p, recorded.get(p)) for p in inputs}
        changed = [
            f"{p} ({why})" for p in inputs if p in recorded and (why := _changed(recorded[p], current[p]))
        ]
        if changed and not rebuild:
            listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise UserError(
                f"output: {recipe.output} was built from other versions of its inputs: {listed}; "
                "re-run with --rebuild to build it again, or choose another output"
            )
        if rebuild and (changed or previous.get("fingerprint") != fingerprint):
            clear_build(recipe.output)
    else:
        refuse_foreign(recipe.output)
        fs.makedirs(root, exist_ok=True)
        current = {p: identity(p) for p in inputs}
    record = {"recipe": recipe.name, "fingerprint": fingerprint, "inputs": current}
    atomic_write_text(marker, json.dumps(record, indent=2, sort_keys=True))


#: what `--rebuild` keeps: the build's own records, and fetched repositories (a cache, not output)
KEEP_ON_REBUILD = (".coderforge", "cache")


def clear_build(output: str) -> None:
    """`--rebuild`: remove every stage folder and the manifest, whichever recipe wrote them."""
    fs, root = split_url(output)
    for top in fs.ls(root, detail=False):
        name = top.rstrip("/").rsplit("/", 1)[-1]
        if name in KEEP_ON_REBUILD:
            continue
        if not fs.isdir(top):
            fs.rm(top)
            continue
        for stage in fs.ls(top, detail=False):
            if stage.rstrip("/").rsplit("/", 1)[-1] not in KEEP_ON_REBUILD:
                fs.rm(stage, recursive=True)
        if fs.exists(top) and not fs.ls(top, detail=False):
            fs.rm(top, recursive=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def output_lock(output: str) -> Iterator[None]:
    """One build per output at a time. Local folders get an exclusive create; on an object store
    the check and the write are two requests, so two builds started within the same second can
    both get in (use one output per build there)."""
    fs, root = split_url(output)
    lock = f"{output.rstrip('/')}/{LOCK}"
    _, lock_path = split_url(lock)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for _ in range(2):
        if fs.exists(lock_path):
            holder = _read_json(fs, lock_path)
            if holder.get("host") == me["host"] and not _alive(int(holder.get("pid", 0))):
                fs.rm(lock_path)  # stale: its process is gone
                continue
            raise BuildError(
                f"output: {output} is being built by pid {holder.get('pid')} on {holder.get('host')} "
                f"since {holder.get('since')}; if that build is gone, delete {lock}"
            )
        fs.makedirs(f"{root}/.coderforge", exist_ok=True)
        if "://" in output:
            atomic_write_text(lock, json.dumps(me))
            break
        try:
            fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise BuildError(f"output: {output}: could not take the build lock {lock}")
    try:
        yield
    finally:
        with contextlib.suppress(OSError, FileNotFoundError):
            if _read_json(fs, lock_path).get("pid") == me["pid"]:
                fs.rm(lock_path)
