"""The decisions on real files stay what they were before `detect` was made fast.

``data/real_code_decisions.json`` holds (language, label, how) for every file of the pinned
real-code archives (``tests/realdata/packages.py``, pinned by sha256), as `detect` gave them
before its shortcuts: the lazy decoding of only the characters a check reads, the line-bounded
modeline probe, and the literal probes that skip heuristic searches which cannot match. Any
change of decision on these 2,109 files is a regression of those shortcuts, or a deliberate
change of the rules that must come with a new table (regenerate it with `detect` and say why).

Deliberate changes so far: the two Flow declarations (``index.js.flow``) are JavaScript by the
extension table (were unknown, the model's best guess TypeScript), and the 24 ``PKG-INFO`` files
take the label of their ``Description-Content-Type`` header, decided by name (were unknown or
model answers labelled Markdown, reStructuredText, YAML or nothing); no language answer changed
for them but the Flow files'.

With the content model retrained on more real code and the second (family) stage, 17 decisions
changed, 2 of them languages: coverage.py's `a1_coverage.pth` (one line of Python: `import sys;
exec(...)`) is Python and `coverage-04.dtd` is XML, both model answers (were unknown). The nine
`*.py,cover` files (coverage.py's annotated copies) are now program output by their name ending
(were unknown, with guesses Sage, Isabelle, Fortran); the rest are the best guesses carried by
unknown answers and by labels outside the 338 (source maps, `setup.cfg`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.langid import detect
from classifiers.langid.rules import load_table, required_strings
from classifiers.langid.sniff import decode, decode_prefix, modeline, scan_modeline
from tests.langid.conftest import real_code_files

DECISIONS = Path(__file__).parent / "data" / "real_code_decisions.json"


@pytest.fixture(scope="module")
def real_files() -> list[tuple[str, bytes]]:
    return list(real_code_files())


def test_every_real_file_gets_the_recorded_decision(real_files: list[tuple[str, bytes]]) -> None:
    expected = json.loads(DECISIONS.read_text())
    assert len(real_files) == len(expected) == 2109
    got = {}
    for name, content in real_files:
        d = detect(name, content)
        got[name] = [d.language, d.label, d.how]
    changed = {name: (expected.get(name), got[name]) for name in got if got[name] != expected.get(name)}
    assert not changed, f"{len(changed)} decisions changed, e.g. {dict(list(changed.items())[:5])}"


def test_heuristic_probes_never_skip_a_match(real_files: list[tuple[str, bytes]]) -> None:
    """Wherever the required strings of a heuristic pattern are absent, the pattern finds nothing."""
    table = load_table()
    texts: dict[str, list[str]] = {}
    for name, content in real_files:
        ext = Path(name).suffix.lower()
        if ext and table.heuristic_blocks.get(ext) and len(texts.setdefault(ext, [])) < 40:
            texts[ext].append(decode(content[: 64 * 1024]))
    checked = 0
    for ext, samples in texts.items():
        for rule in table.heuristics_for(ext):
            for pattern, needs in ((rule.pattern, rule.needs), (rule.negative, rule.negative_needs)):
                if pattern is None or needs is None:
                    continue
                for text in samples:
                    if not all(any(s in text for s in group) for group in needs):
                        assert pattern.search(text) is None, (ext, pattern.pattern)
                        checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"<TS\b", (("<TS",),)),
        (r"^\s*(@(interface|class)\b|#import\s+.+\.h[\">])", (("#import", "@class", "@interface"),)),
        (r"<emu-(?:alg|t)(?:$|\s|>)", (("<emu-",), ("<emu-alg", "<emu-t"))),
        (r"(?i:^\s*GO\b)", None),  # case-insensitive: any case may match
        (r"(?i)swagger", None),
        (r"[[:alpha:]]+=x", None),  # POSIX classes: read differently by the stdlib parser
        (r"foo{e<=1}", None),  # fuzzy matching
        (r"a?b*", None),  # nothing is required
        (r"(?:ab|)cd", (("abcd", "cd"),)),
    ],
)
def test_required_strings(pattern: str, needs: tuple[tuple[str, ...], ...] | None) -> None:
    assert required_strings(pattern) == needs


@pytest.mark.parametrize(
    "content",
    [
        b"# vim: set ft=python :\nx = 1\n",
        b"x = 1\n" * 10 + b"# vim: ft=ruby\n",
        b"// -*- mode: c++ -*-\nint x;\n",
        b"#!/bin/sh\n# -*- python -*-\n",
        b"x\n" * 3000 + b"/* vim: set syntax=c: */\n",
        b"# v\xc4\xb1m: set ft=perl\n# ft=\n",  # dotless i matches `i` case-insensitively
        b"a\n# vim: set FT =lua\nleft=1\n",
        b"no modeline here: shift=1, left=2, index=3\n" * 200,
    ],
)
def test_modeline_probe_agrees_with_the_full_scan(content: bytes) -> None:
    """The line-bounded probe only ever skips heads where the kilobyte-wide scan finds nothing."""
    assert modeline(content) == scan_modeline(content)


def test_modeline_probe_agrees_on_real_files(real_files: list[tuple[str, bytes]]) -> None:
    for _, content in real_files:
        head = content[: 64 * 1024]
        assert modeline(head) == scan_modeline(head)


@pytest.mark.parametrize(
    "head",
    [
        b"plain ascii " * 5000,
        "caf\u00e9 \u2603 ".encode() * 5000,
        b"\xff\xfe\xe2\x82A" * 9000,
        b"\xef\xbb\xbfbom",
    ],
)
def test_decode_prefix_agrees_with_the_full_decode(head: bytes) -> None:
    for chars in (1, 7, 6144, 8192):
        assert decode_prefix(head, chars)[:chars] == decode(head)[:chars]
