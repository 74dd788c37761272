"""Generate every data file drawn from GitHub linguist, from one checkout: ``data/linguist.json``
(vendored, generated and documentation files, for the walker) and the language table
``classifiers/langid/data/languages.json`` (see `classifiers.langid.generate_rules`).

Run at development time, never at import:

    python -m corpus.github.generate_linguist --linguist PATH/TO/linguist \
        --names ../shared/data/deepseek_coder_v2_languages.txt

One command, so that both files always come from the same linguist commit and go through the same
translation of Ruby regular expressions (`classifiers.langid.generate_rules.ruby_to_python`).

Source: https://github.com/github-linguist/linguist (MIT). Taken from it for ``linguist.json``, as
data only:

- ``lib/linguist/vendor.yml``: path regular expressions of vendored code (dependencies, bundled
  libraries, build output);
- ``lib/linguist/documentation.yml``: path regular expressions of documentation;
- ``lib/linguist/generated.rb``: the path patterns it tests with ``name.match(/.../)`` (lock files,
  ``node_modules``, IDE folders, ...) and the literal header strings it looks for near the top of a
  file (``include?("...")`` / ``start_with?("...")``: protobuf, Thrift, Cython, JNI, ... banners).

linguist's expressions are Ruby (Onigmo) syntax; they are translated to Python ``re``, and any
expression that still does not compile is left out and printed, so the runtime never meets Ruby
syntax. The rules that are computations rather than patterns (minified JavaScript/CSS by average
line length, source maps, and the checks tied to a file type and to particular lines: compiled
CoffeeScript, Go's ``// Code generated``, HTML from documentation tools, PostScript from known
programs, ...) are implemented in ``corpus.github.linguist_generated`` from their definitions; a
data refresh should be followed by a look at generated.rb's method list for checks added since.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from classifiers.langid import generate_rules as language_table
from classifiers.langid.generate_rules import linguist_commit, read_linguist_file, ruby_to_python
from corpus.core.atomic import atomic_write_text
from corpus.github.linguist import DATA_FILE

#: header strings shorter than this are too generic to mark a file generated on their own
MIN_MARKER_CHARS = 16
#: strings linguist only tests together with another condition (never enough on their own)
CONDITION_ONLY = {"#include <jni.h>"}


def _compile_all(exprs: list[str], what: str) -> list[str]:
    kept: list[str] = []
    for expr in exprs:
        try:
            py = ruby_to_python(expr)
            re.compile(py)
        except (ValueError, re.error) as e:
            print(f"left out {what} pattern {expr!r}: {e}", file=sys.stderr)
            continue
        kept.append(py)
    return kept


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


def build(linguist: Path, commit: str) -> dict[str, Any]:
    """The content of ``data/linguist.json`` from a linguist checkout at `commit`."""
    vendor = yaml.safe_load(read_linguist_file(linguist, "vendor.yml")) or []
    docs = yaml.safe_load(read_linguist_file(linguist, "documentation.yml")) or []
    ruby = read_linguist_file(linguist, "generated.rb")
    return {
        "source": "https://github.com/github-linguist/linguist",
        "commit": commit or "unknown",
        "vendor": _compile_all([str(v) for v in vendor], "vendor"),
        "documentation": _compile_all([str(d) for d in docs], "documentation"),
        **generated_rules(ruby),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--linguist", required=True, type=Path, help="a linguist checkout, its lib/linguist, or a bare mirror"
    )
    parser.add_argument("--names", required=True, type=Path, help="the 338-name list, one name a line")
    parser.add_argument("--commit", default="", help="linguist commit, when --linguist is not in git")
    parser.add_argument("--out", type=Path, default=DATA_FILE, help="where linguist.json goes")
    parser.add_argument(
        "--languages-out", type=Path, default=language_table.DATA_FILE, help="where languages.json goes"
    )
    args = parser.parse_args(argv)
    commit = args.commit or linguist_commit(args.linguist)
    # both built before either is written: a failure leaves the pair as it was
    data = build(args.linguist, commit)
    table = language_table.build(args.linguist, args.names, commit)
    atomic_write_text(str(args.out), json.dumps(data, indent=1, sort_keys=True) + "\n")
    atomic_write_text(str(args.languages_out), language_table.table_text(table))
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
    print(f"wrote {args.out}: {counts}")
    print(f"wrote {args.languages_out}: {language_table.summary(table)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
