"""Fill-in-the-middle, per document, before packing.

A document chosen for FIM (with probability `rate`) is cut at two character positions drawn
uniformly, giving prefix / middle / suffix, and written as

    PSM: <fim_begin> prefix <fim_hole> suffix <fim_end> middle <eos>
    SPM: <fim_begin> <fim_hole> suffix <fim_end> prefix middle <eos>

(SPM is the variant of Bavarian et al. 2022 §3 in which the model sees the suffix first and then
continues straight from prefix into middle). The three parts are tokenized separately, so every
part decodes back to exactly its characters and the original text is always recoverable.

The draw for a document depends only on (seed, document id, epoch): the same inputs always give
the same samples whatever the number of tasks, and a document repeated over several epochs gets a
fresh split each time, as on-the-fly FIM in a training loader would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from corpus.mix.config import FimSettings

#: FIM adds three sentinel tokens to a document.
FIM_SENTINELS = 3


def stable_hash64(*parts: object) -> int:
    """A 64-bit hash that is the same on every machine and Python run (unlike `hash`)."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(str(p).encode("utf-8"))
        h.update(b"\x00")
    return int.from_bytes(h.digest(), "little")


@dataclass(frozen=True)
class FimSplit:
    """Where a document was cut: text[:a] is the prefix, text[a:b] the middle, text[b:] the suffix."""

    mode: str  # "psm" or "spm"
    a: int
    b: int

    def parts(self, text: str) -> tuple[str, str, str]:
        return text[: self.a], text[self.a : self.b], text[self.b :]


def draw_fim(text: str, settings: FimSettings | None, seed: int, doc_id: str, epoch: int) -> FimSplit | None:
    """Decide whether this copy of the document becomes a FIM sample, and where it is cut."""
    if settings is None or settings.rate <= 0 or len(text) < max(settings.min_chars, 1):
        return None
    rng = np.random.default_rng([seed, stable_hash64(doc_id), epoch])
    if rng.random() >= settings.rate:
        return None
    a, b = sorted(int(x) for x in rng.integers(0, len(text) + 1, size=2))
    if settings.mode == "spm":
        mode = "spm"
    else:
        mode = "spm" if settings.spm_rate > 0 and rng.random() < settings.spm_rate else "psm"
    return FimSplit(mode, a, b)


def assemble(
    split: FimSplit,
    prefix: list[int],
    middle: list[int],
    suffix: list[int],
    begin_id: int,
    hole_id: int,
    end_id: int,
) -> list[int]:
    """The token sequence of a FIM sample (without the closing EOS)."""
    if split.mode == "psm":
        return [begin_id, *prefix, hole_id, *suffix, end_id, *middle]
    return [begin_id, hole_id, *suffix, end_id, *prefix, *middle]


def assemble_array(
    split: FimSplit,
    prefix: np.ndarray,
    middle: np.ndarray,
    suffix: np.ndarray,
    begin_id: int,
    hole_id: int,
    end_id: int,
    eos_id: int,
) -> np.ndarray:
    """`assemble` on arrays, with the closing EOS."""
    b, h, e, z = (np.array([t], dtype=prefix.dtype) for t in (begin_id, hole_id, end_id, eos_id))
    if split.mode == "psm":
        return np.concatenate([b, prefix, h, suffix, e, middle, z])
    return np.concatenate([b, h, suffix, e, prefix, middle, z])


def reassemble_text(ids: list[int], decode, begin_id: int, hole_id: int, end_id: int, eos_id: int) -> str:
    """Put a FIM sample's parts back in document order and decode them (inverse of `assemble`).

    `decode` maps a list of ids to text. Plain (non-FIM) sequences decode as they are.
    """
    body = list(ids[:-1]) if ids and ids[-1] == eos_id else list(ids)
    if not body or body[0] != begin_id:
        return decode(body)
    if len(body) > 1 and body[1] == hole_id:  # SPM
        end = body.index(end_id, 2)
        suffix, prefix_middle = body[2:end], body[end + 1 :]
        return decode(prefix_middle) + decode(suffix)
    hole = body.index(hole_id, 1)
    end = body.index(end_id, hole + 1)
    prefix, suffix, middle = body[1:hole], body[hole + 1 : end], body[end + 1 :]
    return decode(prefix) + decode(middle) + decode(suffix)
