"""The GitHub stages after `github/documents`:

- `github/gharchive`, `github/gharchive-list` (with `curation.gharchive`) GH Archive's hourly
                    event files reduced to repository states, then merged and filtered into a list;
- `github/repos`    (with `curation.search`, `curation.lists` or `curation.gharchive`) one task
                    writing `repos.jsonl`: the repositories of the list files, of the GitHub
                    search and of the GH Archive list;
- `github/fetched`  those repositories, fetched and walked;
- `github/files`    the repository licence filter (`curation.licenses`) and the DeepSeek-Coder file
                    rules over every GitHub document;
- `github/samples`  repository-level samples (Python, Java, C#, C, C++) and single files.
"""

from __future__ import annotations

from corpus.app.recipe import Recipe
from corpus.core.parquet_io import ParquetDocumentWriter
from corpus.core.stage import Stage, document_stage, latest, stage_folder
from corpus.github.file_rules import DeepSeekFileRules
from corpus.github.gharchive_stages import gharchive_stages
from corpus.github.license_policy import LicenseFilter, LicensePolicy, check_ids
from corpus.github.repo_lists import load_repo_lists
from corpus.github.repo_reader import GithubRepoReader
from corpus.github.samples import RepositorySamples
from corpus.github.stages import RepoListStep, curation_manifest


def github_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    gh = recipe.sources.github
    if gh is None:
        return []
    cur = gh.curation
    tasks = recipe.executor.tasks
    cache = cur.fetch.cache or f"{output.rstrip('/')}/github/cache"
    inputs: list[str] = []
    base = latest(previous, "github")
    if base is not None:
        inputs.append(base.folder)
    stages: list[Stage] = []
    api_url = cur.search.api_url if cur.search else "https://api.github.com"
    listed = load_repo_lists(cur.lists, cur.fetch.method, api_url) if cur.lists else []
    gharchive_lists: list[str] = []
    if cur.gharchive is not None:
        more, gharchive_lists = gharchive_stages(cur.gharchive, output, tasks, cur.fetch.method)
        stages += more
    if cur.search is not None or listed or gharchive_lists:
        repo_file = f"{stage_folder(output, 'github', 'repos')}/repos.jsonl"
        what = []
        if listed:
            what.append(f"{len(listed)} repositories from {len(cur.lists)} list files")
        if cur.search is not None:
            what.append(
                f"GitHub search: created before {cur.search.created_before}, stars >= {cur.search.min_stars}"
            )
        if gharchive_lists:
            what.append("the GH Archive list")
        step = RepoListStep(
            cur.search,
            listed,
            repo_file,
            f"{cache}/api",
            cur.fetch.method,
            [r.name for r in gh.repos],
            gharchive_lists,
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
    lic = cur.licenses
    check_ids(lic.allow, "sources.github.curation.licenses.allow")
    check_ids(lic.deny, "sources.github.curation.licenses.deny")
    policy = LicensePolicy(lic.preset, tuple(lic.allow), tuple(lic.deny), lic.unlicensed)
    # the licence step always runs with the rules (its stats count unlicensed repositories); without
    # the rules the stage exists only when the policy can drop something
    file_steps = []
    what = []
    if cur.rules.enabled or policy.active:
        file_steps.append(LicenseFilter(policy))
        what.append(_describe(policy))
    if cur.rules.enabled:
        file_steps.append(DeepSeekFileRules(tuple(cur.rules.kinds)))
        what.append("DeepSeek-Coder file rules (line lengths, alphabetic share, XML, HTML, JSON/YAML size)")
    if file_steps:
        stages.append(document_stage("github", "files", output, current, file_steps, tasks, "; ".join(what)))
        current = [stages[-1].folder]
    if cur.samples.enabled:
        seed = recipe.seed if cur.samples.seed is None else cur.samples.seed
        stages.append(
            document_stage(
                "github",
                "samples",
                output,
                current,
                [RepositorySamples(seed, tuple(cur.samples.languages), cur.samples.sample_char_limit())],
                tasks,
                f"repository-level samples for {', '.join(cur.samples.languages)} (seed {seed})",
                manifest=curation_manifest(cur, seed),
            )
        )
    return stages


def _describe(policy: LicensePolicy) -> str:
    if not policy.active:
        return "licences recorded, none filtered"
    parts = [f"licences: {policy.preset}"]
    if policy.allow:
        parts.append(f"+{','.join(policy.allow)}")
    if policy.deny:
        parts.append(f"-{','.join(policy.deny)}")
    parts.append(f"unlicensed {policy.unlicensed}")
    return " ".join(parts)
