"""The real-code corpus, built once per test session.

The archives come from `make real-code` (python -m tests.realdata.fetch), which downloads the pins
of `packages.py` into a cache outside the repository; tests never touch the network. One archive,
pypi/requests, is built with planted files added (see `planted.py`): benchmark solutions that
decontamination must remove and a file whose only NUL byte lies past the 8 KiB probe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.realdata import fetch
from tests.realdata.packages import PACKAGES, cache_dir
from tests.realdata.planted import PLANTED_REPO, Planted, plant

pytestmark = pytest.mark.realdata


@dataclass(frozen=True)
class RealBuild:
    output: Path
    recipe: Path
    archives: dict[str, Path]  # repository -> archive the build read (the planted one included)
    planted: Planted
    stdout: str
    stderr: str

    @property
    def manifest(self) -> dict:
        return json.loads((self.output / "manifest.json").read_text())


def cached_archives() -> dict[str, Path]:
    """Every pinned archive, checked against its recorded digest; a clear failure when absent."""
    cache = cache_dir()
    found: dict[str, Path] = {}
    missing: list[str] = []
    for pkg in PACKAGES:
        hit = fetch.cached(cache, pkg)
        if hit is None:
            missing.append(pkg.repo)
        else:
            found[pkg.repo] = hit.path
    if missing:
        pytest.fail(
            f"the real-code corpus is missing or stale in {cache} ({', '.join(missing[:3])}"
            f"{' …' if len(missing) > 3 else ''}): run `make real-code` first",
            pytrace=False,
        )
    return found


def real_recipe(tmp: Path, output: Path, archives: dict[str, Path], **changes: object) -> Path:
    """recipes/real-code.yaml with the archives given and `changes` set at top level."""
    recipe = yaml.safe_load(fetch.RECIPE.read_text())
    for repo in recipe["sources"]["github"]["repos"]:
        repo["archive"] = str(archives[repo["name"]])
    recipe["output"] = str(output)
    recipe.update(changes)
    path = tmp / "real-code.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def real_archives() -> dict[str, Path]:
    return cached_archives()


@pytest.fixture(scope="session")
def real_build(real_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> RealBuild:
    tmp = tmp_path_factory.mktemp("real-code")
    planted = plant(real_archives[PLANTED_REPO], tmp / "planted.tar.gz")
    archives = {**real_archives, PLANTED_REPO: planted.archive}
    output = tmp / "out"
    recipe = real_recipe(tmp, output, archives)
    proc = run_cli("build", str(recipe), timeout=1200, check=True)
    return RealBuild(output, recipe, archives, planted, proc.stdout, proc.stderr)
