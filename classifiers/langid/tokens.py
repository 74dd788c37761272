"""Code tokens for the content model.

fastText splits on whitespace, which glues punctuation to words (``foo();`` is one token). Code
languages differ most in their punctuation and keywords, so the text is cut into identifiers,
numbers (collapsed to one token) and short punctuation runs, with a marker at each line start so
that bigrams see what begins a line (``#include``, ``def``, ``*>``, ``%``).

Long identifiers are mostly the program's own vocabulary (``bubble_sort``, ``fibonacci``): they say
what a file is about, not what language it is in, and a model that learns them learns the topics of
its training corpus. Identifiers longer than ``KEEP_IDENTIFIER`` characters are therefore replaced by
their shape (snake_case, camelCase, PascalCase, UPPER_CASE, lower), which is itself a language
trait; keywords and the short names of common library calls (``println``, ``printf``, ``puts``) stay.
"""

from __future__ import annotations

import re

MODEL_BYTES = 8 * 1024  # the model reads the head of a file; more rarely changes the answer
MAX_TOKENS = 1200
KEEP_IDENTIFIER = 8

_TOKEN = re.compile(r"\n|[A-Za-z_$][A-Za-z0-9_$]{0,30}|[0-9]+(?:\.[0-9]+)?|[^\sA-Za-z0-9_$]{1,3}")


def identifier_shape(tok: str) -> str:
    if "_" in tok.strip("_"):
        return "⟨SNAKE⟩" if tok.isupper() else "⟨snake⟩"
    if tok.isupper():
        return "⟨UPPER⟩"
    if tok[0].isupper():
        return "⟨Pascal⟩"
    if tok.islower():
        return "⟨lower⟩"
    return "⟨camel⟩"


def code_tokens(text: str, limit: int = MAX_TOKENS, keep_identifier: int | None = None) -> list[str]:
    keep = KEEP_IDENTIFIER if keep_identifier is None else keep_identifier
    out: list[str] = []
    line_start = True
    for tok in _TOKEN.findall(text[:MODEL_BYTES]):
        if tok == "\n":
            line_start = True
            continue
        if line_start:
            out.append("¶")
            line_start = False
        first = tok[0]
        if first.isdigit():
            tok = "0"
        elif keep and len(tok) > keep and (first.isalpha() or first in "_$"):
            tok = identifier_shape(tok)
        out.append(tok)
        if len(out) >= limit:
            break
    return out


def model_line(text: str) -> str:
    return " ".join(code_tokens(text))
