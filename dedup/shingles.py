"""Word n-gram shingles of normalised text, hashed for a whole batch of documents at once.

Shingling, not hashing, is what limits MinHash throughput in pure Python (building an n-gram
string per position costs more than the permutations that follow). Here a batch of documents is
joined into one byte array and everything after `str.lower()` runs as a few numpy passes:

* normalisation: lower case; every ASCII byte other than a letter, digit or underscore separates
  words (BigCode's rule for code: `[^A-Za-z_0-9]`); non-ASCII bytes belong to words, so text in
  any script still yields words;
* each word is hashed with a position-independent polynomial hash modulo 2**64 (prefix sums times
  inverse powers of an odd base), then mixed with the splitmix64 finaliser;
* a shingle is the ordered combination of `n` consecutive word hashes of one document, mixed again.

A document with fewer than `n` words (but at least one) yields a single shingle made of all its
words, so short documents still take part in near-duplicate detection; an empty one yields none.
The hashes are deterministic across processes, machines and runs (no Python `hash()`).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_SHINGLE_MUL = np.uint64(0x9E3779B97F4A7C15)

# bytes that belong to a word: ASCII letters, digits, underscore, and every non-ASCII byte
_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _WORD_BYTE[_c] = True
_WORD_BYTE[128:] = True

_powers = np.ones(1, dtype=np.uint64)
_inv_powers = np.ones(1, dtype=np.uint64)


def _word_bytes(buf: np.ndarray) -> np.ndarray:
    """`_WORD_BYTE[buf]` by range tests: a 256-entry table lookup costs ~5x more per byte.

    `(b | 32) - 97 <= 25` is true exactly for ASCII letters of either case (uint8 wrap-around).
    """
    word = buf >= 128
    word |= (buf | np.uint8(32)) - np.uint8(97) <= 25
    word |= buf - np.uint8(48) <= 9
    word |= buf == 95
    return word


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over all output bits (in place on a copy)."""
    x = np.array(x, dtype=np.uint64)
    return _mix64_inplace(x)


def _mix64_inplace(x: np.ndarray) -> np.ndarray:
    """`mix64` overwriting `x` (a uint64 array we own): one scratch array instead of five."""
    tmp = np.empty_like(x)
    with np.errstate(over="ignore"):
        np.right_shift(x, np.uint64(30), out=tmp)
        x ^= tmp
        x *= _M1
        np.right_shift(x, np.uint64(27), out=tmp)
        x ^= tmp
        x *= _M2
        np.right_shift(x, np.uint64(31), out=tmp)
        x ^= tmp
    return x


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**k and BASE**-k modulo 2**64 for k < n, grown geometrically and kept between batches."""
    global _powers, _inv_powers
    if len(_powers) < n:
        size = max(n, 2 * len(_powers), 1 << 16)
        with np.errstate(over="ignore"):
            p = np.full(size, _BASE, dtype=np.uint64)
            p[0] = 1
            _powers = np.cumprod(p, dtype=np.uint64)
            q = np.full(size, _BASE_INV, dtype=np.uint64)
            q[0] = 1
            _inv_powers = np.cumprod(q, dtype=np.uint64)
    return _powers, _inv_powers


def word_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the normalised words of every text and, per text, the offset of its first word.

    Returns `(hashes, offsets)` with `hashes[offsets[i]:offsets[i+1]]` the words of `texts[i]`.
    """
    encoded = [t.lower().encode("utf-8", "replace") for t in texts]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    buf = np.frombuffer(b" ".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
    doc_starts = np.zeros(len(encoded), dtype=np.int64)
    if len(encoded) > 1:
        doc_starts[1:] = np.cumsum(lengths[:-1] + 1)
    if buf.size == 0:
        return np.zeros(0, np.uint64), np.zeros(len(texts) + 1, np.int64)
    is_word = _word_bytes(buf)
    padded = np.concatenate(([False], is_word, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    powers, inv_powers = _power_tables(buf.size + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(buf.size + 1, dtype=np.uint64)
        prefix[0] = 0
        np.multiply(powers[: buf.size], buf, out=prefix[1:])
        np.cumsum(prefix[1:], out=prefix[1:])
        hashes = (prefix[ends] - prefix[starts]) * inv_powers[starts]
        hashes += (ends - starts).astype(np.uint64)  # length salt: "a" and "a\0" differ
    hashes = _mix64_inplace(hashes)
    # documents are separated by a space, so each document's first word is the first start at or
    # after its first byte: a search over documents, not over words
    offsets = np.empty(len(texts) + 1, dtype=np.int64)
    offsets[:-1] = np.searchsorted(starts, doc_starts, side="left")
    offsets[-1] = starts.size
    return hashes, offsets


# distinct odd multipliers, one per position in the n-gram (so word order matters)
_POSITION_MUL = mix64(np.arange(1, 65, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)) | np.uint64(1)


def _combine(parts: list[np.ndarray]) -> np.ndarray:
    """Order-sensitive hash of aligned word hashes: sum of position-weighted words, then one mix.

    The word hashes are already well mixed, so a weighted sum modulo 2**64 followed by a single
    finaliser separates n-grams as well as chaining a mix per word, at a third of the passes.
    """
    with np.errstate(over="ignore"):
        acc = parts[0] * _POSITION_MUL[0]
        tmp = np.empty_like(acc)
        for k, p in enumerate(parts[1:], start=1):
            np.multiply(p, _POSITION_MUL[k % 64], out=tmp)
            acc += tmp
    return _mix64_inplace(acc)


def shingle_hashes(texts: list[str], ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the word `ngram`-shingles of each text (duplicates kept, in text order).

    Returns `(hashes, offsets)` laid out like `word_hashes`.
    """
    if ngram < 1:
        raise ValueError("ngram must be at least 1")
    words, woff = word_hashes(texts)
    counts = np.diff(woff)
    n_docs = len(texts)
    # full shingles: positions i of a document with i + ngram <= its word count
    full = np.maximum(counts - ngram + 1, 0)
    short = (counts > 0) & (counts < ngram)
    per_doc = full + short
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    out = np.empty(int(offsets[-1]), dtype=np.uint64)
    if words.size >= ngram and full.any():
        windows = _combine([words[k : words.size - ngram + 1 + k] for k in range(ngram)])
        # a window starting at word p is valid unless a document boundary b falls in (p, p+ngram-1]
        valid = np.ones(windows.size, dtype=bool)
        bounds = woff[1:-1]
        for k in range(1, ngram):
            at = bounds - k
            valid[at[(at >= 0) & (at < windows.size)]] = False
        if short.any():  # short documents' single shingles take one slot each, filled below
            slot = np.ones(out.size, dtype=bool)
            slot[offsets[:-1][short]] = False
            out[slot] = windows[valid]
        else:
            out[:] = windows[valid]
    for d in np.flatnonzero(short):
        parts = [words[woff[d] + k : woff[d] + k + 1] for k in range(int(counts[d]))]
        salt = np.full(1, 0xD6E8FEB86659FD93 ^ int(counts[d]), dtype=np.uint64)
        out[offsets[d]] = _combine([salt, *parts])[0]
    return out, offsets


def per_document_sets(hashes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort and deduplicate each document's slice of a batch of hashes (its shingle set).

    Each slice is sorted in place (no per-document arrays); duplicates go in one pass over the
    batch, keeping the first hash of every document even when it equals the previous one's last.
    """
    if hashes.size == 0:
        return hashes, offsets
    values = np.array(hashes, dtype=np.uint64)
    for s, e in pairwise(offsets.tolist()):
        if e - s > 1:
            values[s:e].sort()
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    starts = offsets[:-1][np.diff(offsets) > 0]
    keep[starts] = True
    kept_before = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    new_offsets = kept_before[offsets]
    return values[keep], new_offsets.astype(np.int64)
