"""A repository's license from its top-level license file, when the repository list does not say.

The paper keeps the license question out of its file rules; we record it (SPDX id in each
document's `license`, with `license_source` saying where it came from) and filter nothing. Each
license is recognised by phrases of its official text, checked on whitespace-collapsed,
case-folded text: the copyleft and long licenses by their title at the top, the short permissive
ones by their body (BSD-3 before BSD-2). A text that fits none stays unknown (`None`) rather than
guessed.
"""

from __future__ import annotations

import posixpath
import re

#: top-level file names that hold a repository's license, most specific first
LICENSE_FILE = re.compile(r"^(?:licen[cs]e|copying|unlicense)(?:[-_.](?:md|txt|rst|mit|apache|bsd))?$", re.I)

#: (SPDX id, phrases the title -- the first 400 characters -- must all contain), tried in order.
#: Titles, not bodies, tell the GNU licenses apart: the GPL's own text recommends the LGPL.
_TITLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AGPL-3.0", ("gnu affero general public license", "version 3")),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("LGPL-2.0", ("gnu library general public license", "version 2")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("EPL-2.0", ("eclipse public license", "2.0")),
    ("BSL-1.0", ("boost software license", "version 1.0")),
    ("CC0-1.0", ("cc0 1.0 universal",)),
)
#: (SPDX id, phrases the whole text must contain) for the short permissive licenses
_BODIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("MIT", ("permission is hereby granted, free of charge",)),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
)
_SPACE = re.compile(r"\s+")


def is_license_file(path: str) -> bool:
    return "/" not in path and LICENSE_FILE.match(posixpath.basename(path)) is not None


def identify_license(text: str) -> str | None:
    """The SPDX id of a license text, or None when it is not one of the recognised licenses."""
    folded = _SPACE.sub(" ", text[:20000]).casefold()
    head = folded[:400]
    for spdx, phrases in _TITLES:
        if all(p in head for p in phrases):
            return spdx
    for spdx, phrases in _BODIES:
        if all(p in folded for p in phrases):
            return spdx
    return None
