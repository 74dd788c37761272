"""What a file's first bytes say about it: binary or text, shebang interpreter, editor modeline.

Only the head of the file is read (``HEAD_BYTES``), so a 10 MB single-line file costs the same as
a small one. The modeline and shebang forms follow the ones linguist recognises.
"""

from __future__ import annotations

import re

HEAD_BYTES = 64 * 1024
BINARY_PROBE = 8000  # git's and linguist's probe length for NUL bytes

_EMACS = re.compile(
    r"-\*-(?:\s*(?:[^\n]*?;)?\s*mode\s*:\s*([\w+#.-]+)|\s*([\w+#.-]+))\s*(?:;[^\n]*?)?-\*-", re.I
)
_VIM = re.compile(
    r"(?:^|\s)(?:vim?|ex)(?:[<=>]?\d+)?:\s*(?:set?\s+)?(?:[^\n:]*?\s)?(?:ft|filetype|syntax)\s*=\s*([\w+#.-]+)",
    re.I,
)
_ENV_FLAGS = re.compile(r"^-\S*$")


def is_binary(head: bytes) -> bool:
    """A NUL byte near the start marks a binary file (UTF-16 text is treated as binary too)."""
    return head.find(b"\x00", 0, BINARY_PROBE) != -1


def decode(head: bytes) -> str:
    """Text for rules and the model; invalid UTF-8 becomes U+FFFD rather than an error."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.decode("utf-8", errors="replace")


def decode_prefix(head: bytes, chars: int) -> str:
    """A text whose first `chars` characters are those of ``decode(head)``, decoding no more bytes
    than they can span: a character takes at most four bytes, and where a truncated sequence ends
    is settled by the byte after it."""
    return decode(head[: 4 * chars + 4])


def shebang_interpreter(text: str) -> str | None:
    """'#!/usr/bin/env -S python3 -u' -> 'python3'; None when there is no usable shebang."""
    if not text.startswith("#!"):
        return None
    line = text[2:].split("\n", 1)[0].strip()
    parts = line.split()
    if not parts:
        return None
    prog = parts[0].rsplit("/", 1)[-1]
    rest = parts[1:]
    if prog == "env":
        rest = [p for p in rest if not _ENV_FLAGS.match(p) and "=" not in p]
        if not rest:
            return None
        prog = rest[0].rsplit("/", 1)[-1]
    return prog or None


def interpreter_variants(prog: str) -> list[str]:
    """Forms to look up: as written, then without a version suffix ('python3.11' -> 'python3', 'python')."""
    out = [prog]
    base = re.sub(r"[\d.]+$", "", prog)
    m = re.match(r"^(.*?\d+)(?:\.\d+)+$", prog)
    if m:
        out.append(m.group(1))
    if base and base not in out:
        out.append(base)
    return out


def _may_have_modeline(region: bytes) -> bool:
    return b"-*-" in region or b"ft=" in region or b"filetype=" in region or b"syntax=" in region


def _lines_may_match(head: bytes, start: int, end: int) -> bool:
    """Whether ``head[start:end]`` could hold a match of ``_EMACS`` or ``_VIM``: the first needs
    ``-*-``, the second ``=`` with ``ft``/``filetype``/``syntax`` and ``vi``/``ex`` in any case.
    Non-ASCII bytes answer yes: a case-insensitive match may use letters such as U+0131 or U+017F."""
    if head.find(b"-*-", start, end) != -1:
        return True
    if head.find(b"=", start, end) == -1:
        return False
    lines = head[start:end]
    if not lines.isascii():
        return True
    low = lines.lower()
    return (b"ft" in low or b"filetype" in low or b"syntax" in low) and (b"vi" in low or b"ex" in low)


def _first_lines_end(head: bytes, end: int, n: int) -> int:
    """Where the first `n` lines of ``head[:end]`` end (`end` when it has fewer)."""
    pos = -1
    for _ in range(n):
        pos = head.find(b"\n", pos + 1, end)
        if pos == -1:
            return end
    return pos


def _last_lines_start(head: bytes, start: int, end: int, n: int) -> int:
    """Where the last `n` lines of ``head[start:end]`` start (`start` when it has fewer)."""
    pos = end
    for _ in range(n):
        pos = head.rfind(b"\n", start, pos)
        if pos == -1:
            return start
    return pos + 1


def modeline(head: bytes) -> str | None:
    """The editor mode named in an Emacs (first two lines) or Vim (first/last five lines) modeline.

    Works on bytes with cheap substring probes first, so files without a modeline (nearly all)
    pay only a few byte searches. Only the lines a modeline is looked for in are probed first
    (the first five of the first two kilobytes, the last five of the last two): a line decodes to
    the same newlines, and neither pattern can match without the probed bytes. Where they may,
    the kilobyte-wide probe and the patterns decide as before.
    """
    size = len(head)
    top = min(size, 2048)
    tail = size - 2048 if size > 2048 else 0  # the last two kilobytes, or the first when no more
    if not _lines_may_match(head, 0, _first_lines_end(head, top, 5)) and not _lines_may_match(
        head, _last_lines_start(head, tail, size, 5), size
    ):
        return None
    return scan_modeline(head)


def scan_modeline(head: bytes) -> str | None:
    """`modeline` without the line-bounded probe: the kilobyte-wide probe, then the patterns."""
    first = head[:2048]
    last = head[-2048:] if len(head) > 2048 else b""
    if not _may_have_modeline(first) and not (last and _may_have_modeline(last)):
        return None
    lines = decode(first).split("\n", 6)
    for line in lines[:2]:
        m = _EMACS.search(line)
        if m:
            return (m.group(1) or m.group(2)).lower()
    tail = decode(last or first).split("\n")[-5:]
    for line in lines[:5] + tail:
        if len(line) > 500:
            continue
        m = _VIM.search(line)
        if m:
            return m.group(1).lower()
    return None
