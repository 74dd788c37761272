"""Getting a repository onto local disk: a shallow git clone or a tarball, resumable and capped.

Nothing from a repository runs: clones use an empty template folder and `core.hooksPath=/dev/null`
(no hook can be installed or run), submodules are not fetched, Git LFS filters are disabled (LFS
pointers stay pointers and are recorded as such by the walker), only the file, git, http(s) and
ssh transports are allowed (no `ext::` commands), and credentials are never prompted for.

A fetched repository is kept under `cache_dir/<owner>/<name>/` with a `fetched.json` marker written
last, so a re-run reuses it and a crash mid-fetch leaves nothing that looks finished. Downloads and
clones stop as soon as they pass `max_repo_bytes` (the partial copy is deleted).

The token for the GitHub API goes only to the API's own origin (scheme, host and port of
`api_url`) and is never written anywhere. A tarball request is redirected by GitHub to a download
host (codeload.github.com); redirects are followed, but the `Authorization` header is dropped as
soon as a hop leaves the API origin (urllib alone would carry it along). Clones never get the
token: git is not given it in the URL, a config or a header, so it cannot end up in `.git/config`,
in git's messages or in a drop record. Error text from a server or from git is scrubbed of the
token and of credential-looking values before it becomes a `FetchError` message.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from corpus.core.atomic import atomic_write_text, split_url
from corpus.github.host_rate_limit import HostRateLimit
from corpus.github.search import same_origin, scrub

MARKER = "fetched.json"
_GIT_PROTOCOLS = "file:git:http:https:ssh"
_CHUNK = 1 << 20
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")


class FetchError(Exception):
    """A repository that could not be fetched; the message is recorded in its drop record."""


@dataclass
class FetchedRepo:
    kind: str  # folder | tar | zip
    path: str
    commit: str | None = None
    temporary: str | None = None  # a folder to delete once read (no cache configured)


@dataclass
class Fetcher:
    """How repositories are fetched. `cache_dir=None` fetches into a temporary folder per repository
    (deleted after reading); a cache folder makes fetching resumable across runs."""

    cache_dir: str | None = None
    api_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"
    max_repo_bytes: int = 500_000_000
    timeout_s: float = 600.0
    retries: int = 3
    backoff_s: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    #: paces archive downloads per host across the tasks of one node (None: unpaced)
    rate: HostRateLimit | None = None

    # -- public -------------------------------------------------------------------------------
    def fetch(self, repo: dict[str, Any]) -> FetchedRepo:
        if repo.get("path"):
            return FetchedRepo("folder", repo["path"], repo.get("commit"))
        archive = repo.get("archive")
        if archive and "://" not in archive:
            return FetchedRepo(_archive_kind(archive), archive, repo.get("commit"))
        size_kb = repo.get("size_kb")  # the search API's repository size: refuse before fetching
        if isinstance(size_kb, int) and size_kb * 1024 > self.max_repo_bytes:
            raise FetchError(f"GitHub reports {size_kb} KB, over the cap of {self.max_repo_bytes} bytes")
        folder, temporary = self._repo_folder(repo["name"])
        marker = os.path.join(folder, MARKER)
        if os.path.exists(marker):
            with open(marker, encoding="utf-8") as f:
                done = json.load(f)
            return FetchedRepo(done["kind"], os.path.join(folder, done["path"]), done.get("commit"))
        try:
            if archive:
                kind, rel, commit = self._download(archive, folder)
            elif repo.get("url"):
                kind, rel, commit = self._clone(repo["url"], folder, repo.get("commit"))
            else:
                raise FetchError("no path, archive or url to fetch from")
        except BaseException:
            shutil.rmtree(temporary or folder, ignore_errors=True)
            raise
        commit = repo.get("commit") or commit
        if not temporary:
            atomic_write_text(marker, json.dumps({"kind": kind, "path": rel, "commit": commit}))
        return FetchedRepo(kind, os.path.join(folder, rel), commit, temporary)

    # -- internals ----------------------------------------------------------------------------
    def _repo_folder(self, name: str) -> tuple[str, str | None]:
        if self.cache_dir is None:
            tmp = tempfile.mkdtemp(prefix="coderforge-repo-")
            return tmp, tmp
        owner, _, repo = name.partition("/")
        folder = os.path.join(self.cache_dir, _safe(owner), _safe(repo))
        os.makedirs(folder, exist_ok=True)
        return folder, None

    def _token(self) -> str | None:
        return (os.environ.get(self.token_env) or None) if self.token_env else None

    def _auth_headers(self, url: str) -> dict[str, str]:
        headers = {"User-Agent": "coderforge", **self.headers}
        token = self._token()
        if token and same_origin(url, self.api_url):
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _download(self, url: str, folder: str) -> tuple[str, str, str | None]:
        kind = _archive_kind(url)
        rel = "archive.zip" if kind == "zip" else "archive.tar.gz"
        final = os.path.join(folder, rel)
        tmp = final + ".part"
        if not url.startswith(("http://", "https://")):
            fs, p = split_url(url)
            size = fs.size(p)
            if size is not None and size > self.max_repo_bytes:
                raise FetchError(f"archive is {size} bytes, over the cap of {self.max_repo_bytes}")
            fs.get(p, tmp)
            os.replace(tmp, final)
            return kind, rel, None
        for attempt in range(self.retries + 1):
            if self.rate is not None:
                self.rate.wait(url)
            try:
                self._http_download(url, tmp)
                break
            except urllib.error.HTTPError as e:
                if e.code < 500 or attempt == self.retries:
                    raise FetchError(f"HTTP {e.code} for {_redact(url)}") from None
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as e:
                if attempt == self.retries:
                    detail = scrub(str(e), self._token())
                    raise FetchError(f"download failed: {type(e).__name__}: {detail}") from None
            time.sleep(self.backoff_s * 2**attempt)
        os.replace(tmp, final)
        return kind, rel, None

    def _http_download(self, url: str, dest: str) -> None:
        req = urllib.request.Request(url, headers=self._auth_headers(url))
        opener = urllib.request.build_opener(_NoCredentialsElsewhere(self.api_url))
        with opener.open(req, timeout=self.timeout_s) as resp, open(dest, "wb") as out:
            length = resp.headers.get("Content-Length")
            if length and int(length) > self.max_repo_bytes:
                raise FetchError(f"archive is {length} bytes, over the cap of {self.max_repo_bytes}")
            total = 0
            while chunk := resp.read(_CHUNK):
                total += len(chunk)
                if total > self.max_repo_bytes:
                    raise FetchError(f"archive passed the cap of {self.max_repo_bytes} bytes")
                out.write(chunk)
            if length and total != int(length):
                raise FetchError(f"archive truncated: {total} of {length} bytes")

    def _clone(self, url: str, folder: str, commit: str | None) -> tuple[str, str, str | None]:
        dest = os.path.join(folder, "checkout")
        shutil.rmtree(dest, ignore_errors=True)
        template = os.path.join(folder, ".empty-template")
        os.makedirs(template, exist_ok=True)
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_LFS_SKIP_SMUDGE": "1",
            "GIT_ALLOW_PROTOCOL": _GIT_PROTOCOLS,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TEMPLATE_DIR": template,
        }
        base = [
            "git",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "filter.lfs.smudge=",
            "-c",
            "filter.lfs.process=",
            "-c",
            "filter.lfs.required=false",
            "-c",
            "submodule.recurse=false",
        ]
        clone = [*base, "clone", "--quiet", "--no-tags", "--depth", "1", "--template", template]
        clone += ["--no-recurse-submodules"]
        if commit:
            clone += ["--no-checkout"]
        self._run_capped([*clone, "--", url, dest], env, dest)
        if commit:
            self._run_capped(
                [*base, "-C", dest, "fetch", "--quiet", "--depth", "1", "origin", commit], env, dest
            )
            self._run_capped([*base, "-C", dest, "checkout", "--quiet", commit], env, dest)
        head = subprocess.run(
            [*base, "-C", dest, "rev-parse", "HEAD"], env=env, capture_output=True, text=True, timeout=60
        )
        shutil.rmtree(os.path.join(dest, ".git"), ignore_errors=True)
        shutil.rmtree(template, ignore_errors=True)
        return "folder", "checkout", head.stdout.strip() or None

    def _run_capped(self, cmd: list[str], env: dict[str, str], watch: str) -> None:
        """Run git, killing it when the folder it writes passes the size cap or time runs out."""
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL
            )
            start = time.monotonic()
            pause = 0.01
            while proc.poll() is None:
                time.sleep(pause)
                pause = min(pause * 2, 0.5)  # quick for small repositories, cheap for big ones
                if time.monotonic() - start > self.timeout_s:
                    proc.kill()
                    proc.wait()
                    raise FetchError(f"git timed out after {self.timeout_s:.0f} s")
                if _tree_bytes(watch) > self.max_repo_bytes:
                    proc.kill()
                    proc.wait()
                    raise FetchError(f"repository passed the cap of {self.max_repo_bytes} bytes")
            if proc.returncode != 0:
                err.seek(0)
                message = err.read().decode("utf-8", "replace").strip().splitlines()
                last = _strip_userinfo(message[-1]) if message else ""
                raise FetchError(f"git exited {proc.returncode}: {scrub(last, self._token())}")
        if _tree_bytes(watch) > self.max_repo_bytes:
            raise FetchError(f"repository passed the cap of {self.max_repo_bytes} bytes")


class _NoCredentialsElsewhere(urllib.request.HTTPRedirectHandler):
    """Follow redirects (the tarball endpoint answers 302 to a download host) without carrying
    the API token off the API origin. Checked against `api_url` itself, not the previous hop,
    and once dropped the header never comes back on a later hop."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not same_origin(newurl, self.api_url):
            new.headers.pop("Authorization", None)
            new.unredirected_hdrs.pop("Authorization", None)
        return new


def _archive_kind(path: str) -> str:
    return "zip" if urllib.parse.urlparse(path).path.endswith(".zip") else "tar"


def _safe(part: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in part)
    return cleaned.lstrip(".") or "_"


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _strip_userinfo(text: str) -> str:
    """`scheme://user:secret@host` -> `scheme://host` wherever a URL appears in git's words (a
    clone URL given with credentials in it; recent git hides them itself, older git may not)."""
    return _URL_USERINFO.sub(r"\1", text)


def _tree_bytes(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total
