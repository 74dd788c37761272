"""Explicit repository lists kept in files, for lists too long to write into a recipe.

A list file (local path or fsspec URL; `.gz`/`.zst` compressed too) has one repository a line:

- `owner/name`: fetched from GitHub by the recipe's fetch method (shallow clone or tarball);
- a git URL (`https://host/owner/name.git`, `file:///srv/git/name.git`): cloned; the name is
  taken from the URL's last two path parts;
- a JSON object with the keys of a recipe's `repos` entries (`name` plus at most one of
  `archive`, `path`, `url`, and optionally `commit`, `stars`, `created_at`, `license`), which is
  also what `coderforge github search` writes, so its output can be used as a list as it is (and
  what the GH Archive list writes: `github_id`, `fork`, `parent`, `parent_id`, `former_names`).

Blank lines and lines starting with `#` are skipped. Lists are read when the build is planned, so a
mistake stops the build before anything runs, with the file and line in the message.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from corpus.core.atomic import split_url
from corpus.core.errors import UserError

_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_LOCATIONS = ("archive", "path", "url")
#: the keys of a recipe's repos entry plus those `coderforge github search` writes
_KEYS = {
    "name",
    "archive",
    "path",
    "url",
    "commit",
    "stars",
    "created_at",
    "license",
    "default_branch",
    "pushed_at",
    "size_kb",
    "github_language",
    "github_id",
    "fork",
    "parent",
    "parent_id",
    "former_names",
}


def github_location(name: str, method: str, api_url: str, ref: str = "HEAD") -> dict[str, str]:
    if method == "tarball":
        return {"archive": f"{api_url.rstrip('/')}/repos/{name}/tarball/{urllib.parse.quote(ref)}"}
    return {"url": f"https://github.com/{name}.git"}


def _name_from_url(url: str) -> str | None:
    path = urllib.parse.urlsplit(url).path if "://" in url else url.split(":", 1)[-1]
    parts = [p for p in path.rstrip("/").split("/") if p]
    if len(parts) < 2:
        return None
    name = f"{parts[-2]}/{parts[-1].removesuffix('.git')}"
    return name if _NAME.match(name) else None


def parse_line(line: str, where: str, method: str, api_url: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError as e:
            raise UserError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise UserError(f"{where}: expected a JSON object")
        unknown = sorted(set(record) - _KEYS)
        if unknown:
            raise UserError(f"{where}: unknown key {unknown[0]!r}")
        name = record.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise UserError(f"{where}: name must look like owner/name (got {name!r})")
        given = [k for k in _LOCATIONS if record.get(k)]
        if len(given) > 1:
            raise UserError(f"{where}: give at most one of archive, path or url (got {', '.join(given)})")
        if not given:
            ref = record.get("commit") or record.get("default_branch") or "HEAD"
            record.update(github_location(name, method, api_url, ref))
        return record
    if "://" in text or text.startswith("git@"):
        name = _name_from_url(text)
        if name is None:
            raise UserError(f"{where}: cannot tell owner/name from the URL {text!r}")
        return {"name": name, "url": text}
    if not _NAME.match(text):
        raise UserError(f"{where}: expected owner/name, a git URL or a JSON object (got {text[:80]!r})")
    return {"name": text, **github_location(text, method, api_url)}


def load_repo_lists(paths: list[str], method: str, api_url: str) -> list[dict[str, Any]]:
    """Every repository of the list files, in file and line order, each name once."""
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in paths:
        fs, p = split_url(path)
        if not fs.exists(p):
            raise UserError(f"{path}: repository list not found")
        with fs.open(p, "rb", compression="infer") as fh:
            for i, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise UserError(f"{path}:{i}: not UTF-8 text") from None
                record = parse_line(line, f"{path}:{i}", method, api_url)
                if record is not None and record["name"] not in seen:
                    seen.add(record["name"])
                    records.append(record)
    return records
