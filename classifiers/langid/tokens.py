"""Code tokens for the content model.

fastText splits on whitespace, which glues punctuation to words (``foo();`` is one token). Code
languages differ most in their punctuation and keywords, so the text is cut into identifiers,
numbers (collapsed to one token) and short punctuation runs, with a marker at each line start so
that bigrams see what begins a line (``#include``, ``def``, ``*>``, ``%``).
"""

from __future__ import annotations

import re

MODEL_BYTES = 8 * 1024  # the model reads the head of a file; more rarely changes the answer
MAX_TOKENS = 1200

_TOKEN = re.compile(r"\n|[A-Za-z_$][A-Za-z0-9_$]{0,30}|[0-9]+(?:\.[0-9]+)?|[^\sA-Za-z0-9_$]{1,3}")


def code_tokens(text: str, limit: int = MAX_TOKENS) -> list[str]:
    out: list[str] = []
    line_start = True
    for m in _TOKEN.finditer(text[:MODEL_BYTES]):
        tok = m.group()
        if tok == "\n":
            line_start = True
            continue
        if tok[0].isdigit():
            tok = "0"
        elif tok.startswith("__label__"):
            tok = "_label_"
        if line_start:
            out.append("¶")
            line_start = False
        out.append(tok)
        if len(out) >= limit:
            break
    return out


def model_line(text: str) -> str:
    return " ".join(code_tokens(text))
