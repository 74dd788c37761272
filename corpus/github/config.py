"""The recipe section `sources.github.curation`: where repositories come from beyond the explicit
list, how they are fetched, and what the GitHub stages do with their files.

Everything has the paper's behaviour as its default, so `curation: {}` (or leaving the key out)
runs the file rules and builds repository-level samples for the explicit repository list.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from corpus.core.strict import StrictModel


class SearchConfig(StrictModel):
    """A GitHub search that adds repositories to the build (the paper: created before 2023-11-01)."""

    created_before: date = Field(date(2023, 11, 1), description="only repositories created before this day")
    created_after: date = Field(date(2008, 1, 1), description="first creation day searched")
    min_stars: int = Field(0, ge=0)
    languages: list[str] = Field(default_factory=list, description="GitHub language names; [] = any")
    pushed_after: date | None = Field(None, description="only repositories pushed on or after this day")
    query: str = Field("", description="extra search qualifiers, appended as given")
    max_repos: int | None = Field(None, ge=1, description="stop after this many repositories")
    api_url: str = Field(
        "https://api.github.com", description="REST API base (GitHub Enterprise: .../api/v3)"
    )
    token_env: str = Field("GITHUB_TOKEN", description="environment variable holding the token")
    refresh: bool = Field(False, description="revalidate cached answers (ETag) instead of reusing them")

    @model_validator(mode="after")
    def _window(self) -> SearchConfig:
        if self.created_after >= self.created_before:
            raise ValueError("created_after must be before created_before")
        return self


class FetchConfig(StrictModel):
    method: Literal["git", "tarball"] = Field(
        "git", description="searched repositories: shallow git clone or the API's tarball endpoint"
    )
    cache: str | None = Field(
        None, description="folder keeping fetched repositories between runs; default OUTPUT/github/cache"
    )
    max_repo_bytes: int = Field(500_000_000, ge=1, description="a repository over this size is skipped")
    timeout_s: float = Field(600.0, gt=0)


class RulesConfig(StrictModel):
    enabled: bool = True
    kinds: list[Literal["code", "text"]] = Field(
        default_factory=lambda: ["code", "text"], description="which documents the file rules check"
    )


class SamplesConfig(StrictModel):
    enabled: bool = True
    languages: list[Literal["Python", "Java", "C#", "C", "C++", "JavaScript", "TypeScript", "Go"]] = Field(
        default_factory=lambda: ["Python", "Java", "C#", "C", "C++"],
        description="languages concatenated into repository-level samples (the paper: the first five)",
    )
    seed: int | None = Field(None, description="tie-break seed; default: the recipe's seed")
    max_sample_chars: int | None = Field(
        None,
        ge=1,
        description="cut a component's ordered files into samples of at most this size (None: one)",
    )


class GithubCuration(StrictModel):
    lists: list[str] = Field(
        default_factory=list,
        description="files listing more repositories, one a line: owner/name, a git URL or a JSON object "
        "(relative paths resolve against the recipe's folder)",
    )
    search: SearchConfig | None = None
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    skip_generated: bool = Field(True, description="skip vendored, generated and minified files (linguist)")
    languages: bool = Field(True, description="tag each file with its language (classifiers.langid)")
    rules: RulesConfig = Field(default_factory=RulesConfig)
    samples: SamplesConfig = Field(default_factory=SamplesConfig)


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
