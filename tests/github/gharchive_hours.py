"""GH Archive hour files built from the published event schema, for tests and the benchmark.

No registry package ships real GH Archive hours, so a small seeded world of repositories is
simulated and its events are written the way GH Archive writes them: one JSON object a line,
gzipped, one file per hour named `YYYY-MM-DD-H.json.gz`, with the Events API's field names and
nesting (`id` as a string, `type`, `actor{id,login,display_login,gravatar_id,url,avatar_url}`,
`repo{id,name,url}`, `payload`, `public`, `created_at` as `...Z`, `org` on organisation
repositories). Payloads follow the event types' documented shapes: `CreateEvent` (`ref_type`,
`master_branch`), `WatchEvent` (`action: started`), `ForkEvent` (`forkee`: a full repository
object), `PushEvent` (`commits`), `PullRequestEvent` (`pull_request.base.repo`/`head.repo`),
`IssuesEvent`, `IssueCommentEvent`, `DeleteEvent` (a branch), `PublicEvent`, and `RepositoryEvent`
(`renamed` with `changes.repository.name.from`, `deleted`, `publicized`). Some repositories are
renamed with a `RepositoryEvent`, others only show up under a new name.
"""

from __future__ import annotations

import gzip
import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

WORDS = [
    "fix",
    "add",
    "update",
    "remove",
    "refactor",
    "parser",
    "config",
    "test",
    "docs",
    "build",
    "release",
    "bump",
    "version",
    "support",
    "handle",
    "error",
    "cache",
    "client",
    "server",
    "request",
    "response",
    "module",
    "function",
    "class",
    "method",
    "return",
    "value",
    "index",
    "query",
    "table",
    "schema",
    "migration",
    "deploy",
    "script",
    "readme",
    "typo",
    "lint",
    "format",
    "import",
    "export",
    "data",
    "model",
    "view",
    "controller",
    "route",
    "handler",
    "token",
    "user",
    "auth",
    "session",
    "memory",
    "leak",
    "crash",
    "thread",
    "async",
]
LANGUAGES = ["Python", "JavaScript", "Java", "Go", "C++", "C", "TypeScript", "Rust", "Ruby", "PHP", None]


@dataclass
class SimRepo:
    id: int
    owner: str
    name: str
    created: datetime | None  # None: created before the simulated hours
    language: str | None
    org: bool = False
    fork_of: int | None = None
    branch: str = "main"
    deleted: bool = False
    stars: int = 0  # GitHub's count (pre-range stars included)
    names: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class World:
    """A seeded simulation whose events, hour by hour, come out in GH Archive's format."""

    def __init__(self, seed: int, start: datetime, repos: int = 40, rich: bool = False) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.rich = rich  # long commit messages and bodies, for realistic sizes
        self.next_event = 2_489_651_045
        self.next_repo = 30_000_000
        self.repos: dict[int, SimRepo] = {}
        for _ in range(repos):  # repositories that exist before the first hour
            self._new_repo(None)

    def _words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def _new_repo(
        self, created: datetime | None, fork_of: int | None = None, owner: str | None = None
    ) -> SimRepo:
        rid = self.next_repo
        self.next_repo += self.rng.randint(1, 50)
        owner = owner or f"user{self.rng.randint(1, 400)}"
        base = self.repos[fork_of].name if fork_of else f"{self.rng.choice(WORDS)}-{self.rng.choice(WORDS)}"
        repo = SimRepo(
            rid,
            owner,
            base,
            created,
            None if fork_of else self.rng.choice(LANGUAGES),
            org=self.rng.random() < 0.2,
            fork_of=fork_of,
            branch=self.rng.choice(["main", "master", "develop"]),
            stars=0 if created else self.rng.randint(0, 3000),
        )
        repo.names.append(repo.full_name)
        self.repos[rid] = repo
        return repo

    def _actor(self) -> dict[str, Any]:
        uid = self.rng.randint(1, 9_000_000)
        login = f"dev{uid}"
        return {
            "id": uid,
            "login": login,
            "display_login": login,
            "gravatar_id": "",
            "url": f"https://api.github.com/users/{login}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?",
        }

    def repo_object(self, repo: SimRepo, at: datetime) -> dict[str, Any]:
        """The REST API's repository object, as forkees and pull requests carry it."""
        name = repo.full_name
        obj: dict[str, Any] = {
            "id": repo.id,
            "node_id": f"MDEwOlJlcG9zaXRvcnk{repo.id}",
            "name": repo.name,
            "full_name": name,
            "private": False,
            "owner": {
                "login": repo.owner,
                "id": zlib.crc32(repo.owner.encode()) % 10_000_000,
                "type": "User",
            },
            "html_url": f"https://github.com/{name}",
            "description": self._words(6) if self.rich else None,
            "fork": repo.fork_of is not None,
            "url": f"https://api.github.com/repos/{name}",
            "created_at": _stamp(repo.created or datetime(2012, 5, 1) + timedelta(days=repo.id % 900)),
            "updated_at": _stamp(at),
            "pushed_at": _stamp(at - timedelta(minutes=3)),
            "homepage": None,
            "size": self.rng.randint(1, 90_000),
            "stargazers_count": repo.stars,
            "watchers_count": repo.stars,
            "language": repo.language,
            "forks_count": self.rng.randint(0, 40),
            "open_issues_count": self.rng.randint(0, 30),
            "default_branch": repo.branch,
            "public": True,
        }
        if self.rich:
            for k in ("forks", "keys", "collaborators", "teams", "hooks", "issue_events", "events", "tags"):
                obj[f"{k}_url"] = f"https://api.github.com/repos/{name}/{k}"
        return obj

    def _event(self, etype: str, repo: SimRepo, at: datetime, payload: dict[str, Any]) -> dict[str, Any]:
        self.next_event += self.rng.randint(1, 7)
        event: dict[str, Any] = {
            "id": str(self.next_event),
            "type": etype,
            "actor": self._actor(),
            "repo": {
                "id": repo.id,
                "name": repo.full_name,
                "url": f"https://api.github.com/repos/{repo.full_name}",
            },
            "payload": payload,
            "public": True,
            "created_at": _stamp(at),
        }
        if repo.org:
            event["org"] = {"id": 1000 + len(repo.owner), "login": repo.owner, "gravatar_id": ""}
        return event

    def hour(self, index: int, events: int) -> list[dict[str, Any]]:
        """The events of hour `index` (0 = `start`), in time order as GH Archive mostly has them."""
        t0 = self.start + timedelta(hours=index)
        seconds = sorted(self.rng.randrange(3600) for _ in range(events))
        out = []
        for s in seconds:
            ev = self._one(t0 + timedelta(seconds=s))
            if ev is not None:
                out.append(ev)
        return out

    def _one(self, at: datetime) -> dict[str, Any] | None:
        live = [r for r in self.repos.values() if not r.deleted]
        repo = self.rng.choice(live)
        roll = self.rng.random()
        if roll < 0.06:  # a new repository
            new = self._new_repo(at, owner=None)
            return self._event(
                "CreateEvent",
                new,
                at,
                {
                    "ref": None,
                    "ref_type": "repository",
                    "master_branch": new.branch,
                    "description": None,
                    "pusher_type": "user",
                },
            )
        if roll < 0.16:
            repo.stars += 1
            return self._event("WatchEvent", repo, at, {"action": "started"})
        if roll < 0.19:
            fork = self._new_repo(at, fork_of=repo.id)
            fork.branch = repo.branch
            return self._event("ForkEvent", repo, at, {"forkee": self.repo_object(fork, at)})
        if roll < 0.25:
            number = self.rng.randint(1, 900)
            head = self.repo_object(repo, at)
            pull = {
                "url": f"https://api.github.com/repos/{repo.full_name}/pulls/{number}",
                "id": self.rng.randint(1, 10**9),
                "number": number,
                "state": "open",
                "title": self._words(5),
                "user": self._actor(),
                "body": self._words(60 if self.rich else 4),
                "created_at": _stamp(at),
                "head": {
                    "label": "x:feature",
                    "ref": "feature",
                    "sha": f"{self.rng.getrandbits(160):040x}",
                    "repo": head,
                },
                "base": {
                    "label": "x:main",
                    "ref": repo.branch,
                    "sha": f"{self.rng.getrandbits(160):040x}",
                    "repo": self.repo_object(repo, at),
                },
                "merged": False,
                "commits": self.rng.randint(1, 9),
                "additions": self.rng.randint(1, 900),
                "deletions": self.rng.randint(0, 300),
                "changed_files": self.rng.randint(1, 30),
            }
            return self._event(
                "PullRequestEvent", repo, at, {"action": "opened", "number": number, "pull_request": pull}
            )
        if roll < 0.62:
            commits = [
                {
                    "sha": f"{self.rng.getrandbits(160):040x}",
                    "author": {"email": f"dev{self.rng.randint(1, 999)}@example.com", "name": "Dev"},
                    "message": self._words(self.rng.randint(3, 40 if self.rich else 6)),
                    "distinct": True,
                    "url": f"https://api.github.com/repos/{repo.full_name}/commits/x",
                }
                for _ in range(self.rng.randint(1, 4))
            ]
            return self._event(
                "PushEvent",
                repo,
                at,
                {
                    "push_id": self.rng.randint(1, 10**10),
                    "size": len(commits),
                    "distinct_size": len(commits),
                    "ref": f"refs/heads/{repo.branch}",
                    "head": commits[-1]["sha"],
                    "before": "0" * 40,
                    "commits": commits,
                },
            )
        if roll < 0.70:
            return self._event(
                "IssueCommentEvent",
                repo,
                at,
                {
                    "action": "created",
                    "issue": {"number": self.rng.randint(1, 500), "title": self._words(6)},
                    "comment": {
                        "id": self.rng.randint(1, 10**9),
                        "body": self._words(80 if self.rich else 5),
                    },
                },
            )
        if roll < 0.74:
            return self._event(
                "IssuesEvent",
                repo,
                at,
                {
                    "action": "opened",
                    "issue": {
                        "number": self.rng.randint(1, 500),
                        "title": self._words(6),
                        "body": self._words(50 if self.rich else 4),
                    },
                },
            )
        if roll < 0.78:
            return self._event(
                "DeleteEvent", repo, at, {"ref": "feature", "ref_type": "branch", "pusher_type": "user"}
            )
        if roll < 0.785:
            return self._event("PublicEvent", repo, at, {})
        if roll < 0.79:  # a rename announced by a RepositoryEvent
            old = repo.name
            repo.name = f"{old}-{self.rng.choice(WORDS)}"
            repo.names.append(repo.full_name)
            return self._event(
                "RepositoryEvent",
                repo,
                at,
                {
                    "action": "renamed",
                    "changes": {"repository": {"name": {"from": old}}},
                    "repository": self.repo_object(repo, at),
                },
            )
        if roll < 0.795:  # a rename seen only as the same id under a new name later on
            repo.name = f"{repo.name}2"
            repo.names.append(repo.full_name)
            return None
        if roll < 0.798:
            ev = self._event(
                "RepositoryEvent", repo, at, {"action": "deleted", "repository": self.repo_object(repo, at)}
            )
            repo.deleted = True
            return ev
        return self._event("GollumEvent", repo, at, {"pages": [{"page_name": "Home", "action": "edited"}]})


def hour_bytes(events: list[dict[str, Any]], extra_lines: list[bytes] = ()) -> bytes:
    """An hour file's bytes: one JSON object a line, gzipped (fixed gzip time: same bytes)."""
    lines = [json.dumps(e, separators=(",", ":")).encode() for e in events]
    lines[len(lines) // 2 : len(lines) // 2] = list(extra_lines)
    return gzip.compress(b"\n".join(lines) + b"\n", mtime=0)


def file_name(hour: datetime) -> str:
    return f"{hour:%Y-%m-%d}-{hour.hour}.json.gz"


#: the demo's hours: the six demo repositories as GH Archive would show them on 2023-10-31
DEMO_START = datetime(2023, 10, 31, 20)
DEMO_MISSING = datetime(2023, 10, 31, 22)  # a gap, as the real archive has


def demo_hours() -> dict[str, bytes]:
    """`recipes/demo-data/gharchive/`: four hours minus one missing, about the demo repositories.
    acme/geometry is created and starred; forkers/geometry is its fork (left out by default);
    lowlevel/ring-buffer is renamed to lowlevel/ringbuf by a RepositoryEvent; tools/number-format
    shows up as tools/numfmt later (a rename seen only by its id); webco/todo is created after
    the cutoff; finance/ledger is deleted; one line is not JSON."""
    ids = {
        "acme/geometry": 501,
        "forkers/geometry": 502,
        "lowlevel/ringbuf": 503,
        "webco/todo": 504,
        "finance/ledger": 505,
        "tools/numfmt": 506,
    }
    seq = iter(range(33_000_000_000, 33_000_001_000))

    def ev(etype: str, name: str, rid: int, at: str, payload: dict[str, Any]) -> dict[str, Any]:
        login = name.split("/")[0]
        return {
            "id": str(next(seq)),
            "type": etype,
            "actor": {
                "id": rid * 7,
                "login": login,
                "display_login": login,
                "gravatar_id": "",
                "url": f"https://api.github.com/users/{login}",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{rid * 7}?",
            },
            "repo": {"id": rid, "name": name, "url": f"https://api.github.com/repos/{name}"},
            "payload": payload,
            "public": True,
            "created_at": at,
        }

    def obj(
        name: str, rid: int, created: str, stars: int, fork: bool, language: str | None
    ) -> dict[str, Any]:
        owner, short = name.split("/")
        return {
            "id": rid,
            "name": short,
            "full_name": name,
            "private": False,
            "fork": fork,
            "owner": {"login": owner, "id": rid * 7, "type": "User"},
            "created_at": created,
            "updated_at": created,
            "pushed_at": created,
            "stargazers_count": stars,
            "watchers_count": stars,
            "language": language,
            "default_branch": "main",
            "public": True,
        }

    create = {
        "ref": None,
        "ref_type": "repository",
        "master_branch": "main",
        "description": None,
        "pusher_type": "user",
    }
    hours: dict[int, list[dict[str, Any]]] = {
        20: [
            ev("CreateEvent", "acme/geometry", ids["acme/geometry"], "2023-10-31T20:01:00Z", create),
            ev(
                "PushEvent",
                "lowlevel/ring-buffer",
                ids["lowlevel/ringbuf"],
                "2023-10-31T20:05:00Z",
                {"push_id": 1, "size": 1, "ref": "refs/heads/main", "commits": []},
            ),
            ev(
                "PushEvent",
                "tools/number-format",
                ids["tools/numfmt"],
                "2023-10-31T20:07:00Z",
                {"push_id": 2, "size": 1, "ref": "refs/heads/main", "commits": []},
            ),
            ev(
                "WatchEvent",
                "acme/geometry",
                ids["acme/geometry"],
                "2023-10-31T20:30:00Z",
                {"action": "started"},
            ),
            ev("CreateEvent", "finance/ledger", ids["finance/ledger"], "2023-10-31T20:40:00Z", create),
        ],
        21: [
            ev(
                "ForkEvent",
                "acme/geometry",
                ids["acme/geometry"],
                "2023-10-31T21:02:00Z",
                {
                    "forkee": obj(
                        "forkers/geometry", ids["forkers/geometry"], "2023-10-31T21:02:00Z", 0, True, None
                    )
                },
            ),
            ev(
                "RepositoryEvent",
                "lowlevel/ringbuf",
                ids["lowlevel/ringbuf"],
                "2023-10-31T21:10:00Z",
                {
                    "action": "renamed",
                    "changes": {"repository": {"name": {"from": "ring-buffer"}}},
                    "repository": obj(
                        "lowlevel/ringbuf", ids["lowlevel/ringbuf"], "2019-01-20T08:00:00Z", 44, False, "C"
                    ),
                },
            ),
            ev(
                "WatchEvent",
                "lowlevel/ringbuf",
                ids["lowlevel/ringbuf"],
                "2023-10-31T21:20:00Z",
                {"action": "started"},
            ),
            ev(
                "RepositoryEvent",
                "finance/ledger",
                ids["finance/ledger"],
                "2023-10-31T21:50:00Z",
                {
                    "action": "deleted",
                    "repository": obj(
                        "finance/ledger", ids["finance/ledger"], "2023-10-31T20:40:00Z", 0, False, None
                    ),
                },
            ),
        ],
        23: [
            ev(
                "WatchEvent",
                "acme/geometry",
                ids["acme/geometry"],
                "2023-10-31T23:05:00Z",
                {"action": "started"},
            ),
            ev(
                "PushEvent",
                "tools/numfmt",
                ids["tools/numfmt"],
                "2023-10-31T23:10:00Z",
                {"push_id": 3, "size": 1, "ref": "refs/heads/main", "commits": []},
            ),
            ev(
                "WatchEvent",
                "lowlevel/ringbuf",
                ids["lowlevel/ringbuf"],
                "2023-10-31T23:30:00Z",
                {"action": "started"},
            ),
            ev("CreateEvent", "webco/todo", ids["webco/todo"], "2023-11-01T00:00:00Z", create),
        ],
    }
    files = {}
    for hour, events in hours.items():
        extra = [b'{"id": "1", "type": "PushEvent", "repo": {'] if hour == 23 else []
        files[file_name(datetime(2023, 10, 31, hour))] = hour_bytes(events, extra)
    return files
