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

#: identifiers (at most 31 characters a token), numbers, runs of up to three other non-space
#: characters, and a line break with all white space after it as one token, which becomes the
#: line-start marker when a token follows it
_BREAK_TOKEN = re.compile(r"\n\s*|[A-Za-z_$][A-Za-z0-9_$]{0,30}|[0-9]+(?:\.[0-9]+)?|[^\sA-Za-z0-9_$]{1,3}")
#: what each token becomes, per identifier length kept: code repeats its tokens, so most are
#: looked up rather than converted again; cleared when it grows past this many entries
_MEMO_SIZE = 50_000
_memos: dict[int, dict[str, str]] = {}
LINE_START = "¶"


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


def _converted(tok: str, keep: int) -> str:
    first = tok[0]
    if first == "\n":
        return LINE_START
    if first.isdigit():
        return "0"
    if keep and len(tok) > keep and (first.isalpha() or first in "_$"):
        return identifier_shape(tok)
    return tok


def code_tokens(text: str, limit: int = MAX_TOKENS, keep_identifier: int | None = None) -> list[str]:
    """The model's tokens of the head of `text`: a line-start marker before the first token of
    each line that has one, numbers as ``0``, long identifiers as their shape; `limit` tokens at
    most, one more when the last of them is a marker (its line's first token comes with it).

    One ``findall`` in which a line break and the white space after it are one token (the
    marker, when a token follows it) and a table of converted tokens: the tokens of a
    token-by-token pass (``tests/langid/test_fast_paths.py`` holds it and checks they agree),
    without Python work per line break.
    """
    keep = KEEP_IDENTIFIER if keep_identifier is None else keep_identifier
    memo = _memos.get(keep)
    if memo is None or len(memo) > _MEMO_SIZE:
        memo = _memos[keep] = {}
    toks = _BREAK_TOKEN.findall("\n" + text[:MODEL_BYTES])
    if toks[-1][0] == "\n":
        toks.pop()  # white space at the end: no token follows the last break
    if len(toks) > limit:
        # stop after the token that reaches the limit; a marker is always followed by its token
        toks = toks[: limit + 1 if limit > 0 and toks[limit - 1][0] == "\n" else max(limit, 2)]
    return [memo.get(t) or memo.setdefault(t, _converted(t, keep)) for t in toks]


def model_line(text: str) -> str:
    return " ".join(code_tokens(text))
