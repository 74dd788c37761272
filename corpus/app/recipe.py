"""The recipe: one YAML file that describes a whole corpus build.

The schema is strict (unknown keys are errors) so that a typo never silently falls back to a
default. Relative input paths resolve against the recipe's own folder, so a recipe can be run from
anywhere; the output path resolves against the working directory (where the user expects results).
Every path may also be an fsspec URL (s3://, gs://, https://, ...).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from classifiers.decontam.config import DecontamConfig
from classifiers.langid.config import LangidConfig
from classifiers.recall.config import RecallSection
from corpus.commoncrawl.config import CommonCrawlSource
from corpus.core.errors import UserError
from corpus.core.strict import StrictModel, load_yaml_mapping, set_dotted, validate
from corpus.github.config import GithubSource
from corpus.mix.config import MixSettings, ShardSettings, TokenizerSettings
from corpus.text.config import TextSource
from dedup.config import DedupConfig


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


R = TypeVar("R", bound=Recipe)


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


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None, schema: type[R] = Recipe) -> R:
    """Read, validate and resolve a recipe. Raises UserError with a one-line message.

    `schema` is a `Recipe` subclass when a project adds sections of its own (a new stage's config).
    """
    path = Path(path)
    source = str(path)
    raw = load_yaml_mapping(path, "recipe")
    for dotted, value in (overrides or {}).items():
        if value is not None:
            set_dotted(raw, dotted, value, source)
    recipe = validate(schema, raw, source)
    _resolve_inputs(recipe, path.parent.resolve(), source)
    if not is_url(recipe.output):
        recipe.output = str(Path(recipe.output).resolve())
    check_output_writable(recipe.output)
    return recipe
