"""A repository's licence from its top-level licence files, when the repository list does not say.

Detection is `licenseclassifier` (PyPI, BSD-3-Clause, no dependencies, 1.7 MB): a pure-Python port
of Go's `licensecheck`, matching word-level patterns made from the SPDX License List templates of
about 700 licences, which it ships in the wheel, so nothing is downloaded at run time. We chose it
over a word n-gram similarity (Dice coefficient) against the official texts because it finds
*where* in a file each licence is: a file that holds several licence texts one after another (a
project's licence followed by those of bundled code, or both texts of a dual licence) comes back
as regions, which a single similarity score cannot separate, and it tolerates the copyright
lines, Markdown and typos of real files. The other packages weighed either pull in a web stack
and a fuzzy-matching extension (`licenseid`), weigh tens of MB (`license-matcher`, ScanCode's
`licensedcode-data`) or date from 2020 (`spdx`). SPDX expressions themselves are parsed with
`license-expression` (`corpus.github.license_policy`).

A file's score is the share of its words that lie inside recognised licence texts. A file
scoring at least `MIN_SCORE` (licensecheck's own default, 75%) has a licence: the one licence it
holds, or several joined with `OR` when the rest of the file offers a choice ("at your option",
"dual licensed", "either of the licenses") and with `AND` otherwise (bundled code). Below that the
licence stays unknown (`None`), reported with the best score and what was seen, never guessed: a
README-like `COPYING` that only names its licence, or a pointer file ("see LICENSE.APACHE"), is
unknown on its own.

Across the files of one repository (`repository_license`):

- one licence in all recognised files -> that licence, from the first file by name priority
  (LICENSE/LICENCE/COPYING/UNLICENSE before NOTICE, then by name);
- the dual-licence convention, two files named with a qualifier (`LICENSE-MIT` and
  `LICENSE-APACHE`, `LICENSE.BSD` ...) holding two different licences -> `Apache-2.0 OR MIT` (in
  file name order); three or more stay `AND`: a third is usually bundled code's;
- a GNU GPL beside the LGPL of the same version (`COPYING` + `COPYING.LESSER`) -> the LGPL, which
  is written as extra permissions on top of the GPL text it ships with;
- `NOTICE` files count only when no other file has a licence (they quote bundled licences);
- anything else -> all of them joined with `AND`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from licenseclassifier import identify_license as _classify

#: top-level file names that hold a repository's licence: LICENSE, LICENCE, COPYING, UNLICENSE and
#: NOTICE, alone or with a qualifier (`LICENSE-MIT`, `COPYING.LESSER`, `LICENSE_1_0.txt`), never a
#: source file of that name (`license.py`)
LICENSE_FILE = re.compile(
    r"^(?!.*\.(?:py|pyi|js|mjs|ts|tsx|jsx|go|rs|java|kt|c|h|cc|cpp|hpp|cs|rb|php|swift|scala|sh|"
    r"json|ya?ml|toml|xml|css|scss|vue|lua|pl|sql|ini|cfg|lock)$)"
    r"(?:(?:un)?licen[cs]e|copying|notice)(?:[-_.][a-z0-9][a-z0-9._-]{0,40})?$",
    re.I,
)
#: extensions of plain or marked-up text, which do not qualify a licence file's name
_TEXT_EXTENSIONS = {"txt", "md", "markdown", "rst", "text", "adoc", "asciidoc", "org", "html", "htm"}
#: the share of a file's words that must lie inside recognised licence texts
MIN_SCORE = 0.75
#: characters of a file examined (the longest common licence, the AGPL-3.0, is about 34,000)
MAX_CHARS = 200_000
_WORD = re.compile(r"\w+")
_CHOICE = re.compile(
    r"at (?:your|the licensee'?s?) (?:option|choice)|dual[- ]licen[cs]ed|either of (?:the )?(?:following )?licen"
    r"|choose (?:either|one) of",
    re.I,
)
_GNU = re.compile(r"^(L?GPL)-(\d\.\d)")


@dataclass(frozen=True)
class LicenseMatch:
    """What one licence file holds."""

    #: SPDX id or expression; None when too little of the text is a known licence
    spdx: str | None
    #: share of the file's words inside recognised licence texts (0..1)
    score: float
    #: the licence(s) recognised, whatever the score (None: nothing at all)
    best: str | None


@dataclass(frozen=True)
class RepositoryLicense:
    """A repository's licence and where it was read."""

    spdx: str | None
    #: the file(s) it came from, comma-separated (None when unknown)
    source: str | None
    #: the best file score (of the deciding files when known)
    score: float
    best: str | None


def is_license_file(path: str) -> bool:
    return "/" not in path and LICENSE_FILE.match(posixpath.basename(path)) is not None


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _join(parts: list[str], operator: str) -> str:
    wrapped = [f"({p})" if " " in p else p for p in parts]
    return f" {operator} ".join(wrapped)


def match_license(text: str) -> LicenseMatch:
    """The licence of one file's text, with its score (see the module doc)."""
    text = text[:MAX_CHARS]
    total = len(_WORD.findall(text))
    if not total:
        return LicenseMatch(None, 0.0, None)
    regions = _classify(text, coverage_threshold=0.0)
    if not regions:
        return LicenseMatch(None, 0.0, None)
    inside = sum(len(_WORD.findall(text[r.start : r.end])) for r in regions)
    score = round(min(inside / total, 1.0), 4)
    ids = _unique([r.id for r in regions])
    if len(ids) == 1:
        found = ids[0]
    else:
        outside, last = [], 0
        for r in regions:
            outside.append(text[last : r.start])
            last = r.end
        outside.append(text[last:])
        found = _join(ids, "OR" if _CHOICE.search(" ".join(outside)) else "AND")
    return LicenseMatch(found if score >= MIN_SCORE else None, score, found)


def identify_license(text: str) -> str | None:
    """The SPDX id (or expression) of a licence text, or None when it is not a known licence."""
    return match_license(text).spdx


def _name_parts(path: str) -> tuple[str, str]:
    """(stem, qualifier) of a licence file name: `LICENSE-MIT.txt` -> ("license", "mit")."""
    name = posixpath.basename(path).casefold()
    stem = re.match(r"(?:un)?licen[cs]e|copying|notice", name)
    rest = name[stem.end() :].lstrip("-_.") if stem else name
    base, _, ext = rest.rpartition(".")
    if ext in _TEXT_EXTENSIONS:
        rest = base
    elif rest in _TEXT_EXTENSIONS:
        rest = ""
    return (stem.group(0) if stem else name), rest


def _priority(path: str) -> tuple[int, str]:
    stem, qualifier = _name_parts(path)
    return (2 if stem == "notice" else 1 if qualifier else 0, path)


def _lgpl_over_gpl(exprs: list[str]) -> list[str]:
    """Drop a GPL that ships beside the LGPL of the same version."""
    lesser = {m.group(2) for e in exprs if (m := _GNU.match(e)) and m.group(1) == "LGPL"}
    return [e for e in exprs if not ((m := _GNU.match(e)) and m.group(1) == "GPL" and m.group(2) in lesser)]


def repository_license(files: Mapping[str, bytes | str]) -> RepositoryLicense:
    """The licence of a repository from its top-level licence files (path -> content)."""
    matches: list[tuple[str, LicenseMatch]] = []
    for path in sorted((p for p in files if is_license_file(p)), key=_priority):
        data = files[path]
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        matches.append((path, match_license(text)))
    known = [(p, m) for p, m in matches if m.spdx]
    if any(_name_parts(p)[0] != "notice" for p, _ in known):
        known = [(p, m) for p, m in known if _name_parts(p)[0] != "notice"]
    if not known:
        best = max(matches, key=lambda pm: pm[1].score, default=None)
        return RepositoryLicense(None, None, best[1].score if best else 0.0, best[1].best if best else None)
    exprs = _lgpl_over_gpl(_unique([m.spdx for _, m in known if m.spdx]))
    deciding = [(p, m) for p, m in known if m.spdx in exprs]
    score = max(m.score for _, m in deciding)
    if len(exprs) == 1:
        return RepositoryLicense(exprs[0], deciding[0][0], score, exprs[0])
    qualified = [(p, m) for p, m in deciding if _name_parts(p)[1]]
    dual = len(exprs) == 2 and len(_unique([m.spdx for _, m in qualified if m.spdx])) == 2
    expr = _join(exprs, "OR" if dual else "AND")
    source = ",".join(_unique([p for p, m in (qualified if dual else deciding) if m.spdx in exprs]))
    return RepositoryLicense(expr, source, score, expr)
