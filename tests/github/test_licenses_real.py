"""Licence detection on real published licence files, and the licence filter in a real build.

The files: licence files that installed packages publish in their `*.dist-info` (expected ids
read from each package's METADATA `License-Expression`/`License`/classifiers and checked against
the file: a bundled component's file is expected as that component's licence), the licence
texts Debian ships in /usr/share/common-licenses, and the top-level licence files of the pinned
real-code archives (their declared licence in `tests.realdata.packages`) when the cache has them.
Rows whose file is absent here are skipped; the present ones must all be right and cover at least
15 distinct SPDX ids.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from license_expression import Licensing

from corpus.github.licenses import is_license_file, match_license, repository_license
from tests.conftest import run_cli
from tests.github.fake_github import make_tarball
from tests.github.test_licenses import MIT
from tests.realdata.packages import PACKAGES, cache_dir

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
DEBIAN = Path("/usr/share/common-licenses")

#: (distribution, path inside its dist-info, expected): one licence file
DIST_FILES: tuple[tuple[str, str, str | None], ...] = (
    ("boolean_py", "licenses/LICENSE.txt", "BSD-2-Clause"),  # License: BSD-2-Clause
    ("certifi", "licenses/LICENSE", None),  # MPL-2.0 named in a notice, not its text: unknown
    ("cfn_lint", "licenses/LICENSE", "MIT-0"),  # License-Expression: MIT-0
    ("click", "licenses/LICENSE.txt", "BSD-3-Clause"),  # License-Expression: BSD-3-Clause
    ("flask", "licenses/LICENSE.txt", "BSD-3-Clause"),
    ("mdurl", "LICENSE", "MIT"),  # classifier: MIT License
    (
        "numpy",
        "licenses/numpy/_core/include/numpy/libdivide/LICENSE.txt",
        "Zlib",
    ),  # bundled, in its expression
    ("numpy", "licenses/numpy/_core/src/common/pythoncapi-compat/COPYING", "0BSD"),
    ("numpy", "licenses/numpy/linalg/lapack_lite/LICENSE.txt", "BSD-3-Clause-Open-MPI"),  # LAPACK's BSD
    ("orjson", "licenses/LICENSE-MPL-2.0", "MPL-2.0"),  # MPL-2.0 AND (Apache-2.0 OR MIT)
    ("pandas", "licenses/subprojects/fast_float-8.2.10/LICENSE-BOOST", "BSL-1.0"),  # fast_float's Boost file
    ("pexpect", "LICENSE", "ISC"),  # License: ISC license
    ("pygments", "licenses/LICENSE", "BSD-2-Clause"),
    ("python_magic", "LICENSE", "MIT AND BSD-2-Clause-Darwin"),  # MIT, then libmagic's (Ian Darwin's) BSD
    ("requests", "licenses/LICENSE", "Apache-2.0"),  # License: Apache-2.0
    ("requests", "licenses/NOTICE", None),  # a copyright line only
    (
        "torch",
        "licenses/third_party/kineto/libkineto/third_party/dynolog/third_party/cpr/test/LICENSE",
        "GPL-3.0",
    ),  # a bundled test fixture's GPL text
    ("tqdm", "licenses/LICENCE", "MPL-2.0 AND MIT"),  # License: MPL-2.0 AND MIT
    ("typing_extensions", "licenses/LICENSE", "Python-2.0.1 OR 0BSD"),  # CPython's licence stack
    ("wcwidth", "licenses/LICENSE", "MIT AND HPND-Markus-Kuhn"),  # MIT, then Markus Kuhn's wcwidth notice
)
#: (distribution, folder inside its dist-info, expected): licence files read as a repository's
DIST_FOLDERS: tuple[tuple[str, str, str], ...] = (
    ("cryptography", "licenses", "Apache-2.0 OR BSD-3-Clause"),  # License-Expression, the same
    ("packaging", "licenses", "Apache-2.0 OR BSD-2-Clause"),  # License-Expression, the same
)
#: Debian's copies of the licence texts (package base-files)
DEBIAN_FILES: tuple[tuple[str, str], ...] = (
    ("Apache-2.0", "Apache-2.0"),
    ("Artistic", "Artistic-1.0-Perl"),
    ("BSD", "BSD-3-Clause"),
    ("CC0-1.0", "CC0-1.0"),
    ("GFDL-1.3", "GFDL-1.3"),
    ("GPL-2", "GPL-2.0"),
    ("GPL-3", "GPL-3.0"),
    ("LGPL-2", "LGPL-2.0"),
    ("LGPL-2.1", "LGPL-2.1"),
    ("LGPL-3", "LGPL-3.0"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
)


def _dist_info(name: str) -> Path | None:
    found = sorted(SITE.glob(f"{name}-*.dist-info"))
    return found[-1] if found else None


def _real_code() -> list[tuple[str, dict[str, bytes], str]]:
    rows = []
    for package in PACKAGES:
        archive = cache_dir() / package.archive_name
        if not archive.exists():
            continue
        files: dict[str, bytes] = {}
        with tarfile.open(archive) as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and member.isfile() and is_license_file(parts[1]):
                    f = tar.extractfile(member)
                    files[parts[1]] = f.read() if f else b""
        if files:  # a package without a top-level licence file (ply) says so in its README only
            rows.append((f"real-code {package.archive_name}", files, package.license))
    return rows


def _results() -> list[tuple[str, str | None, str | None, float]]:
    """(where, expected, found, score) of every row present here, sorted."""
    out = []
    for dist, rel, expected in DIST_FILES:
        info = _dist_info(dist)
        if info is not None and (info / rel).is_file():
            found = match_license((info / rel).read_text("utf-8", "replace"))
            out.append((f"{info.name}/{rel}", expected, found.spdx, found.score))
    for dist, rel, expected in DIST_FOLDERS:
        info = _dist_info(dist)
        if info is not None and (info / rel).is_dir():
            files = {p.name: p.read_bytes() for p in (info / rel).iterdir() if p.is_file()}
            repo = repository_license(files)
            out.append((f"{info.name}/{rel}/", expected, repo.spdx, repo.score))
    for name, expected in DEBIAN_FILES:
        if (DEBIAN / name).is_file():
            found = match_license((DEBIAN / name).read_text("utf-8", "replace"))
            out.append((f"{DEBIAN}/{name}", expected, found.spdx, found.score))
    for where, files, expected in _real_code():
        repo = repository_license(files)
        out.append((where, expected, repo.spdx, repo.score))
    return sorted(out, key=lambda r: r[0])


def _ids(expression: str) -> set[str]:
    return set(Licensing().license_keys(Licensing().parse(expression)))


def test_detection_on_real_licence_files() -> None:
    results = _results()
    if not results:
        pytest.skip("no published licence files here")
    by_id: dict[str, list[bool]] = defaultdict(list)
    for _where, expected, found, _score in results:
        for spdx in _ids(expected) if expected else {"(unknown)"}:
            by_id[spdx].append(found == expected)
    print(f"\n{'SPDX id':<24} {'files':>5} {'right':>5}")
    for spdx in sorted(by_id, key=str.casefold):
        print(f"{spdx:<24} {len(by_id[spdx]):>5} {sum(by_id[spdx]):>5}")
    wrong = [r for r in results if r[1] != r[2]]
    assert not wrong, "\n".join(f"{w}: expected {e}, found {f} (score {s})" for w, e, f, s in wrong)
    assert len(set(by_id) - {"(unknown)"}) >= 15, sorted(by_id)


def _text(*candidates: Path) -> str | None:
    return next((p.read_text() for p in candidates if p.is_file()), None)


@pytest.mark.parametrize("unlicensed", ["keep", "drop"])
def test_permissive_preset_in_a_build(tmp_path: Path, unlicensed: str) -> None:
    info = _dist_info("requests")
    apache = _text(DEBIAN / "Apache-2.0", *([info / "licenses" / "LICENSE"] if info else []))
    gpl = _text(DEBIAN / "GPL-3")
    if apache is None or gpl is None:
        pytest.skip("no Apache-2.0 or GPL-3.0 text here")
    code = "def area(width, height):\n    return width * height\n"
    repos = {
        "copyleft/tool": {"LICENSE": gpl, "tool.py": code},
        "plain/tool": {"LICENSE": MIT, "tool.py": code},
        "nobody/tool": {"tool.py": code},
        "dual/tool": {"LICENSE-APACHE": apache, "LICENSE-MIT": MIT, "tool.py": code},
    }
    lines = []
    for name, files in repos.items():
        archive = tmp_path / f"{name.replace('/', '-')}.tar.gz"
        archive.write_bytes(make_tarball(f"{name.replace('/', '-')}-1", files))
        lines.append(f"      - {{name: {name}, archive: {archive}}}")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: licences\nexecutor: {tasks: 1, workers: 1}\nsources:\n  github:\n    repos:\n"
        + "\n".join(lines)
        + f"\n    curation:\n      samples: {{enabled: false}}\n"
        f"      licenses: {{preset: permissive, unlicensed: {unlicensed}}}\n"
    )
    out = tmp_path / "out"
    run_cli("build", str(recipe), "--output", str(out), check=True)

    files = out / "github" / "files"
    kept = pl.read_parquet(files / "data" / "*.parquet")
    kept_ids = set(kept["id"].to_list())
    drops = pl.read_parquet(files / "drops" / "licenses" / "*.parquet")
    dropped = dict(zip(drops["id"], drops["detail"], strict=True))
    assert set(drops["reason"]) == {"license"}
    assert "github:copyleft/tool/tool.py" in dropped
    assert re.search(
        r"GPL-3\.0 not allowed \(preset permissive\) \[license from LICENSE\]",
        dropped["github:copyleft/tool/tool.py"],
    )
    assert "github:plain/tool/tool.py" in kept_ids
    assert "github:dual/tool/tool.py" in kept_ids
    dual = json.loads(kept.filter(pl.col("id") == "github:dual/tool/tool.py")["metadata"][0])
    # the reader records the first recognised file, or the pair once it reads them together
    assert dual["license"] == "Apache-2.0 OR MIT"
    if unlicensed == "keep":
        assert "github:nobody/tool/tool.py" in kept_ids
    else:
        assert dropped["github:nobody/tool/tool.py"] == "no licence (unlicensed: drop)"
    steps = json.loads((files / "stats.json").read_text())
    counts = next(step["stats"] for step in steps if step["name"].endswith("licenses"))
    assert (counts["repos"], counts["repos_unlicensed"]) == (4, 1)
    assert counts["repos_dropped"] == (1 if unlicensed == "keep" else 2)
    assert "license" in run_cli("inspect", str(out), check=True).stdout
