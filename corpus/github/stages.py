"""The GitHub stages of a build, after `github/documents` (the recipe's own repository list):

- `github/repos`    (with `curation.search` or `curation.lists`) one task writing `repos.jsonl`:
                    the repositories of the list files and of the GitHub search;
- `github/fetched`  those repositories, fetched and walked;
- `github/files`    the DeepSeek-Coder file rules over every GitHub document;
- `github/samples`  repository-level samples (Python, Java, C#, C, C++) and single files.

Fetched repositories and API answers are cached under `OUTPUT/github/cache/` unless the recipe
names another folder, so a re-run fetches and asks nothing twice.
"""

from __future__ import annotations

import json
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.atomic import atomic_write_text
from corpus.errors import UserError
from corpus.github.config import GithubCuration, SearchConfig
from corpus.github.file_rules import DeepSeekFileRules
from corpus.github.repo_lists import load_repo_lists
from corpus.github.repo_reader import GithubRepoReader
from corpus.github.samples import RepositorySamples
from corpus.parquet_io import ParquetDocumentReader, ParquetDocumentWriter
from corpus.stages import Stage, latest, stage_folder


class RepoListStep(PipelineStep):
    """Write the build's extra repositories to `repos.jsonl` (rank 0 only; no documents): those of
    the list files, then those a GitHub search finds, each name once and none of the recipe's own."""

    name = "github repository list"
    type = "🔎 - SEARCH"

    def __init__(
        self,
        search: SearchConfig | None,
        listed: list[dict[str, Any]],
        out_file: str,
        cache_dir: str,
        method: str,
        skip: list[str],
    ) -> None:
        super().__init__()
        self.search = search
        self.listed = listed
        self.out_file = out_file
        self.cache_dir = cache_dir
        self.method = method
        self.skip = sorted(skip)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        if rank != 0:
            return
        seen = set(self.skip)
        lines: list[str] = []

        def add(record: dict[str, Any], stat: str) -> None:
            if record["name"] in seen:
                self.stat_update("already_listed")
                return
            seen.add(record["name"])
            lines.append(json.dumps(record, sort_keys=True, default=str))
            self.stat_update(stat)

        for record in self.listed:
            add(record, "listed_repositories")
        if self.search is not None:
            from tqdm import tqdm

            from corpus.github.search import GithubApi, RepoQuery, SearchError, search_repositories

            s = self.search
            api = GithubApi(
                api_url=s.api_url, token_env=s.token_env, cache_dir=self.cache_dir, refresh=s.refresh
            )
            query = RepoQuery(
                created_before=s.created_before,
                created_after=s.created_after,
                min_stars=s.min_stars,
                languages=list(s.languages),
                pushed_after=s.pushed_after,
                extra=s.query,
                max_repos=s.max_repos,
            )
            try:
                with tqdm(desc="github search", unit=" repos", disable=None) as bar:
                    for record in search_repositories(api, query, self.method, progress=bar.update):
                        add(record, "searched_repositories")
            except SearchError as e:  # a bad token or an unreachable API: one line, not a traceback
                hint = f" (is ${s.token_env} a valid token?)" if " 401 " in f" {e} " else ""
                raise UserError(f"sources.github.curation.search: {e}{hint}") from None
            self.stat_update("api_requests", value=api.requests_made)
            self.stat_update("api_cache_hits", value=api.cache_hits)
        atomic_write_text(self.out_file, "".join(line + "\n" for line in lines))


def _manifest(cur: GithubCuration, seed: int) -> Any:
    """What decided the GitHub output, for manifest.json: rule thresholds, linguist's revision,
    the sample seed and languages (the search settings are already in the recipe dump)."""

    def entry(_stage: Stage) -> dict[str, Any]:
        from corpus.github import file_rules
        from corpus.github.linguist import load_rules

        return {
            "github": {
                "linguist_commit": load_rules().commit,
                "file_rules": {
                    "max_avg_line": file_rules.MAX_AVG_LINE,
                    "max_line": file_rules.MAX_LINE,
                    "min_alpha_fraction": file_rules.MIN_ALPHA_FRACTION,
                    "html_min_visible": [
                        file_rules.HTML_MIN_VISIBLE_FRACTION,
                        file_rules.HTML_MIN_VISIBLE_CHARS,
                    ],
                    "json_yaml_chars": [file_rules.JSON_YAML_MIN_CHARS, file_rules.JSON_YAML_MAX_CHARS],
                    "kinds": list(cur.rules.kinds) if cur.rules.enabled else [],
                },
                "samples": {"seed": seed, "languages": list(cur.samples.languages)}
                if cur.samples.enabled
                else None,
            }
        }

    return entry


def curation_of(recipe: Any) -> GithubCuration:
    gh = recipe.sources.github
    return getattr(gh, "curation", None) or GithubCuration()


def github_stages(recipe: Any, output: str, previous: list[Stage]) -> list[Stage]:
    gh = recipe.sources.github
    if gh is None:
        return []
    cur = curation_of(recipe)
    tasks = recipe.executor.tasks
    cache = cur.fetch.cache or f"{output.rstrip('/')}/github/cache"
    inputs: list[str] = []
    base = latest(previous, "github")
    if base is not None:
        inputs.append(base.folder)
    stages: list[Stage] = []
    api_url = cur.search.api_url if cur.search else "https://api.github.com"
    listed = load_repo_lists(cur.lists, cur.fetch.method, api_url) if cur.lists else []
    if cur.search is not None or listed:
        repo_file = f"{stage_folder(output, 'github', 'repos')}/repos.jsonl"
        what = []
        if listed:
            what.append(f"{len(listed)} repositories from {len(cur.lists)} list files")
        if cur.search is not None:
            what.append(
                f"GitHub search: created before {cur.search.created_before}, stars >= {cur.search.min_stars}"
            )
        step = RepoListStep(
            cur.search, listed, repo_file, f"{cache}/api", cur.fetch.method, [r.name for r in gh.repos]
        )
        stages.append(Stage("github", "repos", output, [step], 1, "; ".join(what)))
        fetched = stage_folder(output, "github", "fetched")
        reader = GithubRepoReader.for_recipe(gh, output, repos=[], repo_list=repo_file)
        stages.append(
            Stage(
                "github",
                "fetched",
                output,
                [reader, ParquetDocumentWriter(fetched)],
                tasks,
                f"listed and searched repositories -> one document per file ({cur.fetch.method})",
            )
        )
        inputs.append(fetched)
    if not inputs:
        return stages
    current = inputs
    if cur.rules.enabled:
        folder = stage_folder(output, "github", "files")
        stages.append(
            Stage(
                "github",
                "files",
                output,
                [
                    ParquetDocumentReader(current),
                    DeepSeekFileRules(tuple(cur.rules.kinds)),
                    ParquetDocumentWriter(folder),
                ],
                tasks,
                "DeepSeek-Coder file rules (line lengths, alphabetic share, XML, HTML, JSON/YAML size)",
            )
        )
        current = [folder]
    if cur.samples.enabled:
        seed = recipe.seed if cur.samples.seed is None else cur.samples.seed
        folder = stage_folder(output, "github", "samples")
        stages.append(
            Stage(
                "github",
                "samples",
                output,
                [
                    ParquetDocumentReader(current),
                    RepositorySamples(seed, tuple(cur.samples.languages), cur.samples.max_sample_chars),
                    ParquetDocumentWriter(folder),
                ],
                tasks,
                f"repository-level samples for {', '.join(cur.samples.languages)} (seed {seed})",
                manifest=_manifest(cur, seed),
            )
        )
    return stages
