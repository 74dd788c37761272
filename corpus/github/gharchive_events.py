"""GH Archive events reduced to one record per repository.

GH Archive (one gzipped JSON-lines file per hour, `YYYY-MM-DD-H.json.gz`) records every public
event of GitHub's Events API since 2015-01-01. Every event names its repository (`repo: {id,
name, url}`) and its time (`created_at`), and a few carry more (`payload`):

- `CreateEvent` with `payload.ref_type == "repository"`: the repository was created then (its
  `master_branch` is the default branch);
- `WatchEvent` (`action: started`): one more star;
- `ForkEvent`: `payload.forkee` is the new fork, a full repository object (`id`, `full_name`,
  `created_at`, `fork`, `owner`, `language`, `stargazers_count`, `pushed_at`, `default_branch`);
  its parent is the event's own repository;
- `PullRequestEvent`: `payload.pull_request.base.repo` and `.head.repo` are repository objects too;
- `PushEvent`: a push at the event's time;
- `PublicEvent`: a private repository became public;
- `RepositoryEvent`: `payload.action` `created`, `deleted`, `privatized`, `publicized`,
  `renamed` (with `payload.changes.repository.name.from`), `payload.repository` the object;
- `DeleteEvent` deletes a branch or tag, never a repository: it counts as activity only.

A repository is keyed by its numeric id, which survives renames and transfers; its name is the one
its latest event (by `created_at`, then event id) used, and every other name it was seen under is
kept in `former_names`. A rename therefore shows both as a `RepositoryEvent` and as the same id
appearing under a new name, and either is enough.

Stars: the latest repository object that carries `stargazers_count` gives GitHub's own count at
that moment; WatchEvents in later hours are added to it. A repository no object describes gets
its WatchEvents alone (stars given before 2015, and un-starring, which is no event, are then
missing). "Later" is by hour file, not by second, so that the reduction of a range of hours can be
cut anywhere and merged back (`merge`) to exactly the same result: the list does not depend on
how many tasks read the hours.

Events of the older timeline schema (GH Archive's files before 2015: `repository` object, actor as
a string, local-time offsets) are not parsed: such a line is counted as `legacy_schema` and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

#: an event's place in time: (created_at as written, UTC with Z, then the event id)
Key = tuple[str, int]
_NO_KEY: Key = ("", -1)

#: visibility changes; the latest decides whether a repository can still be fetched
_HIDDEN = {"deleted", "privatized"}
_SHOWN = {"publicized", "created", "unarchived"}


class RepoState:
    """What the events of a range of hours say about one repository. `merge` combines the states
    of two consecutive ranges."""

    __slots__ = (
        "branch_key",
        "created_at",
        "default_branch",
        "first_seen",
        "fork",
        "fork_key",
        "id",
        "language",
        "language_key",
        "name",
        "name_key",
        "names",
        "parent",
        "parent_id",
        "pushed_at",
        "stars",
        "stars_hour",
        "stars_key",
        "visibility",
        "visibility_key",
        "watches",
        "watches_after",
    )

    def __init__(self, repo_id: int) -> None:
        self.id = repo_id
        self.name = ""
        self.name_key: Key = _NO_KEY
        self.names: set[str] = set()
        self.created_at: str | None = None
        self.first_seen = ""
        self.stars: int | None = None  # from the latest repository object
        self.stars_key: Key = _NO_KEY
        self.stars_hour = -1
        self.watches = 0  # WatchEvents in the range
        self.watches_after = 0  # ... in hours after `stars_hour`
        self.fork: bool | None = None
        self.fork_key: Key = _NO_KEY
        self.parent_id: int | None = None
        self.parent: str | None = None
        self.language: str | None = None
        self.language_key: Key = _NO_KEY
        self.pushed_at: str | None = None
        self.default_branch: str | None = None
        self.branch_key: Key = _NO_KEY
        self.visibility = ""  # "", "public" or "hidden"
        self.visibility_key: Key = _NO_KEY

    # -- serialisation (partial results between the scan and the reduce stages) ----------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for slot in self.__slots__:
            value = getattr(self, slot)
            if slot == "names":
                value = sorted(value)
            out[slot] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RepoState:
        state = cls(int(data["id"]))
        for slot in cls.__slots__:
            value = data[slot]
            if slot == "names":
                value = set(value)
            elif slot.endswith("_key"):
                value = (value[0], value[1])
            setattr(state, slot, value)
        return state

    @property
    def star_count(self) -> int:
        if self.stars is None:
            return self.watches
        return self.stars + self.watches_after


#: fields where the latest observation wins, with the key that dates it
_LATEST = (
    ("name", "name_key"),
    ("fork", "fork_key"),
    ("language", "language_key"),
    ("default_branch", "branch_key"),
    ("visibility", "visibility_key"),
)


def merge(earlier: RepoState, later: RepoState) -> RepoState:
    """The state of two consecutive hour ranges of one repository (`earlier`'s hours all come
    before `later`'s). Associative, so any split of the hours merges to the same state."""
    out = RepoState(earlier.id)
    for attr, key in _LATEST:
        src = later if getattr(later, key) >= getattr(earlier, key) else earlier
        setattr(out, attr, getattr(src, attr))
        setattr(out, key, getattr(src, key))
    out.names = earlier.names | later.names
    out.created_at = _min(earlier.created_at, later.created_at)
    out.first_seen = _min(earlier.first_seen or None, later.first_seen or None) or ""
    out.pushed_at = _max(earlier.pushed_at, later.pushed_at)
    src = later if later.parent_id is not None else earlier  # a repository is forked once
    out.parent_id, out.parent = src.parent_id, src.parent
    out.watches = earlier.watches + later.watches
    if later.stars is not None:
        out.stars, out.stars_key, out.stars_hour = later.stars, later.stars_key, later.stars_hour
        out.watches_after = later.watches_after
    elif earlier.stars is not None:
        out.stars, out.stars_key, out.stars_hour = earlier.stars, earlier.stars_key, earlier.stars_hour
        out.watches_after = earlier.watches_after + later.watches
    return out


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


class HourReducer:
    """Feed it the lines of consecutive hour files, in hour order; `states` is the result."""

    def __init__(self) -> None:
        self.states: dict[int, RepoState] = {}
        self.events = 0
        self.skipped: dict[str, int] = {}

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _state(self, repo_id: int) -> RepoState:
        state = self.states.get(repo_id)
        if state is None:
            state = self.states[repo_id] = RepoState(repo_id)
        return state

    def add_line(self, line: bytes, hour: int) -> bool:
        """One line of the hour file `hour` (hours since the epoch); False when it was skipped."""
        if not line.strip():
            return True
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            self._skip("bad_json")
            return False
        if not isinstance(event, dict):
            self._skip("not_an_object")
            return False
        reason = self.add_event(event, hour)
        if reason:
            self._skip(reason)
            return False
        self.events += 1
        return True

    def add_event(self, event: dict[str, Any], hour: int) -> str | None:
        """Apply one event; the reason it cannot be used, or None."""
        repo = event.get("repo")
        if not isinstance(repo, dict):
            return "legacy_schema" if isinstance(event.get("repository"), dict) else "no_repo"
        repo_id, name = repo.get("id"), repo.get("name")
        when, etype = event.get("created_at"), event.get("type")
        if not isinstance(repo_id, int) or isinstance(repo_id, bool) or not _is_name(name):
            return "no_repo"
        if not isinstance(when, str) or not when.endswith("Z"):
            return "no_time"
        if not isinstance(etype, str):
            return "no_type"
        try:
            key: Key = (when, int(event.get("id") or 0))
        except (TypeError, ValueError):
            return "bad_id"
        state = self._state(repo_id)
        self._name(state, name, key)
        if not state.first_seen or when < state.first_seen:
            state.first_seen = when
        payload = event.get("payload")
        if not isinstance(payload, dict):
            payload = {}
        if etype == "WatchEvent":
            if payload.get("action", "started") == "started":
                state.watches += 1
                if state.stars is not None and hour > state.stars_hour:
                    state.watches_after += 1
        elif etype == "PushEvent":
            state.pushed_at = _max(state.pushed_at, when)
        elif etype == "CreateEvent":
            if payload.get("ref_type") == "repository":
                state.created_at = _min(state.created_at, when)
                branch = payload.get("master_branch")
                if isinstance(branch, str) and branch and key >= state.branch_key:
                    state.default_branch, state.branch_key = branch, key
        elif etype == "ForkEvent":
            forkee = payload.get("forkee")
            if isinstance(forkee, dict):
                fork = self._repo_object(forkee, key, hour)
                if fork is not None:
                    if key >= fork.fork_key:
                        fork.fork, fork.fork_key = True, key
                    fork.parent_id, fork.parent = repo_id, name
        elif etype == "PullRequestEvent":
            pull = payload.get("pull_request")
            if isinstance(pull, dict):
                for side in ("base", "head"):
                    ref = pull.get(side)
                    if isinstance(ref, dict) and isinstance(ref.get("repo"), dict):
                        self._repo_object(ref["repo"], key, hour)
        elif etype == "PublicEvent":
            self._visibility(state, "public", key)
        elif etype == "RepositoryEvent":
            action = payload.get("action")
            obj = payload.get("repository")
            if isinstance(obj, dict):
                self._repo_object(obj, key, hour)
            if action in _HIDDEN:
                self._visibility(state, "hidden", key)
            elif action in _SHOWN:
                self._visibility(state, "public", key)
            if action == "created":
                state.created_at = _min(state.created_at, when)
            elif action == "renamed":
                old = ((payload.get("changes") or {}).get("repository") or {}).get("name") or {}
                before = old.get("from") if isinstance(old, dict) else None
                if isinstance(before, str) and before:
                    owner = name.split("/", 1)[0]
                    state.names.add(f"{owner}/{before}")
        return None

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _name(state: RepoState, name: str, key: Key) -> None:
        state.names.add(name)
        if key >= state.name_key:
            state.name, state.name_key = name, key

    @staticmethod
    def _visibility(state: RepoState, value: str, key: Key) -> None:
        if key >= state.visibility_key:
            state.visibility, state.visibility_key = value, key

    def _repo_object(self, obj: dict[str, Any], key: Key, hour: int) -> RepoState | None:
        """Apply a full repository object seen at `key` (a forkee, a pull request's repository)."""
        repo_id, name = obj.get("id"), obj.get("full_name")
        if not isinstance(repo_id, int) or isinstance(repo_id, bool) or not _is_name(name):
            return None
        state = self._state(repo_id)
        self._name(state, name, key)
        if not state.first_seen or key[0] < state.first_seen:
            state.first_seen = key[0]
        created = obj.get("created_at")
        if isinstance(created, str) and created.endswith("Z"):
            state.created_at = _min(state.created_at, created)
        fork = obj.get("fork")
        if isinstance(fork, bool) and key >= state.fork_key:
            state.fork, state.fork_key = fork, key
        language = obj.get("language")
        if isinstance(language, str) and language and key >= state.language_key:
            state.language, state.language_key = language, key
        pushed = obj.get("pushed_at")
        if isinstance(pushed, str) and pushed.endswith("Z"):
            state.pushed_at = _max(state.pushed_at, pushed)
        branch = obj.get("default_branch") or obj.get("master_branch")
        if isinstance(branch, str) and branch and key >= state.branch_key:
            state.default_branch, state.branch_key = branch, key
        stars = obj.get("stargazers_count")
        if isinstance(stars, int) and not isinstance(stars, bool) and stars >= 0 and key >= state.stars_key:
            if hour > state.stars_hour:
                state.watches_after = 0  # only WatchEvents of later hours add to this count
            state.stars, state.stars_key, state.stars_hour = stars, key, hour
        return state


def _is_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    owner, sep, repo = name.partition("/")
    return bool(sep and owner and repo and "/" not in repo)


@dataclass(frozen=True)
class ListFilter:
    """Which repositories make the list (from the recipe's `curation.gharchive`)."""

    created_before: str  # ISO day; a repository must have been created (or seen) before it
    min_stars: int = 0
    exclude_forks: bool = True
    languages: tuple[str, ...] = ()
    unknown_language: str = "keep"

    def verdict(self, state: RepoState) -> str | None:
        """Why `state` is left out of the list, or None when it is kept."""
        if state.visibility == "hidden":
            return "deleted_or_private"
        born = state.created_at or state.first_seen  # first seen: it existed by then
        if born >= self.created_before:
            return "created_after_cutoff"
        if self.exclude_forks and state.fork:
            return "fork"
        if state.star_count < self.min_stars:
            return "stars"
        if self.languages:
            if state.language is None:
                if self.unknown_language == "drop":
                    return "language_unknown"
            elif state.language not in self.languages:
                return "language"
        return None


def list_record(state: RepoState) -> dict[str, Any]:
    """A repository of the list, with the keys of a repository list file (`repo_lists`)."""
    record: dict[str, Any] = {
        "name": state.name,
        "github_id": state.id,
        "stars": state.star_count,
        "created_at": (state.created_at or "")[:10] or None,
        "pushed_at": (state.pushed_at or "")[:10] or None,
        "fork": bool(state.fork),
        "github_language": state.language,
        "default_branch": state.default_branch,
    }
    if state.parent_id is not None:
        record["parent"], record["parent_id"] = state.parent, state.parent_id
    former = sorted(state.names - {state.name})
    if former:
        record["former_names"] = former
    return record
