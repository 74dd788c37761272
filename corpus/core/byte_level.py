"""GPT-2's byte-to-character map, which HF `tokenizers`' `ByteLevel` uses.

Printable bytes stand for themselves; the others (space, controls, ...) move to U+0100 onwards,
so that no piece of a byte-level vocabulary holds whitespace. Kept here because two components
read byte-level vocabularies outside the tokenizers library: the recall classifier's word split
and the shard path's rank encoder.
"""

from __future__ import annotations


def _byte_to_char() -> dict[int, str]:
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


#: byte -> the character standing for it in a byte-level vocabulary
BYTE_TO_CHAR: dict[int, str] = _byte_to_char()
#: and back
CHAR_TO_BYTE: dict[str, int] = {c: b for b, c in BYTE_TO_CHAR.items()}
