"""The GitHub steps a build adds after `github/documents` (the recipe's own repository list):
the repository list of `curation.lists`, `curation.search` and `curation.gharchive`, and what decided the GitHub output
for manifest.json. Fetched repositories and API answers are cached under `OUTPUT/github/cache/`
unless the recipe names another folder, so a re-run fetches and asks nothing twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from tqdm import tqdm

from corpus.core.atomic import atomic_write_text
from corpus.core.errors import UserError
from corpus.core.stage import Stage
from corpus.github import file_rules
from corpus.github.config import GithubCuration, SearchConfig
from corpus.github.gharchive_source import iter_listed
from corpus.github.linguist import load_rules
from corpus.github.search import GithubApi, RepoQuery, SearchError, search_repositories


class RepoListStep(PipelineStep):
    """Write the build's extra repositories to `repos.jsonl` (rank 0 only; no documents): those of
    the list files, then those a GitHub search finds, then those of the GH Archive list (its
    bucket files merged by repository id), each name once and none of the recipe's own."""

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
        gharchive_lists: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.gharchive_lists = list(gharchive_lists or [])
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
        if self.gharchive_lists:
            for record in iter_listed(self.gharchive_lists):
                add(record, "gharchive_repositories")
        atomic_write_text(self.out_file, "".join(line + "\n" for line in lines))


def curation_manifest(cur: GithubCuration, seed: int) -> Callable[[Stage], dict[str, Any]]:
    """What decided the GitHub output, for manifest.json: rule thresholds, linguist's revision,
    the sample seed and languages (the search settings are already in the recipe dump)."""

    def entry(_stage: Stage) -> dict[str, Any]:
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
