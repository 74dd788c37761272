"""The GitHub search and tarball paths against a loopback server that answers like GitHub."""

from __future__ import annotations

import logging
import re
import tempfile
import urllib.parse
from datetime import date
from pathlib import Path

import pytest

from corpus.github.fetch import Fetcher, FetchError
from corpus.github.repo_reader import GithubRepoReader
from corpus.github.search import GithubApi, RepoQuery, SearchError, search_repositories
from tests.github.fake_github import COMMIT, FakeGithub, Repo, make_tarball

TOKEN = "ghp_sekrit_value_for_tests"

REPOS = [
    Repo("alice/old", "2015-03-01", 50),
    Repo("bob/mid", "2019-07-15", 20),
    Repo("carol/new", "2023-10-31", 5),
    Repo("dave/late", "2023-11-05", 500),  # after the paper's cutoff
    Repo("erin/few", "2020-01-01", 1),
]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CF_TEST_TOKEN", TOKEN)
    server = FakeGithub(list(REPOS), token=TOKEN).start()
    yield server
    server.stop()


def api_for(fake: FakeGithub, cache: Path | None, **kw) -> tuple[GithubApi, list[float]]:
    waits: list[float] = []
    api = GithubApi(
        api_url=fake.url,
        token_env="CF_TEST_TOKEN",
        cache_dir=str(cache) if cache else None,
        backoff_s=0.01,
        **kw,
    )
    api.sleep = waits.append
    return api, waits


def names(records: list[dict]) -> list[str]:
    return [r["name"] for r in records]


def test_search_honours_cutoff_stars_pagination_and_splits_big_windows(
    fake: FakeGithub, tmp_path: Path
) -> None:
    fake.per_page_override = 1  # one repository per page: every result comes through a Link chain
    fake.split_over_days = 3000  # the full window "has" 1500 results: it must be halved
    api, _ = api_for(fake, tmp_path / "cache")
    query = RepoQuery(created_before=date(2023, 11, 1), created_after=date(2010, 1, 1), min_stars=2)
    got = list(search_repositories(api, query))
    assert sorted(names(got)) == ["alice/old", "bob/mid", "carol/new"]
    assert len(names(got)) == len(set(names(got)))
    queries = [r["query"] for r in fake.requests if r["path"] == "/search/repositories"]
    assert any("created%3A2010-01-01..2023-10-31" in q for q in queries)  # created before 2023-11-01
    assert any("page=2" in q for q in queries)
    assert all("stars%3A%3E%3D2" in q for q in queries)
    record = next(r for r in got if r["name"] == "alice/old")
    assert record["license"] == "MIT" and record["created_at"] == "2015-03-01" and record["stars"] == 50
    assert record["url"].endswith("alice/old.git")
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in fake.requests)


def test_rate_limit_waits_until_reset_and_5xx_is_retried(fake: FakeGithub) -> None:
    fake.rate_limit_once = True
    fake.errors_before_success = 2
    api, waits = api_for(fake, None)
    got = list(search_repositories(api, RepoQuery(created_after=date(2010, 1, 1))))
    assert sorted(names(got)) == ["alice/old", "bob/mid", "carol/new", "erin/few"]
    assert waits[:2] == [0.01, 0.02]  # exponential backoff on the two 502s
    assert 0.5 <= waits[2] <= 3.5  # then the 403 with x-ratelimit-reset ~2 s ahead (+1 s margin)
    statuses = len(fake.requests)
    assert statuses == 4  # 502, 502, 403, 200


def test_a_spent_quota_is_waited_out_before_the_next_request(fake: FakeGithub) -> None:
    fake.per_page_override = 1
    fake.quota_left = 2  # the second answer says the quota is used up, resetting in 30 s
    api, waits = api_for(fake, None)
    got = list(search_repositories(api, RepoQuery(created_after=date(2010, 1, 1))))
    assert len(got) == 4
    assert len(waits) == 1 and 29 <= waits[0] <= 32  # waited once, before the third request


def test_5xx_gives_up_after_retries(fake: FakeGithub) -> None:
    fake.errors_before_success = 100
    api, waits = api_for(fake, None, retries=2)
    with pytest.raises(SearchError, match="502"):
        list(search_repositories(api, RepoQuery()))
    assert len(waits) == 2


def test_bad_token_is_an_error_that_does_not_show_the_token(fake: FakeGithub, monkeypatch) -> None:
    monkeypatch.setenv("CF_TEST_TOKEN", "wrong-token-value")
    api, _ = api_for(fake, None)
    with pytest.raises(SearchError) as err:
        list(search_repositories(api, RepoQuery()))
    assert "401" in str(err.value) and "wrong-token-value" not in str(err.value)


def test_cache_means_a_rerun_asks_nothing_and_refresh_revalidates(
    fake: FakeGithub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.rate_limit_once = True
    cache = tmp_path / "cache"
    api, _ = api_for(fake, cache)
    first = list(search_repositories(api, RepoQuery()))
    asked = len(fake.requests)
    again, _ = api_for(fake, cache)
    assert list(search_repositories(again, RepoQuery())) == first
    assert len(fake.requests) == asked and again.requests_made == 0 and again.cache_hits >= 1
    fresh, _ = api_for(fake, cache, refresh=True)
    assert list(search_repositories(fresh, RepoQuery())) == first
    assert fake.requests[-1]["path"] == "/search/repositories"
    assert fresh.requests_made >= 1 and fresh.cache_hits >= 1  # answered 304 from the ETag
    # the token is never written to the cache nor logged
    for f in cache.rglob("*"):
        if f.is_file():
            assert TOKEN not in f.read_text()
    assert TOKEN not in caplog.text


def test_tarball_endpoint_good_truncated_hostile_and_redirected(fake: FakeGithub, tmp_path: Path) -> None:
    good = make_tarball(
        "o-good-0123456", {"pkg/mod.py": "import os\nprint(os.sep)\n", "README.md": "# good\n"}
    )
    hostile = make_tarball(
        "",
        {
            "o-evil-1/ok.py": "x = 1\n",
            "o-evil-1/../../escape.py": "print('escaped')\n",
            "/etc/cron.d/evil": "* * * * * root true\n",
        },
        raw_names=True,
    )
    fake.repos += [
        Repo("o/good", "2020-01-01", 1, good),
        Repo("o/cut", "2020-01-01", 1, good, truncate_body=True),
        Repo("o/halfgz", "2020-01-01", 1, good[: len(good) // 2]),
        Repo("o/evil", "2020-01-01", 1, hostile),
        Repo("o/moved", "2020-01-01", 1, good),
    ]
    fake.errors_before_success = 1  # every endpoint first answers 502
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    repos = [
        {"name": n, "archive": f"{fake.url}/repos/{n}/tarball/main"}
        for n in ("o/good", "o/cut", "o/halfgz", "o/evil", "o/moved", "o/missing")
    ]
    fetcher = Fetcher(
        cache_dir=str(out / "cache"), api_url=fake.url, token_env="CF_TEST_TOKEN", backoff_s=0.01
    )
    reader = GithubRepoReader(repos, fetcher=fetcher)
    reader.bind_stage(str(out / "stage"), "github/fetched")
    old_tmp = tempfile.tempdir
    tempfile.tempdir = str(tmp)
    try:
        docs = list(reader.run(None, 0, 1))
    finally:
        tempfile.tempdir = old_tmp
    ids = sorted(d.id for d in docs)
    assert ids == [
        "github:o/evil/ok.py",
        "github:o/good/README.md",
        "github:o/good/pkg/mod.py",
        "github:o/moved/README.md",
        "github:o/moved/pkg/mod.py",
    ]
    good_doc = next(d for d in docs if d.id == "github:o/good/pkg/mod.py")
    assert good_doc.metadata["commit"] == COMMIT and good_doc.metadata["language"] == "Python"
    import pyarrow.parquet as pq

    drops = pq.read_table(out / "stage" / "drops" / "github-reader" / "00000.parquet").to_pylist()
    by_id = {d["id"]: (d["reason"], d["detail"]) for d in drops}
    assert by_id["github:o/cut"][0] == "fetch_failed" and "truncated" in by_id["github:o/cut"][1]
    assert by_id["github:o/halfgz"][0] == "corrupt_archive"
    assert by_id["github:o/missing"][0] == "fetch_failed" and "404" in by_id["github:o/missing"][1]
    unsafe = sorted(d["detail"] for d in drops if d["reason"] == "unsafe_path")
    assert unsafe == ["/etc/cron.d/evil", "o-evil-1/../../escape.py"]
    # nothing was written outside the output folder
    assert not (tmp_path / "escape.py").exists() and not any(tmp.iterdir())
    assert {p.name for p in tmp_path.iterdir()} == {"out", "tmp"}
    # the redirect went to another host, and the token did not go with it
    codeload = [r for r in fake.requests if r["path"].startswith("/codeload/")]
    assert codeload and all(r["auth"] is None for r in codeload)
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in fake.requests if r["path"].startswith("/repos/"))
    # resumable: fetched repositories are not fetched again, failed ones are tried again
    before = len(fake.requests)
    again = GithubRepoReader(repos, fetcher=fetcher)
    assert sorted(d.id for d in again.run(None, 0, 1)) == ids
    refetched = {r["path"] for r in fake.requests[before:]}
    assert refetched == {"/repos/o/cut/tarball/main", "/codeload/o+cut", "/repos/o/missing/tarball/main"} - {
        "/codeload/o+cut"
    }


def test_download_size_cap(fake: FakeGithub, tmp_path: Path) -> None:
    big = make_tarball("o-big-1", {f"f{i}.py": "x = 1\n" * 2000 for i in range(5)})
    fake.repos.append(Repo("o/big", "2020-01-01", 1, big))
    fetcher = Fetcher(
        cache_dir=str(tmp_path / "cache"),
        api_url=fake.url,
        token_env="CF_TEST_TOKEN",
        max_repo_bytes=len(big) - 1,
    )
    with pytest.raises(FetchError, match="cap"):
        fetcher.fetch({"name": "o/big", "archive": f"{fake.url}/repos/o/big/tarball/main"})
    assert not list((tmp_path / "cache").rglob("archive*"))
    # a size reported by the search API is checked before anything is downloaded
    asked = len(fake.requests)
    with pytest.raises(FetchError, match="GitHub reports 2048 KB"):
        fetcher.fetch({"name": "o/big", "archive": f"{fake.url}/repos/o/big/tarball/main", "size_kb": 2048})
    assert len(fake.requests) == asked


def test_a_cut_tarball_keeps_what_was_complete_and_is_recorded(tmp_path: Path) -> None:
    import random

    rng = random.Random(3)
    files = {
        f"pkg/m{i:02d}.py": "".join(f"name_{rng.randrange(10**9)} = {i}\n" for _ in range(200))
        for i in range(30)
    }
    whole = make_tarball("o-cut-1", files)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: int(len(whole) * 0.6)])
    reader = GithubRepoReader([{"name": "o/cut", "archive": str(cut)}])
    reader.bind_stage(str(tmp_path / "stage"), "github/documents")
    docs = list(reader.run(None, 0, 1))
    assert 5 < len(docs) < 30
    for d in docs:  # whatever is kept is complete
        assert d.text == files[d.metadata["path"]]
    import pyarrow.parquet as pq

    drops = pq.read_table(tmp_path / "stage" / "drops" / "github-reader" / "00000.parquet").to_pylist()
    repo = [d for d in drops if d["id"] == "github:o/cut"]
    assert len(repo) == 1 and repo[0]["reason"] == "corrupt_archive" and "members" in repo[0]["detail"]
    # every file of the archive is accounted for: kept, or recorded, or after the cut
    recorded = {d["id"] for d in drops} - {"github:o/cut"}
    assert not recorded & {d.id for d in docs}


def test_zipball_members_are_checked_like_tarball_members(tmp_path: Path) -> None:
    import stat
    import zipfile

    path = tmp_path / "repo.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("o-z-1/ok.py", "print('ok')\n")
        zf.writestr("o-z-1/../../escape.py", "x = 1\n")
        link = zipfile.ZipInfo("o-z-1/passwd")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("o-z-1/node_modules/x/index.js", "module.exports = 1;\n")
    reader = GithubRepoReader([{"name": "o/z", "archive": str(path)}])
    docs = [d.id for d in reader.run(None, 0, 1)]
    assert docs == ["github:o/z/ok.py"]
    reasons = sorted((i, r) for i, r, _ in reader._drops)
    assert reasons == [
        ("github:o/z/node_modules/x/index.js", "vendored"),
        ("github:o/z/o-z-1/../../escape.py", "unsafe_path"),  # recorded under its raw member name
        ("github:o/z/passwd", "symlink"),
    ]
    assert not (tmp_path.parent / "escape.py").exists()


def test_repeated_members_bad_names_and_repeated_repositories(tmp_path: Path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (
            ("r-1/a.py", b"A = 1\n"),
            ("r-1/a.py", b"A = 2\n"),
            (b"r-1/caf\xe9.py", b"B = 1\n"),
        ):
            info = tarfile.TarInfo(
                name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else name
            )
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "r.tar.gz"
    path.write_bytes(buf.getvalue())
    reader = GithubRepoReader([{"name": "o/r", "archive": str(path)}, {"name": "o/r", "archive": str(path)}])
    reader.bind_stage(str(tmp_path / "stage"), "github/documents")
    docs = list(reader.run(None, 0, 1))
    assert [(d.id, d.text) for d in docs] == [("github:o/r/a.py", "A = 1\n")]
    import pyarrow.parquet as pq

    drops = pq.read_table(tmp_path / "stage" / "drops" / "github-reader" / "00000.parquet").to_pylist()
    assert [(d["id"], d["reason"]) for d in drops] == [
        ("github:o/r/a.py", "duplicate_path"),
        ("github:o/r/caf\\xe9.py", "bad_path_encoding"),
        ("github:o/r", "duplicate_repository"),
    ]


def _search_windows(fake: FakeGithub) -> list[str]:
    """The `created:` window of each search (its first page only), in the order asked."""
    windows = []
    for r in fake.requests:
        params = urllib.parse.parse_qs(r["query"])
        if r["path"] == "/search/repositories" and "page" not in params:  # a window's first page
            windows.append(next(t for t in params["q"][0].split() if t.startswith("created:")))
    return windows


def test_a_day_over_the_result_cap_is_split_into_hours_then_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    """2600 repositories created on one day: the day is asked hour by hour, its one crowded hour
    (1100) minute by minute, and every repository comes back exactly once."""
    busy = [Repo(f"hour5/r{i}", f"2023-03-01T05:{i // 20:02d}:{i % 60:02d}", i) for i in range(1100)]
    quiet = [
        Repo(f"other/r{i}", f"2023-03-01T{[h for h in range(24) if h != 5][i % 23]:02d}:30:00", i)
        for i in range(1500)
    ]
    monkeypatch.setenv("CF_TEST_TOKEN", TOKEN)
    fake = FakeGithub([*busy, *quiet, *REPOS], token=TOKEN).start()
    try:
        api, _ = api_for(fake, None)
        query = RepoQuery(created_before=date(2023, 3, 3), created_after=date(2023, 2, 28))
        got = names(list(search_repositories(api, query)))
    finally:
        fake.stop()
    assert sorted(got) == sorted(r.name for r in busy + quiet) and len(got) == len(set(got))
    windows = _search_windows(fake)
    assert "created:2023-02-28..2023-03-02" in windows and "created:2023-03-01..2023-03-01" in windows
    hours = [w for w in windows if re.fullmatch(r"created:\S+T(\d\d):00:00Z\.\.\S+T\1:59:59Z", w)]
    assert len(hours) == 24 and "created:2023-03-01T05:00:00Z..2023-03-01T05:59:59Z" in hours
    minutes = [w for w in windows if re.fullmatch(r"created:\S+T(\d\d:\d\d):00Z\.\.\S+T\1:59Z", w)]
    assert len(minutes) == 60 and "created:2023-03-01T05:07:00Z..2023-03-01T05:07:59Z" in minutes
    assert all("T05:" in w for w in minutes)  # only the crowded hour is split further


def test_a_minute_over_the_cap_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    crowd = [Repo(f"crowd/r{i}", f"2023-03-01T05:07:{i % 60:02d}", i) for i in range(1001)]
    monkeypatch.setenv("CF_TEST_TOKEN", TOKEN)
    fake = FakeGithub(crowd, token=TOKEN).start()
    try:
        api, _ = api_for(fake, None)
        query = RepoQuery(created_before=date(2023, 3, 2), created_after=date(2023, 3, 1))
        with caplog.at_level(logging.WARNING, logger="corpus.github.search"):
            list(search_repositories(api, query))
    finally:
        fake.stop()
    assert "1001 repositories created in 2023-03-01T05:07:00Z..2023-03-01T05:07:59Z" in caplog.text
