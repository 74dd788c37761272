"""What the second-stage (family) model reads: code tokens with keywords kept whole, plus
tokens for the traits that separate the members of a family.

The first stage reduces identifiers longer than eight characters to their shape, which keeps it
from learning topics but also erases `defmodule`, `namespace`, `interface`, `instance`,
`deriving`, `defmacro`: exactly the words that tell Elixir from Ruby or PureScript from
Haskell. Here identifiers up to `KEEP_IDENTIFIER` characters stay, and the model is trained with
character n-grams (``minn``/``maxn``), so `fn`/`func`/`proc`/`def` and operators such as `::`,
`:=`, `->`, `<-`, `|>` are seen inside longer runs too.

Trait tokens, one per trait found (their counts matter less than their presence):

- indentation unit: tabs, or the most common step of leading spaces (2, 3, 4, 8);
- how lines end: the last character of each non-blank line, counted (`;`, `{`, `}`, `)`, `,`,
  `:`, `=`, letters), emitted for those ending at least a tenth of the lines;
- comment syntax at line starts: `//`, `#`, `--`, `;`, `;;`, `%`, `(*`, `{-`, `/*`, `*`, `!`,
  `'`, `"`, `C`/`c` in column 1 (fixed-form Fortran);
- string and character syntax: triple quotes, backticks, `@"`, `$"`, `r"`, `#"`, `?x`, `'x'`.
"""

from __future__ import annotations

import re
from collections import Counter

from classifiers.langid.tokens import MAX_TOKENS, MODEL_BYTES, code_tokens

KEEP_IDENTIFIER = 16
_COMMENT_STARTS = (
    ";;", "//", "/*", "(*", "{-", "--", "#|", "#", ";", "%", "*", "!", "'", '"', "REM ", "rem ",
)  # fmt: skip
_STRING_TRAITS = {
    '"""': re.compile(r'"""'),
    "'''": re.compile(r"'''"),
    "`": re.compile(r"`"),
    '@"': re.compile(r'@"'),
    '$"': re.compile(r'\$"'),
    'r"': re.compile(r'\br#*"'),
    '#"': re.compile(r'#"'),
    "?x": re.compile(r"(?<![\w?])\?[A-Za-z](?![\w?])"),
    "'x'": re.compile(r"'\\?.'"),
    "#\\x": re.compile(r"#\\[A-Za-z]"),
}


def _indent_unit(lines: list[str]) -> str | None:
    tabs = spaces = 0
    steps: Counter[int] = Counter()
    prev = 0
    for line in lines:
        stripped = line.lstrip(" \t")
        if not stripped:
            continue
        lead = line[: len(line) - len(stripped)]
        if lead.startswith("\t"):
            tabs += 1
            continue
        width = len(lead)
        if width:
            spaces += 1
        if width > prev:
            steps[width - prev] += 1
        prev = width
    if tabs > spaces:
        return "tab"
    if not steps:
        return None
    step = steps.most_common(1)[0][0]
    return str(step) if step in (1, 2, 3, 4, 8) else "odd"


def trait_tokens(text: str) -> list[str]:
    """The trait tokens of the head of `text` (see the module doc)."""
    head = text[:MODEL_BYTES]
    lines = head.splitlines()[:200]
    out: list[str] = []
    unit = _indent_unit(lines)
    if unit:
        out.append(f"⟨ind{unit}⟩")
    ends: Counter[str] = Counter()
    comments: Counter[str] = Counter()
    nonblank = 0
    for line in lines:
        s = line.strip()
        if not s:
            continue
        nonblank += 1
        last = s[-1]
        ends["a" if last.isalnum() or last == "_" else last] += 1
        if line[:1] in "Cc" and len(line) > 1 and line[1] in " \t*-" and not line[1:2].isalpha():
            comments["C1"] += 1
        for start in _COMMENT_STARTS:
            if s.startswith(start):
                comments[start.strip()] += 1
                break
    floor = max(1, nonblank // 10)
    out.extend(f"⟨eol{e}⟩" for e, n in sorted(ends.items()) if n >= floor)
    out.extend(f"⟨cmt{c}⟩" for c, n in sorted(comments.items()) if n >= max(1, floor // 2))
    out.extend(f"⟨str{name}⟩" for name, pat in _STRING_TRAITS.items() if pat.search(head))
    return out


def family_line(text: str) -> str:
    """One fastText input line for the family model."""
    toks = code_tokens(text, limit=MAX_TOKENS, keep_identifier=KEEP_IDENTIFIER)
    if not toks:
        return ""
    return " ".join(trait_tokens(text) + toks)
