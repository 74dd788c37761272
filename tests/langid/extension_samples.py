"""Real files for the extension table (`classifiers.langid.extensions`), from a pinned release.

    python -m tests.langid.extension_samples     # download the pin once into the real-code cache

Pygments' source release carries its lexers' example files (``tests/examplefiles/<lexer>/``),
among them a MIPS assembler program named ``.mips`` and a Turbo Assembler one named ``.tasm``:
written by other people for other tools, and the extensions the table exists for. The sdist is
fetched with ``pip download``, checked against its sha256 and kept in the real-code cache's
``downloads/`` folder (`tests.realdata.fetch`), never in the repository; tests read it from there
and skip, naming this command, when it is missing.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

from tests.realdata.fetch import FetchError, download, sha256_file
from tests.realdata.packages import Package, cache_dir

PYGMENTS = Package(
    "pypi",
    "pygments",
    "2.19.2",
    "636cb2477cec7f8952536970bc533bc43743542f70392ae026374600add5b887",
    "pygments/pygments",
    ("GAS", "Assembly"),
    "BSD-2-Clause",
)
#: example files used by the tests, by their path inside the sdist's top folder
EXAMPLES = (
    "tests/examplefiles/mips/function_with_stack.mips",
    "tests/examplefiles/tasm/example.tasm",
)


def _downloads() -> Path:
    return cache_dir() / "downloads"


def cached_sdist() -> Path | None:
    """The pinned sdist in the cache when it is there with the right hash; no network."""
    for present in sorted(_downloads().glob(f"{PYGMENTS.slug}.*")):
        if not present.name.startswith(".") and sha256_file(present) == PYGMENTS.sha256:
            return present
    return None


def examples(sdist: Path) -> dict[str, bytes]:
    """{path under the top folder: content} of `EXAMPLES`."""
    out: dict[str, bytes] = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[-1]
            if rel in EXAMPLES and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                out[rel] = handle.read()
    return out


def main() -> int:
    downloads = _downloads()
    downloads.mkdir(parents=True, exist_ok=True)
    try:
        path = download(PYGMENTS, downloads)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{PYGMENTS.spec}: {path} ({len(examples(path))} example files used)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
