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
    return b"\x00" in head[:BINARY_PROBE]


def decode(head: bytes) -> str:
    """Text for rules and the model; invalid UTF-8 becomes U+FFFD rather than an error."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.decode("utf-8", errors="replace")


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


def modeline(head: bytes) -> str | None:
    """The editor mode named in an Emacs (first two lines) or Vim (first/last five lines) modeline.

    Works on bytes with a cheap substring probe first, so files without a modeline (nearly all)
    pay only a few byte searches over their first and last two kilobytes.
    """
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
