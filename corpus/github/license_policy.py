"""Keep or drop GitHub documents by their repository's licence (`curation.licenses`).

Every GitHub document carries its repository's licence (`license`: an SPDX id or expression, from
the repository list or the GitHub API when they name one, else from the repository's licence files,
`corpus.github.licenses`). The recipe says which licences may stay:

- `preset`: `any` (every licence, the default: nothing is dropped for its licence), `permissive`
  (the ids of `PERMISSIVE`) or `none` (only those of `allow`);
- `allow`: ids kept on top of the preset; `deny`: ids always dropped, whatever else says;
- `unlicensed`: `keep` (default) or `drop` documents of repositories whose licence is unknown
  (none detected, or the API's `NOASSERTION`/`NONE`/`OTHER`).

An expression is read with `license-expression`: `A OR B` passes when either branch passes (the
user may take the code under either), `A AND B` when both do; `A WITH exception` is judged by `A`
(an exception only adds permissions). A rule naming a GNU-style id without a suffix covers its
variants: `GPL-3.0` matches `GPL-3.0`, `GPL-3.0-only`, `GPL-3.0-or-later` and `GPL-3.0+`, while
`GPL-3.0-or-later` matches itself and `GPL-3.0+`. Ids compare case-insensitively. A licence that is
no valid expression (a list's free text) is one unknown id: not in any preset list, so dropped
under `permissive`/`none`, kept under `any`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from datatrove.data import Document, DocumentsPipeline
from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

from corpus.core.errors import UserError
from corpus.core.story import StoryStep

#: the `permissive` preset: licences that ask for attribution at most (no copyleft, no field of use
#: restriction), as SPDX ids
PERMISSIVE: tuple[str, ...] = (
    "0BSD",
    "Apache-2.0",
    "BlueOak-1.0.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "CC0-1.0",
    "ISC",
    "MIT",
    "MIT-0",
    "NCSA",
    "PSF-2.0",
    "Python-2.0",
    "Python-2.0.1",
    "Unlicense",
    "UPL-1.0",
    "X11",
    "Zlib",
)
#: what the GitHub API and SPDX documents say for "no licence we can name"
UNKNOWN = {"", "noassertion", "none", "other"}
_SUFFIXES = ("-only", "-or-later", "+")
#: parses the structure only, keeping each id as written (no symbol table: a deprecated id stays)
_PARSER = Licensing()


def _family(spdx: str) -> tuple[str, str]:
    """(base id, variant) of an id, case-folded: `GPL-3.0-or-later` -> ("gpl-3.0", "or-later")."""
    key = spdx.casefold()
    if key.endswith("+"):
        return key[:-1], "or-later"
    for suffix in _SUFFIXES[:2]:
        if key.endswith(suffix):
            return key[: -len(suffix)], suffix[1:]
    return key, ""


def _covers(rule: str, spdx: str) -> bool:
    rule_base, rule_variant = _family(rule)
    base, variant = _family(spdx)
    return rule_base == base and (not rule_variant or rule_variant == variant)


def check_ids(ids: Iterable[str], where: str) -> None:
    """Refuse ids that are neither SPDX licence ids (current or deprecated) nor `LicenseRef-*`."""
    spdx = get_spdx_licensing()
    for spdx_id in ids:
        if spdx_id.startswith("LicenseRef-"):
            continue
        if spdx.validate(spdx_id).errors or " " in spdx_id.strip():
            raise UserError(
                f"{where}: {spdx_id!r} is not an SPDX licence id (see https://spdx.org/licenses/)"
            )


@dataclass(frozen=True)
class LicensePolicy:
    preset: str = "any"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    unlicensed: str = "keep"

    @property
    def active(self) -> bool:
        """Whether the policy can drop anything."""
        return self.preset != "any" or bool(self.deny) or self.unlicensed == "drop"

    def _refuses_id(self, spdx: str) -> str | None:
        denied = next((r for r in self.deny if _covers(r, spdx)), None)
        if denied:
            return f"{spdx} denied (deny: {denied})"
        if self.preset == "any" or any(_covers(r, spdx) for r in self.allow):
            return None
        if self.preset == "permissive" and any(_covers(r, spdx) for r in PERMISSIVE):
            return None
        return f"{spdx} not allowed (preset {self.preset}" + (
            f" + allow {list(self.allow)})" if self.allow else ")"
        )

    def _refuses(self, node: object) -> str | None:
        if isinstance(node, LicenseWithExceptionSymbol):
            return self._refuses(node.license_symbol)
        if isinstance(node, LicenseSymbol):
            return self._refuses_id(node.key)
        if isinstance(node, OR):
            why = [self._refuses(arg) for arg in node.args]
            return (
                None
                if any(w is None for w in why)
                else "none of the choices passes: " + "; ".join(w for w in why if w)
            )
        if isinstance(node, AND):
            return next((w for w in map(self._refuses, node.args) if w), None)
        return f"{node} is not a licence expression"

    def refuses(self, license_: str | None) -> str | None:
        """Why a repository with this licence is dropped (one line), or None when it is kept."""
        if license_ is None or license_.strip().casefold() in UNKNOWN:
            return "no licence (unlicensed: drop)" if self.unlicensed == "drop" else None
        try:
            tree = _PARSER.parse(license_)
        except ExpressionError:
            return self._refuses_id(license_.strip())
        return self._refuses(tree) if tree is not None else self._refuses_id(license_)


class LicenseFilter(StoryStep):
    """Drop the documents of repositories whose licence the recipe does not allow.

    Drop reason `license`, detail: the licence, where it came from and the rule that refused it.
    Stats count repositories (per task): `repos`, `repos_unlicensed` (no licence known),
    `repos_dropped`."""

    name = "licenses"

    def __init__(self, policy: LicensePolicy) -> None:
        super().__init__()
        self.policy = policy

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        verdicts: dict[tuple[str, str | None], str | None] = {}
        for doc in data or ():
            meta = doc.metadata
            license_ = meta.get("license")
            key = (str(meta.get("repo") or doc.id), license_)
            if key not in verdicts:
                with self.track_time():
                    verdicts[key] = self.policy.refuses(license_)
                self.stat_update("repos")
                if license_ is None or str(license_).strip().casefold() in UNKNOWN:
                    self.stat_update("repos_unlicensed")
                if verdicts[key]:
                    self.stat_update("repos_dropped")
            why = verdicts[key]
            if why:
                source = meta.get("license_source")
                self.drop(doc.id, "license", f"{why}" + (f" [license from {source}]" if source else ""))
                continue
            self.stat_update("kept")
            yield doc
