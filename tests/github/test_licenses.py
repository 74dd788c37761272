"""Repository licenses from top-level license files, recorded (never filtered)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from corpus.github.licenses import identify_license, is_license_file
from corpus.github.repo_reader import GithubRepoReader
from tests.github.fake_github import make_tarball

MIT = "MIT License\n\nCopyright (c) 2021 Someone\n\nPermission is hereby granted, free of charge, to any person\n"
GPL3 = (
    "                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n\n"
    "...\n"
    * 50
    + "library, you may consider it more useful to permit linking proprietary applications with\n"
    "the library.  If this is what you want to do, use the GNU Lesser General Public License\n"
)


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        (MIT, "MIT"),
        (GPL3, "GPL-3.0"),  # its closing advice names the LGPL: the title decides
        ("GNU LESSER GENERAL PUBLIC LICENSE\nVersion 2.1, February 1999\n", "LGPL-2.1"),
        ("GNU AFFERO GENERAL PUBLIC LICENSE\n Version 3, 19 November 2007\n", "AGPL-3.0"),
        (
            "\n                                 Apache License\n                           Version 2.0, January 2004\n",
            "Apache-2.0",
        ),
        (
            "Copyright (c) 2020\n\nRedistribution and use in source and binary forms, with or without\n"
            "modification, are permitted ...\n3. Neither the name of the copyright holder ...\n",
            "BSD-3-Clause",
        ),
        ("Redistribution and use in source and binary forms, with or without modification\n", "BSD-2-Clause"),
        ("This is free and unencumbered software released into the public domain.\n", "Unlicense"),
        ("All rights reserved. Ask us.\n", None),
    ],
)
def test_identify(text: str, spdx: str | None) -> None:
    assert identify_license(text) == spdx


def test_license_file_names() -> None:
    assert all(is_license_file(n) for n in ("LICENSE", "LICENSE.md", "license.txt", "COPYING", "LICENCE"))
    assert not any(is_license_file(n) for n in ("docs/LICENSE", "LICENSES/x.txt", "license.py"))


def test_reader_records_the_license_of_tarballs_zips_and_folders(tmp_path: Path) -> None:
    files = {"src/a.py": "A = 1\n", "LICENSE": MIT, "vendor/x/LICENSE": GPL3}
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
