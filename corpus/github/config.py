"""The recipe section `sources.github.curation`: where repositories come from beyond the explicit
list, how they are fetched, and what the GitHub stages do with their files.

Everything has the paper's behaviour as its default, so `curation: {}` (or leaving the key out)
runs the file rules and builds repository-level samples for the explicit repository list.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from corpus.core.strict import StrictModel

#: the shape of one SPDX licence id (`LicenseRef-...` included); the build checks it is a known one
_SPDX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


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


class GharchiveConfig(StrictModel):
    """Repositories from GH Archive's hourly event files: the list for builds at the paper's scale
    (about 10^8 repositories, which the search API's 1,000 results a query and 30 queries a
    minute cannot list). See `corpus.github.gharchive_source`."""

    hours: str = Field(
        "https://data.gharchive.org",
        description="where the YYYY-MM-DD-H.json.gz files are: an http(s) base URL or any fsspec folder",
    )
    since: datetime = Field(datetime(2015, 1, 1), description="first hour read (UTC; 2015-01-01 or later)")
    until: datetime | None = Field(None, description="hours before this are read; default: created_before")
    created_before: date = Field(date(2023, 11, 1), description="only repositories created before this day")
    min_stars: int = Field(0, ge=0, description="stars: the last repository object's count + later stars")
    exclude_forks: bool = Field(True, description="leave forks out (dedup removes their copies anyway)")
    languages: list[str] = Field(
        default_factory=list, description="GitHub language names, where the events say; [] = any"
    )
    unknown_language: Literal["keep", "drop"] = Field(
        "keep", description="with languages: repositories no event gives a language for"
    )
    scan_tasks: int | None = Field(None, ge=1, description="tasks reading hours; default executor.tasks")
    list_tasks: int | None = Field(None, ge=1, description="tasks merging the list; default executor.tasks")
    api_url: str = Field("https://api.github.com", description="REST API base for the tarball locations")
    archives: str | None = Field(
        None,
        description="archive location template instead of the API's tarballs: {owner}, {repo}, {name}, {ref}",
    )
    requests_per_second: float = Field(
        4.0, gt=0, description="requests per second to the hours' host, shared by the tasks of one node"
    )
    timeout_s: float = Field(300.0, gt=0)
    retries: int = Field(4, ge=0)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _day_is_midnight(cls, v: object) -> object:
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime(v.year, v.month, v.day)
        return v

    @model_validator(mode="after")
    def _window(self) -> GharchiveConfig:
        since = self.since.replace(tzinfo=None)
        if since < datetime(2015, 1, 1):
            raise ValueError(
                "since: GH Archive hours before 2015-01-01 use the older timeline schema, which is not "
                "read; start at 2015-01-01 or later"
            )
        if since >= self.end().replace(tzinfo=None):
            raise ValueError("since must be before until (or created_before)")
        return self

    def end(self) -> datetime:
        if self.until is not None:
            return self.until
        return datetime(self.created_before.year, self.created_before.month, self.created_before.day)


class FetchConfig(StrictModel):
    method: Literal["git", "tarball"] = Field(
        "git", description="searched repositories: shallow git clone or the API's tarball endpoint"
    )
    cache: str | None = Field(
        None, description="folder keeping fetched repositories between runs; default OUTPUT/github/cache"
    )
    max_repo_bytes: int = Field(500_000_000, ge=1, description="a repository over this size is skipped")
    timeout_s: float = Field(600.0, gt=0)
    requests_per_second: float | None = Field(
        None, gt=0, description="archive downloads per second to one host, shared by the tasks of one node"
    )


class RulesConfig(StrictModel):
    enabled: bool = True
    kinds: list[Literal["code", "text"]] = Field(
        default_factory=lambda: ["code", "text"], description="which documents the file rules check"
    )


#: characters per token of source code, for the sample cut only (the mix stage counts real tokens).
#: BPE code tokenizers of 32K–100K entries (DeepSeek-Coder's, StarCoder's) average 3–4 characters a
#: token on code; 3.5 puts a 32,768-token cut at 114,688 characters.
CHARS_PER_TOKEN = 3.5


class SamplesConfig(StrictModel):
    """Repository-level samples. The default cut, 32,768 tokens, is the first long-context length of
    DeepSeek-V2's training (4K pre-training, then 32K and 128K): a sample of that size still fits one
    long-context sequence whole, while a 2M-token repository (redis is one) no longer becomes one
    document that packing would slice at arbitrary points. Cuts fall between files of the
    dependency order, so every piece splits back into its files and no file comes before a file it
    imports."""

    enabled: bool = True
    languages: list[Literal["Python", "Java", "C#", "C", "C++", "JavaScript", "TypeScript", "Go"]] = Field(
        default_factory=lambda: ["Python", "Java", "C#", "C", "C++"],
        description="languages concatenated into repository-level samples (the paper: the first five)",
    )
    seed: int | None = Field(None, description="tie-break seed; default: the recipe's seed")
    max_sample_tokens: int | None = Field(
        32_768,
        ge=1,
        description="cut a component's ordered files, at file boundaries, into samples of at most about "
        "this many tokens (estimated at CHARS_PER_TOKEN characters a token); None: one sample per component",
    )
    max_sample_chars: int | None = Field(
        None,
        ge=1,
        description="the same cut by characters; when set it replaces max_sample_tokens",
    )

    def sample_char_limit(self) -> int | None:
        """Characters at which a sample is cut (None: never)."""
        if self.max_sample_chars:
            return self.max_sample_chars
        if self.max_sample_tokens:
            return int(self.max_sample_tokens * CHARS_PER_TOKEN)
        return None


class LicensesConfig(StrictModel):
    """Which repository licences may stay in the corpus (`corpus.github.license_policy` has the rules:
    OR passes when a branch passes, AND when all do). The default keeps everything, as the paper
    does; `permissive` is a fixed list of SPDX ids (MIT, MIT-0, BSD-2/3-Clause, 0BSD, Apache-2.0,
    ISC, Zlib, BSL-1.0, Unlicense, CC0-1.0, PSF-2.0, Python-2.0(.1), NCSA, X11, UPL-1.0,
    BlueOak-1.0.0)."""

    preset: Literal["any", "permissive", "none"] = Field(
        "any", description="any: every licence; permissive: the fixed permissive list; none: only `allow`"
    )
    allow: list[str] = Field(default_factory=list, description="SPDX ids kept on top of the preset")
    deny: list[str] = Field(default_factory=list, description="SPDX ids always dropped (wins over allow)")
    unlicensed: Literal["keep", "drop"] = Field(
        "keep", description="repositories whose licence is unknown (none found, NOASSERTION)"
    )

    @field_validator("allow", "deny")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for spdx in v:
            if not _SPDX_ID.fullmatch(spdx):
                raise ValueError(f"{spdx!r} is not an SPDX licence id (one id, such as MIT or GPL-3.0-only)")
        return v

    @model_validator(mode="after")
    def _allow_needs_a_preset(self) -> LicensesConfig:
        if self.allow and self.preset == "any":
            raise ValueError(
                "allow has no effect with preset any (every licence is kept): use preset none to keep only "
                "the allow list, or preset permissive to add to it"
            )
        return self


class GithubCuration(StrictModel):
    lists: list[str] = Field(
        default_factory=list,
        description="files listing more repositories, one a line: owner/name, a git URL or a JSON object "
        "(relative paths resolve against the recipe's folder)",
    )
    search: SearchConfig | None = None
    gharchive: GharchiveConfig | None = None
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    skip_generated: bool = Field(True, description="skip vendored, generated and minified files (linguist)")
    languages: bool = Field(True, description="tag each file with its language (classifiers.langid)")
    not_code: Literal["drop", "text"] = Field(
        "drop",
        description="files langid recognises as not code (licences, certificates, program output, data): "
        "drop them (reason not_code) or keep them as code-related text; private keys are always dropped",
    )
    rules: RulesConfig = Field(default_factory=RulesConfig)
    samples: SamplesConfig = Field(default_factory=SamplesConfig)
    licenses: LicensesConfig = Field(default_factory=LicensesConfig)


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
