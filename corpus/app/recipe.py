"""The recipe: one YAML file that describes a whole corpus build.

The schema is strict (unknown keys are errors) so that a typo never silently falls back to a
default. Relative input paths resolve against the recipe's own folder, so a recipe can be run from
anywhere; the output path resolves against the working directory (where the user expects results).
A leading `~` is the user's home folder, as in a shell. Every path may also be an fsspec URL (s3://, gs://, https://, ...).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import fsspec
from pydantic import Field, field_validator, model_validator

from classifiers.decontam.config import DecontamConfig
from classifiers.langid.config import LangidConfig
from classifiers.recall.config import RecallSection
from classifiers.secrets.config import SecretsConfig
from corpus.commoncrawl.config import CommonCrawlSource
from corpus.core.errors import UserError
from corpus.core.strict import StrictModel, load_yaml_mapping, set_dotted, validate
from corpus.github.config import GithubSource
from corpus.mix.config import MixSettings, ShardSettings, TokenizerSettings
from corpus.text.config import TextSource
from dedup.config import DedupConfig

#: more tasks per stage than any cluster runs at once; a typo beyond it would stall planning
MAX_TASKS = 100_000


def is_url(path: str) -> bool:
    return "://" in path


class ExecutorConfig(StrictModel):
    """Where stages run. `tasks` fixes how inputs are split, so it also fixes the output bytes;
    `workers` only changes how many tasks run at once and never changes results."""

    kind: Literal["local", "ray"] = "local"
    tasks: int = Field(4, ge=1, le=MAX_TASKS, description="datatrove tasks per stage (input shards)")
    workers: int = Field(-1, description="tasks running at once; -1 = min(tasks, CPU cores)")
    ray_address: str | None = Field(None, description="Ray address (host:port, ray://..., auto)")
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2.0, gt=0)
    fuse: bool = Field(
        False,
        description=(
            "run each chain of a source's document stages (same tasks, each reading the last one's output) "
            "as one task per rank: documents pass between them in memory; every stage still writes its "
            "documents, drops and stats"
        ),
    )

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
    seed: int = Field(0, ge=0, strict=True, description="every seeded choice derives from it")
    output: str = Field("demo-output", min_length=1, description="a folder or fsspec URL")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    sources: Sources
    langid: LangidConfig | None = Field(
        None, description="language tagging and filtering (default: GitHub, all 338)"
    )
    recall: RecallSection | None = Field(None, description="the iterative fastText recall loops")
    secrets: SecretsConfig = Field(
        default_factory=SecretsConfig, description="credentials and personal data redacted (on by default)"
    )
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
    if path.startswith("~"):  # ~/ and ~user/ as a shell would, so a recipe can name a cache
        path = os.path.expanduser(path)
    if is_url(path) or os.path.isabs(path):
        return path
    return str((base / path).resolve())


def _expand_local(key: str, source: str, pattern: str, want: Literal["file", "folder"] = "file") -> list[str]:
    """Expand a glob or check a single local file (or folder) exists; URLs are checked when read.
    A folder where files are read (or the reverse) is an error here, not zero documents later."""
    if is_url(pattern):
        return [pattern]
    if any(c in pattern for c in "*?["):
        hits = sorted(glob.glob(pattern, recursive=True))
        if not hits:
            raise UserError(f"{source}: {key}: no file matches {pattern}")
        files = [h for h in hits if os.path.isfile(h)] if want == "file" else hits
        if not files:
            raise UserError(f"{source}: {key}: {pattern} matches only folders; give files or a glob of files")
        return files
    if not os.path.exists(pattern):
        raise UserError(f"{source}: {key}: input not found: {pattern}")
    if want == "file" and os.path.isdir(pattern):
        raise UserError(
            f"{source}: {key}: {pattern} is a folder; give files or a glob such as {pattern}/*.jsonl"
        )
    if want == "folder" and not os.path.isdir(pattern):
        raise UserError(f"{source}: {key}: {pattern} is not a folder")
    return [pattern]


def _resolve_inputs(recipe: Recipe, base: Path, source: str) -> None:
    gh = recipe.sources.github
    if gh:
        for i, repo in enumerate(gh.repos):
            for key in ("archive", "path"):
                value = getattr(repo, key)
                if value:
                    resolved = _resolve(base, value)
                    _expand_local(
                        f"sources.github.repos.{i}.{key}",
                        source,
                        resolved,
                        "folder" if key == "path" else "file",
                    )
                    setattr(repo, key, resolved)
        lists: list[str] = []
        for i, p in enumerate(gh.curation.lists):
            lists += _expand_local(f"sources.github.curation.lists.{i}", source, _resolve(base, p))
        gh.curation.lists = lists
        gha = gh.curation.gharchive
        if gha is not None:  # a local folder of hour files, a local archive template
            gha.hours = _resolve(base, gha.hours)
            if not is_url(gha.hours):
                _expand_local("sources.github.curation.gharchive.hours", source, gha.hours, "folder")
            if gha.archives:
                gha.archives = _resolve(base, gha.archives)
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


#: kernel and device file systems: writable to root, never a place for a corpus
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


def source_groups(recipe: Recipe) -> set[str]:
    """The `group` values the recipe's sources can give documents (recall relabels by target)."""
    groups: set[str] = set()
    gh, cc, tx = recipe.sources.github, recipe.sources.commoncrawl, recipe.sources.text
    recall = recipe.recall
    if gh:
        groups |= {gh.group, gh.text_group}
        if recall and recall.github:
            groups |= {t.name for t in recall.github.targets}
    if cc:
        groups |= (
            {t.name for t in recall.commoncrawl.targets} if recall and recall.commoncrawl else {cc.group}
        )
    if tx:
        groups.add(tx.group)
    return groups


def _check_mix_groups(recipe: Recipe, source: str) -> None:
    """A mix group that no source can fill is a typo found now, not after every other stage ran."""
    if recipe.mix is None or recipe.mix.missing_groups != "error":
        return
    given = source_groups(recipe)
    for name, group in recipe.mix.groups.items():
        wanted = group.matcher(name).groups
        if wanted and not set(wanted) & given:
            raise UserError(
                f"{source}: mix: group {name!r} takes documents of group {', '.join(wanted)}, which no source "
                f"gives (the sources give {', '.join(sorted(given))}); fix the name, or set "
                "mix.missing_groups: renormalize"
            )


def check_output_writable(output: str) -> None:
    """Refuse an output we could not write, before anything is written anywhere."""
    if is_url(output):
        protocol = output.split("://", 1)[0]
        try:
            fsspec.get_filesystem_class(protocol)
        except ValueError:
            raise UserError(f"output: {output}: unknown file system protocol {protocol}://") from None
        except ImportError as e:
            raise UserError(
                f"output: {output}: {protocol}:// needs a package that is not installed ({e})"
            ) from None
        return
    if len(os.fsencode(output)) >= 4096 or any(len(os.fsencode(p)) > 255 for p in Path(output).parts):
        raise UserError(f"output: the path is longer than the file system allows ({len(output)} characters)")
    system = next((f for f in SYSTEM_FOLDERS if output == f or output.startswith(f + "/")), None)
    if system is not None:
        raise UserError(f"output: {output} is inside {system}, a system folder")
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
    _check_mix_groups(recipe, source)
    _resolve_inputs(recipe, path.parent.resolve(), source)
    if not is_url(recipe.output):
        recipe.output = str(Path(recipe.output).expanduser().resolve())
    check_output_writable(recipe.output)
    return recipe
