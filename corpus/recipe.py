"""The recipe: one YAML file that describes a whole corpus build.

The schema is strict (unknown keys are errors) so that a typo never silently falls back to a
default. Relative input paths resolve against the recipe's own folder, so a recipe can be run from
anywhere; the output path resolves against the working directory (where the user expects results).
Every path may also be an fsspec URL (s3://, gs://, https://, ...).
"""

from __future__ import annotations

import glob
import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from classifiers.decontam.benchmarks import DecontamConfig
from classifiers.langid.stages import LangidConfig
from classifiers.recall.stages import RecallSection
from corpus.errors import UserError
from corpus.github.config import GithubCuration
from corpus.mix.config import MixSettings, ShardSettings, TokenizerSettings
from dedup.config import DedupConfig


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def is_url(path: str) -> bool:
    return "://" in path


class ExecutorConfig(StrictModel):
    """Where stages run. `tasks` fixes how inputs are split, so it also fixes the output bytes;
    `workers` only changes how many tasks run at once and never changes results."""

    kind: Literal["local", "ray"] = "local"
    tasks: int = Field(4, ge=1, description="datatrove tasks per stage (input shards)")
    workers: int = Field(-1, description="tasks running at once; -1 = min(tasks, CPU cores)")
    ray_address: str | None = Field(None, description="Ray address (host:port, ray://..., auto)")
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2.0, gt=0)

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("must be a positive number of workers, or -1 for one per CPU core")
        return v


class GithubRepo(StrictModel):
    """One repository: give exactly one of `archive` (a GitHub-style .tar.gz), `path` (a local
    checkout or plain folder) or `url` (a git clone URL)."""

    name: str = Field(description="owner/name")
    archive: str | None = None
    path: str | None = None
    url: str | None = None
    commit: str | None = None
    stars: int = Field(0, ge=0)
    created_at: date | None = None
    license: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        parts = v.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"must look like owner/name (got {v!r})")
        return v

    @model_validator(mode="after")
    def _one_location(self) -> GithubRepo:
        given = [k for k in ("archive", "path", "url") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                f"repository {self.name}: give exactly one of archive, path or url (got {given or 'none'})"
            )
        return self


class GithubSource(StrictModel):
    repos: list[GithubRepo] = Field(default_factory=list)
    max_file_bytes: int = Field(1_000_000, ge=1, description="files larger than this are skipped")
    group: str = Field("code", description="mix group of source code files")
    text_group: str = Field("code", description="mix group of code-related text (docs, READMEs)")
    curation: GithubCuration = Field(default_factory=GithubCuration)


class CommonCrawlSource(StrictModel):
    warc: list[str] = Field(min_length=1, description="WARC/WET files, globs or URLs")
    group: str = Field("web", description="mix group (split into code/math by the recall stages)")


class TextSource(StrictModel):
    paths: list[str] = Field(min_length=1, description="JSONL (.gz/.zst) or Parquet files, or globs")
    format: Literal["auto", "jsonl", "parquet"] = "auto"
    text_key: str = "text"
    id_key: str | None = "id"
    group: str = "text"


class Sources(StrictModel):
    github: GithubSource | None = None
    commoncrawl: CommonCrawlSource | None = None
    text: TextSource | None = None

    def enabled(self) -> list[str]:
        return [name for name in ("github", "commoncrawl", "text") if getattr(self, name) is not None]


class Recipe(StrictModel):
    name: str
    description: str = ""
    seed: int = 0
    output: str = "demo-output"
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    sources: Sources
    langid: LangidConfig | None = Field(
        None, description="language tagging and filtering (default: GitHub, all 338)"
    )
    recall: RecallSection | None = Field(None, description="the iterative fastText recall loops")
    dedup: DedupConfig | None = Field(None, description="exact and MinHash near-deduplication")
    decontam: DecontamConfig | None = Field(None, description="benchmark decontamination of every source")
    mix: MixSettings | None = Field(
        None, description="the token mix (shares, budget, FIM); None = stop at documents"
    )
    tokenizer: TokenizerSettings = Field(default_factory=TokenizerSettings)
    shards: ShardSettings = Field(default_factory=ShardSettings)

    @model_validator(mode="after")
    def _some_source(self) -> Recipe:
        if not self.sources.enabled():
            raise ValueError("sources: give at least one of github, commoncrawl, text")
        return self


def _format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        what = "unknown key"
    elif kind == "missing":
        what = "required key is missing"
    else:
        what = first["msg"]
        if "input" in first and kind not in ("value_error", "assertion_error"):
            what += f" (got {first['input']!r})"
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{source}: {loc}: {what}{more}"


def _resolve(base: Path, path: str) -> str:
    if is_url(path) or os.path.isabs(path):
        return path
    return str((base / path).resolve())


def _expand_local(key: str, source: str, pattern: str) -> list[str]:
    """Expand a glob or check a single local file exists; URLs are checked when read."""
    if is_url(pattern):
        return [pattern]
    if any(c in pattern for c in "*?["):
        hits = sorted(glob.glob(pattern, recursive=True))
        if not hits:
            raise UserError(f"{source}: {key}: no file matches {pattern}")
        return hits
    if not os.path.exists(pattern):
        raise UserError(f"{source}: {key}: input not found: {pattern}")
    return [pattern]


def _resolve_inputs(recipe: Recipe, base: Path, source: str) -> None:
    gh = recipe.sources.github
    if gh:
        for i, repo in enumerate(gh.repos):
            for key in ("archive", "path"):
                value = getattr(repo, key)
                if value:
                    resolved = _resolve(base, value)
                    _expand_local(f"sources.github.repos.{i}.{key}", source, resolved)
                    setattr(repo, key, resolved)
        lists: list[str] = []
        for i, p in enumerate(gh.curation.lists):
            lists += _expand_local(f"sources.github.curation.lists.{i}", source, _resolve(base, p))
        gh.curation.lists = lists
    cc = recipe.sources.commoncrawl
    if cc:
        files: list[str] = []
        for i, p in enumerate(cc.warc):
            files += _expand_local(f"sources.commoncrawl.warc.{i}", source, _resolve(base, p))
        cc.warc = files
    tx = recipe.sources.text
    if tx:
        files = []
        for i, p in enumerate(tx.paths):
            files += _expand_local(f"sources.text.paths.{i}", source, _resolve(base, p))
        tx.paths = files
    if recipe.langid and recipe.langid.model:
        recipe.langid.model = _resolve(base, recipe.langid.model)
        _expand_local("langid.model", source, recipe.langid.model)
    if recipe.recall:
        for src in ("commoncrawl", "github"):
            loop = getattr(recipe.recall, src)
            if loop is None:
                continue
            if loop.tokenizer:
                key = f"recall.{src}.tokenizer"
                loop.tokenizer = _resolve(base, loop.tokenizer)
                _expand_local(key, source, loop.tokenizer)
            for t, target in enumerate(loop.targets):
                for field in ("positives", "negatives"):
                    files: list[str] = []
                    for i, p in enumerate(getattr(target, field)):
                        key = f"recall.{src}.targets.{t}.{field}.{i}"
                        files += _expand_local(key, source, _resolve(base, p))
                    setattr(target, field, files)
    if recipe.decontam:
        for k, bench in enumerate(recipe.decontam.sets):
            files = []
            for i, p in enumerate(bench.paths):
                files += _expand_local(f"decontam.sets.{k}.paths.{i}", source, _resolve(base, p))
            bench.paths = files
    if recipe.tokenizer.path:
        resolved = _resolve(base, recipe.tokenizer.path)
        _expand_local("tokenizer.path", source, resolved)
        recipe.tokenizer.path = resolved


def check_output_writable(output: str) -> None:
    """Refuse an output we could not write, before anything is written anywhere."""
    if is_url(output):
        return
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise UserError(f"output: {output} exists and is not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"output: {output} cannot be written ({probe} is not a writable folder)")


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read, validate and resolve a recipe. Raises UserError with a one-line message."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise UserError(f"{source}: recipe not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{source}:{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    except UnicodeDecodeError:
        raise UserError(f"{source}: not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise UserError(f"{source}: a recipe must be a YAML mapping at the top level")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as e:
        raise UserError(_format_validation_error(source, e)) from None
    _resolve_inputs(recipe, path.parent.resolve(), source)
    if not is_url(recipe.output):
        recipe.output = str(Path(recipe.output).resolve())
    check_output_writable(recipe.output)
    return recipe
