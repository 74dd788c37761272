"""Repository licences: detection from licence files (short texts written out here; the real
published files are in `test_licenses_real.py`), the per-repository rules, the recipe policy."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from corpus.core.errors import UserError
from corpus.github.config import LicensesConfig
from corpus.github.license_policy import LicensePolicy, check_ids
from corpus.github.licenses import (
    MIN_SCORE,
    identify_license,
    is_license_file,
    match_license,
    repository_license,
)
from corpus.github.repo_reader import GithubRepoReader
from tests.github.fake_github import make_tarball

MIT = """MIT License

Copyright (c) 2021 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
BSD2 = """Copyright (c) 2020, Someone
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""
BSD3 = BSD2.replace(
    """   and/or other materials provided with the distribution.
""",
    """   and/or other materials provided with the distribution.

3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
""",
)
ISC = """Copyright (c) 2019, Someone

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""
UNLICENSE = """This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or
distribute this software, either in source code form or as a compiled
binary, for any purpose, commercial or non-commercial, and by any
means.

In jurisdictions that recognize copyright laws, the author or authors
of this software dedicate any and all copyright interest in the
software to the public domain. We make this dedication for the benefit
of the public at large and to the detriment of our heirs and
successors. We intend this dedication to be an overt act of
relinquishment in perpetuity of all present and future rights to this
software under copyright law.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR
OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR
OTHER DEALINGS IN THE SOFTWARE.

For more information, please refer to <https://unlicense.org>
"""


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        (MIT, "MIT"),
        (BSD2, "BSD-2-Clause"),
        (BSD3, "BSD-3-Clause"),  # the third clause tells them apart
        (ISC, "ISC"),
        (UNLICENSE, "Unlicense"),
        ("# MIT License\n\n" + MIT.split("\n", 1)[1].replace("\n", " \n"), "MIT"),  # Markdown, reflowed
        (MIT + "\n\nThe bundled parser:\n\n" + ISC, "MIT AND ISC"),  # bundled code: both apply
        (
            "Dual licensed: use it at your option under either licence.\n\n" + MIT + "\n" + BSD2,
            "MIT OR BSD-2-Clause",
        ),
        ("All rights reserved. Ask us.\n", None),
        ("This project is MIT licensed, see the website.\n", None),
    ],
)
def test_identify(text: str, spdx: str | None) -> None:
    assert identify_license(text) == spdx


def test_unknown_is_reported_with_the_best_score() -> None:
    """A licence text drowned in other prose is not a licence file: unknown, with what was seen."""
    found = match_license(MIT + "This is a toy project to learn parsing.\n" * 60)
    assert found.spdx is None and found.best == "MIT"
    assert 0 < found.score < MIN_SCORE
    assert match_license("nothing here\n") == match_license("nothing here\n")
    assert match_license("nothing here\n").best is None


def test_license_file_names() -> None:
    names = ("LICENSE", "LICENSE.md", "license.txt", "COPYING", "LICENCE", "UNLICENSE", "NOTICE")
    assert all(is_license_file(n) for n in names)
    assert all(
        is_license_file(n) for n in ("LICENSE-MIT", "LICENSE.APACHE", "COPYING.LESSER", "LICENSE_1_0.txt")
    )
    assert not any(
        is_license_file(n) for n in ("docs/LICENSE", "LICENSES/x.txt", "license.py", "licenses.json")
    )


@pytest.mark.parametrize(
    ("files", "spdx", "source"),
    [
        ({"LICENSE": MIT, "src/x.py": "X = 1\n"}, "MIT", "LICENSE"),
        ({"LICENSE-MIT": MIT, "LICENSE-BSD": BSD2}, "BSD-2-Clause OR MIT", "LICENSE-BSD,LICENSE-MIT"),
        (
            {
                "LICENSE": "Either LICENSE-MIT or LICENSE-BSD, at your option.",
                "LICENSE-MIT": MIT,
                "LICENSE-BSD": BSD2,
            },
            "BSD-2-Clause OR MIT",
            "LICENSE-BSD,LICENSE-MIT",
        ),
        ({"LICENSE": MIT, "COPYING": BSD3}, "BSD-3-Clause AND MIT", "COPYING,LICENSE"),  # not the dual naming
        (
            {"LICENSE-A": MIT, "LICENSE-B": BSD2, "LICENSE-C": ISC},
            "MIT AND BSD-2-Clause AND ISC",
            "LICENSE-A,LICENSE-B,LICENSE-C",
        ),
        ({"LICENSE": MIT, "NOTICE": ISC}, "MIT", "LICENSE"),  # a NOTICE quoting bundled licences
        ({"NOTICE.txt": ISC}, "ISC", "NOTICE.txt"),
        ({"LICENSE.md": MIT, "LICENSE.txt": MIT}, "MIT", "LICENSE.md"),
        ({"README.md": MIT}, None, None),
        ({"LICENSE": "Proprietary. All rights reserved.\n"}, None, None),
    ],
)
def test_repository_license(files: dict[str, str], spdx: str | None, source: str | None) -> None:
    found = repository_license(files)
    assert (found.spdx, found.source) == (spdx, source)


def test_reader_records_the_license_of_tarballs_zips_and_folders(tmp_path: Path) -> None:
    files = {"src/a.py": "A = 1\n", "LICENSE": MIT, "vendor/x/LICENSE": BSD3}
    tar = tmp_path / "r.tar.gz"
    tar.write_bytes(make_tarball("o-r-1", files))
    zpath = tmp_path / "r.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"o-r-1/{name}", text)
    folder = tmp_path / "r"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    repos = [
        {"name": "o/tar", "archive": str(tar)},
        {"name": "o/zip", "archive": str(zpath)},
        {"name": "o/dir", "path": str(folder)},
        {"name": "o/said", "path": str(folder), "license": "Apache-2.0"},  # the list wins
    ]
    docs = {d.id: d.metadata for d in GithubRepoReader(repos).run(None, 0, 1)}
    for repo in ("tar", "zip", "dir"):
        meta = docs[f"github:o/{repo}/src/a.py"]
        assert (meta["license"], meta["license_source"]) == ("MIT", "LICENSE")
    said = docs["github:o/said/src/a.py"]
    assert (said["license"], said["license_source"]) == ("Apache-2.0", "list")


@pytest.mark.parametrize(
    ("policy", "license_", "kept"),
    [
        (LicensePolicy(), "GPL-3.0", True),  # the default keeps everything
        (LicensePolicy(), None, True),
        (LicensePolicy("permissive"), "MIT", True),
        (LicensePolicy("permissive"), "mit", True),
        (LicensePolicy("permissive"), "GPL-3.0-only", False),
        (LicensePolicy("permissive"), "MIT OR GPL-3.0", True),  # OR: one branch is enough
        (LicensePolicy("permissive"), "MIT AND GPL-3.0", False),  # AND: all must pass
        (LicensePolicy("permissive"), "Apache-2.0 WITH LLVM-exception", True),
        (LicensePolicy("permissive"), "Apache 2", False),  # no SPDX expression: an unknown id
        (LicensePolicy("permissive"), None, True),
        (LicensePolicy("permissive"), "NOASSERTION", True),
        (LicensePolicy("permissive", unlicensed="drop"), "NOASSERTION", False),
        (LicensePolicy("permissive", unlicensed="drop"), None, False),
        (LicensePolicy("permissive", allow=("LGPL-2.1",)), "LGPL-2.1-or-later", True),
        (LicensePolicy("permissive", deny=("MIT",)), "MIT", False),
        (LicensePolicy("any", deny=("GPL-3.0",)), "GPL-3.0+", False),  # a bare id covers its variants
        (LicensePolicy("any", deny=("GPL-3.0-only",)), "GPL-3.0-or-later", True),
        (LicensePolicy("none", allow=("GPL-2.0-or-later",)), "GPL-2.0+", True),
        (LicensePolicy("none", allow=("GPL-2.0-or-later",)), "GPL-2.0-only", False),
    ],
)
def test_policy(policy: LicensePolicy, license_: str | None, kept: bool) -> None:
    why = policy.refuses(license_)
    assert (why is None) == kept, why


def test_policy_config() -> None:
    assert LicensesConfig().model_dump() == {"preset": "any", "allow": [], "deny": [], "unlicensed": "keep"}
    with pytest.raises(ValidationError, match="allow has no effect with preset any"):
        LicensesConfig(allow=["MIT"])
    with pytest.raises(ValidationError, match="not an SPDX licence id"):
        LicensesConfig(preset="permissive", allow=["MIT OR GPL-3.0"])
    with pytest.raises(UserError, match="'Apache2' is not an SPDX licence id"):
        check_ids(["MIT", "LicenseRef-mine", "GPL-2.0+", "Apache2"], "allow")
