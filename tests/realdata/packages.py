"""The pinned real-code corpus: published source releases from package registries.

Each pin names one file as its registry serves it (a PyPI sdist, an npm tarball or a Debian
package) and the sha256 of that file. `python -m tests.realdata.fetch` downloads each file once
with the registry's ordinary client, checks the hash, and turns it into a GitHub-style archive
(`<archive_name>`, one top-level folder) in the cache. Nothing of it lives in the repository.

The features a build must meet in real code, and which pin has them (the `features` notes):

1. a test-fixture module named like its package, in a `src/` layout project
2. `if TYPE_CHECKING:` imports
3. a C/C++ include cycle
4. a Java package whose classes use each other without imports
5. C# sources that use types of their own namespace without `using`
6. amalgamated single-file headers / sources
7. a "generated ... do not edit" banner in the first lines
8. private keys and certificates as test fixtures
9. licence files
10. program output and log files (expected outputs, parser tables, saved benchmark runs)

`tests/realdata/inventory.py` lists where each feature is, read from the archives themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Registry = Literal["pypi", "npm", "debian"]

#: environment variable naming the cache folder
CACHE_ENV = "CODERFORGE_REAL_CODE"
#: the cache when the variable is unset (written `~/...` in recipes/real-code.yaml)
DEFAULT_CACHE = "~/.cache/coderforge/real-code"


@dataclass(frozen=True)
class Package:
    registry: Registry
    name: str
    version: str
    sha256: str
    repo: str
    languages: tuple[str, ...]
    license: str
    features: dict[int, str] = field(default_factory=dict)

    @property
    def spec(self) -> str:
        """The requirement as the registry's client takes it."""
        return {
            "pypi": f"{self.name}=={self.version}",
            "npm": f"{self.name}@{self.version}",
            "debian": f"{self.name}={self.version}",
        }[self.registry]

    @property
    def slug(self) -> str:
        """`owner-name-version`, safe as a file name (Debian versions may hold `:` and `~`)."""
        safe = "".join(c if c.isalnum() or c in "._-+" else "_" for c in self.version)
        return f"{self.repo.replace('/', '-')}-{safe}"

    @property
    def archive_name(self) -> str:
        """The GitHub-style archive this pin becomes in the cache."""
        return f"{self.slug}.tar.gz"

    @property
    def top_folder(self) -> str:
        """The archive's one top-level folder, `owner-name-<7 hex>` like GitHub's tarballs."""
        return f"{self.repo.replace('/', '-')}-{self.sha256[:7]}"


PACKAGES: tuple[Package, ...] = (
    Package(
        "pypi",
        "flask",
        "3.1.2",
        "bf656c15c80190ed628ad08cdfd3aaa35beb087855e2f494910aa3774cc4fd87",
        "pypi/flask",
        ("Python", "HTML", "JavaScript"),
        "BSD-3-Clause",
        {
            1: "src/flask + tests/test_apps/cliapp/inner1/inner2/flask.py",
            2: "if t.TYPE_CHECKING: in src/flask/*.py",
            9: "LICENSE.txt (and docs/license.rst)",
        },
    ),
    Package(
        "pypi",
        "requests",
        "2.34.2",
        "f288924cae4e29463698d6d60bc6a4da69c89185ad1e0bcc4104f584e960b9ed",
        "pypi/requests",
        ("Python",),
        "Apache-2.0",
        {
            1: "src/requests layout",
            2: "if TYPE_CHECKING: in src/requests",
            8: "tests/certs/**: PEM keys (*.key), certificates (*.crt, *.pem), CSRs",
            9: "LICENSE, NOTICE",
        },
    ),
    Package(
        "pypi",
        "paramiko",
        "5.1.0",
        "239b5f9b2a53006cd54f83cf8495ee742083708ead947882c8dd2786de79f39b",
        "pypi/paramiko",
        ("Python",),
        "LGPL-2.1",
        {
            8: "tests/*.key, tests/_support/*.key: RSA, EC, OpenSSH, PKCS#8 keys; *-cert.pub OpenSSH certificates",
            9: "LICENSE",
        },
    ),
    Package(
        "pypi",
        "jpype1",
        "1.7.1",
        "3cd88838dc3d2d546f7eaeadaaff864e590010c15f2b6a44b6f37e60796a14b2",
        "pypi/jpype1",
        ("Python", "C++", "Java"),
        "Apache-2.0",
        {
            4: "native/jpype_module/src/main/java/org/jpype/manager: TypeManager uses TypeFactory, "
            "ClassDescriptor, ... without imports",
            9: "LICENSE, NOTICE",
        },
    ),
    Package(
        "pypi",
        "pythonnet",
        "3.2.1",
        "c86e8dd31268f6e0c48fcc4d6030041316d49ed2764a1cb6ea8c37876e07c572",
        "pypi/pythonnet",
        ("C#", "Python"),
        "MIT",
        {
            5: "src/runtime/*.cs, namespace Python.Runtime: Converter.cs uses ClassManager, Runtime.cs "
            "uses PythonEngine",
            9: "LICENSE",
        },
    ),
    Package(
        "pypi",
        "pyroaring",
        "1.2.0",
        "e33bf8fc8d8aad7373f62147cb5dbfaf0fdcf19af8069d034cd8ef4fb41a78af",
        "pypi/pyroaring",
        ("C", "Cython", "Python"),
        "MIT",
        {
            6: "pyroaring/roaring.c + roaring.h: CRoaring amalgamation (each under 1 MB)",
            7: "roaring.c/.h line 1: '!!! DO NOT EDIT - THIS IS AN AUTO-GENERATED FILE !!!'",
            9: "LICENSE",
        },
    ),
    Package(
        "pypi",
        "pysimdjson",
        "7.0.2",
        "44cf276e48912a3b9c7ca362c14da8420a7ac15a9f1a16ec95becff86db3904a",
        "pypi/pysimdjson",
        ("C++", "Cython", "Python"),
        "MIT",
        {
            6: "simdjson/simdjson.h (5.3 MB) + simdjson.cpp (2.4 MB): simdjson amalgamation, over 1 MB",
            7: "simdjson.h/.cpp line 1: 'auto-generated on ... Do not edit!'",
            9: "LICENSE",
        },
    ),
    Package(
        "pypi",
        "msgpack",
        "1.2.4",
        "475c44e12f2a5de766a8448783f149c9b33f3f49b88953c6cd739a77d93c732c",
        "pypi/msgpack",
        ("C", "Cython", "Python"),
        "Apache-2.0",
        {
            7: "msgpack/_cmsgpack.c line 1: 'Generated by Cython 3.3.0' (1.2 MB)",
            9: "COPYING",
        },
    ),
    Package(
        "pypi",
        "ply",
        "3.11",
        "00c7c1aaa88358b9c765b6d3000c6eec0ba42abca5351b095321aef446081da3",
        "pypi/ply",
        ("Python",),
        "BSD-3-Clause",
        {
            7: "test/**/parsetab.py: 'This file is automatically generated. Do not edit.'",
            10: "test/parser.out, test/pkg_test*/**/parser.out: yacc's debugging output",
        },
    ),
    Package(
        "pypi",
        "pytest-benchmark",
        "5.3.1",
        "c1ee70a58f9bfb1ac955cc634247a340b0df7bcb949071cfca396f16c6fc3516",
        "pypi/pytest-benchmark",
        ("Python",),
        "BSD-2-Clause",
        {10: "tests/test_storage/NNNN_<commit>_<date>_<time>_*.json: saved benchmark runs", 9: "LICENSE"},
    ),
    Package(
        "pypi",
        "coverage",
        "7.17.5",
        "4f41d35b798714a2e79ec2097d6b03c92cd3b7de58e422fce7a1ca2c0c25b276",
        "pypi/coverage",
        ("Python", "C"),
        "Apache-2.0",
        {
            10: "tests/gold/**: expected reports (annotate *.py,cover, html, xml)",
            9: "LICENSE.txt, NOTICE.txt",
        },
    ),
    Package(
        "pypi",
        "bcrypt",
        "5.0.0",
        "f748f7c2d6fd375cc93d3fba7ef4a9e3a092421b8dbf34d8d4dc06be9492dfdd",
        "pypi/bcrypt",
        ("Rust", "Python"),
        "Apache-2.0",
        {1: "src/ layout (src/bcrypt, src/_bcrypt Rust crate)", 9: "LICENSE"},
    ),
    Package(
        "pypi",
        "setuptools-golang-examples",
        "2.2.0",
        "5fdf9d084d2dc969c03eebc70ee942d7a107041acc363556116502b47a203364",
        "pypi/setuptools-golang-examples",
        ("Go", "C", "Python"),
        "MIT",
        {9: "LICENSE"},
    ),
    Package(
        "npm",
        "node-addon-api",
        "8.9.2",
        "4cd65698541b19a33f798f1dc25c02c6ed1c9d7749b8824b1a1ccecdd197c8ea",
        "npm/node-addon-api",
        ("C++", "JavaScript"),
        "MIT",
        {3: "napi.h includes napi-inl.h, which includes napi.h", 9: "LICENSE.md"},
    ),
    Package(
        "npm",
        "immer",
        "11.2.14",
        "590d2d7d6b5a114cbbe07af2ca99ee9c4fd362f135d1757b14c869c445e9dc22",
        "npm/immer",
        ("TypeScript", "JavaScript"),
        "MIT",
        {9: "LICENSE"},
    ),
)


def cache_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: `cache` if given, else $CODERFORGE_REAL_CODE, else ~/.cache/coderforge/real-code."""
    chosen = cache if cache is not None else (os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    return Path(chosen).expanduser().absolute()


CACHE = cache_dir()


def by_repo() -> dict[str, Package]:
    return {p.repo: p for p in PACKAGES}


def with_feature(number: int) -> list[Package]:
    return [p for p in PACKAGES if number in p.features]
