"""Generate ``data/linguist.json``: GitHub linguist's knowledge of vendored, generated and
documentation files, as data the walker can use without Ruby.

Run at development time, never at import:

    python -m corpus.github.generate_linguist --linguist PATH/TO/linguist

Source: https://github.com/github-linguist/linguist (MIT). Taken from it, as data only:

- ``lib/linguist/vendor.yml``: path regular expressions of vendored code (dependencies, bundled
  libraries, build output);
- ``lib/linguist/documentation.yml``: path regular expressions of documentation;
- ``lib/linguist/generated.rb``: the path patterns it tests with ``name.match(/.../)`` (lock files,
  ``node_modules``, IDE folders, ...) and the literal header strings it looks for near the top of a
  file (``include?("...")`` / ``start_with?("...")``: protobuf, Thrift, Cython, JNI, ... banners).

linguist's expressions are Ruby (Onigmo) syntax; the few constructs Python's ``re`` spells
differently are translated, and any expression that still does not compile is left out and
printed, so the runtime never meets Ruby syntax. The rules that are computations rather than
patterns (minified JavaScript/CSS by average line length, source maps, and the checks tied to a
file type and to particular lines: compiled CoffeeScript, Go's ``// Code generated``, HTML from
documentation tools, PostScript from known programs, ...) are implemented in
``corpus.github.linguist`` from their definitions; a data refresh should be followed by a look at
generated.rb's method list for checks added since.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

DATA_FILE = Path(__file__).parent / "data" / "linguist.json"

#: header strings shorter than this are too generic to mark a file generated on their own
MIN_MARKER_CHARS = 16
#: strings linguist only tests together with another condition (never enough on their own)
CONDITION_ONLY = {"#include <jni.h>"}


def to_python_regex(expr: str) -> str:
    """Translate the Onigmo spellings linguist uses into Python `re` spellings."""
    out = expr.replace(r"\A", "^").replace(r"\z", "$").replace(r"\Z", "$")
    out = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", out)
    return out


def _compile_all(exprs: list[str], what: str) -> list[str]:
    kept: list[str] = []
    for expr in exprs:
        py = to_python_regex(expr)
        try:
            re.compile(py)
        except re.error as e:
            print(f"left out {what} pattern {expr!r}: {e}", file=sys.stderr)
            continue
        kept.append(py)
    return kept


def _read(linguist: Path, rel: str) -> str:
    path = linguist / rel
    if path.is_file():
        return path.read_text(encoding="utf-8")
    # a bare mirror: read the file from HEAD
    return subprocess.run(
        ["git", "--git-dir", str(linguist), "show", f"HEAD:{rel}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _commit(linguist: Path) -> str:
    git_dir = linguist / ".git" if (linguist / ".git").exists() else linguist
    try:
        return subprocess.run(
            ["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


_NAME_MATCH = re.compile(r"name\.match\(/((?:[^/\\]|\\.)+)/([a-z]*)\)")
_HEADER_STRING = re.compile(r"(?:include\?|start_with\?)\(\s*\"((?:[^\"\\]|\\.)+)\"")


def _scoped(expr: str, flags: str) -> str:
    """Ruby's trailing /i as a scoped group, so the patterns can be joined into one alternation."""
    return f"(?i:{expr})" if "i" in flags else expr


def generated_rules(ruby: str) -> dict[str, list[str]]:
    """Path patterns and header strings out of generated.rb's method bodies."""
    found = {_scoped(p.replace("\\/", "/"), flags) for p, flags in _NAME_MATCH.findall(ruby)}
    paths = _compile_all(sorted(found), "generated path")
    markers = sorted(
        {
            bytes(m, "utf-8").decode("unicode_escape")
            for m in _HEADER_STRING.findall(ruby)
            if len(m) >= MIN_MARKER_CHARS and m not in CONDITION_ONLY
        }
    )
    return {"generated_paths": paths, "generated_markers": markers}


def build(linguist: Path) -> dict[str, Any]:
    vendor = yaml.safe_load(_read(linguist, "lib/linguist/vendor.yml")) or []
    docs = yaml.safe_load(_read(linguist, "lib/linguist/documentation.yml")) or []
    ruby = _read(linguist, "lib/linguist/generated.rb")
    return {
        "source": "https://github.com/github-linguist/linguist",
        "commit": _commit(linguist),
        "vendor": _compile_all([str(v) for v in vendor], "vendor"),
        "documentation": _compile_all([str(d) for d in docs], "documentation"),
        **generated_rules(ruby),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--linguist", required=True, type=Path, help="a linguist checkout or bare mirror")
    parser.add_argument("--out", type=Path, default=DATA_FILE)
    args = parser.parse_args(argv)
    data = build(args.linguist)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
    print(f"wrote {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
