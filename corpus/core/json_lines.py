"""One JSON Lines record, parsed the way every reader of ours parses it.

Three things in real JSONL files break a naive `json.loads` loop in ways that lose more than the
bad record: a line of deeply nested brackets raises `RecursionError` (not a `ValueError`, so a
reader's error handling misses it and the task dies on every re-run); a valid `\\ud800` escape
gives a string with a lone surrogate, which parses fine and then fails when the text is encoded
for Parquet, far from the line that caused it; and invalid UTF-8. Here each is a `BadRecord` with
a reason and a one-line detail, so a reader drops that record, records why and where, and goes on.

Lone surrogates are replaced by U+FFFD (the rest of the text is kept): they carry no character,
and dropping a whole document for one stray escape would lose good text.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile(r"[\ud800-\udfff]")


class BadRecord(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


def parse_line(raw: bytes | str) -> Any:
    """The JSON value of one line; raises `BadRecord` (reason: not_utf8, corrupt_record)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as e:
        raise BadRecord("not_utf8", f"invalid UTF-8 at byte {e.start}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRecord("corrupt_record", f"invalid JSON: {e.msg} at column {e.colno}") from None
    except RecursionError:
        raise BadRecord("corrupt_record", "JSON nested too deeply") from None
    # only an escape can make a surrogate, so lines without "\u" skip the walk
    if "\\u" in text or "\\U" in text:
        try:
            value = _without_surrogates(value)
        except RecursionError:  # parsed, but nested deeper than a walk can follow
            raise BadRecord("corrupt_record", "JSON nested too deeply") from None
    return value
