"""The shard path's token ids through tiktoken's encoder, for byte-level BPE tokenizers we train.

Why: HF `tokenizers` encodes code at about 3 MiB/s per core here (an Oniguruma pre-tokenizer regex,
then merges looked up pair by pair); tiktoken's encoder (Rust's regex crate, merges by the rank of
the merged token) gives the same ids at about 18 on the same texts. The ids are the contract (the
shards, the tokenizer.json handed to the trainer), so the fast encoder is used only where it is
shown to give exactly HF's ids:

1. Pieces. The pattern is the one-step form of our pre-tokenizer plus a last alternative for the
   runs HF's `Split(isolated)` keeps between matches (tiktoken drops text no alternative takes).
   The two regex engines carry their own Unicode tables, so each character class is compared on
   every code point for the release pairs in `CHECKED_RELEASES` (tests/shards/test_rank_encoder.py);
   other pairs encode through HF.
2. Merges. HF merges the adjacent pair with the lowest merge index; tiktoken the pair whose
   concatenation has the lowest rank, and returns a piece that is itself a token at once. With
   ranks equal to ids and ids in merge order (what HF's trainer assigns: the 256 byte symbols,
   then one token per merge) the two agree on trained vocabularies: checked on the real corpus and
   on hundreds of small trained vocabularies with random texts (the same test file). A file whose
   ids do not follow its merges encodes through HF.
3. Added tokens. The redaction placeholders (non-special added tokens) are cut out before
   pre-tokenization in both; special tokens are ordinary text, as `CorpusTokenizer._encodings`
   encodes them (a document must not inject a control token).

Every load also encodes a probe (the round-trip text and a seeded sample of the vocabulary's own
strings) both ways and falls back to HF, with a warning, on any difference.
"""

from __future__ import annotations

import json
import random
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import tiktoken
from loguru import logger

from corpus.core.byte_level import CHAR_TO_BYTE

#: (tokenizers, tiktoken) releases whose regex classes were compared on every code point.
CHECKED_RELEASES = {("0.23.3", "0.14.0")}

_CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"


def gap_class(extra_numeric: str) -> str:
    """Characters no alternative of the one-step pattern starts a match with (HF keeps their runs)."""
    return rf"[^\p{{L}}\p{{M}}\p{{P}}\p{{S}}\p{{N}}\s{_CJK_CLASS}{extra_numeric}]"


def rank_pattern(one_step_pattern: str, extra_numeric: str) -> str:
    return f"{one_step_pattern}|{gap_class(extra_numeric)}+"


def releases() -> tuple[str, str] | None:
    try:
        return version("tokenizers"), version("tiktoken")
    except PackageNotFoundError:
        return None


class RankEncoder:
    """tiktoken's encoder over a trained tokenizer's vocabulary; ids identical to HF's encode."""

    def __init__(self, encoding, placeholders: set[str]) -> None:
        self.encoding = encoding
        self.placeholders = frozenset(placeholders)

    def encode(self, text: str) -> np.ndarray:
        ids = self.encoding.encode_to_numpy(text, allowed_special=self.placeholders, disallowed_special=())
        return ids.astype(np.int32, copy=False)


def why_not(spec: dict) -> str | None:
    """Why a tokenizer.json's model cannot go through the rank encoder, or None when it can."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return f"model {model.get('type')}, not BPE"
    for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix", "unk_token"):
        if model.get(key):
            return f"model.{key} is set"
    if model.get("byte_fallback"):
        return "byte_fallback is set"
    if spec.get("normalizer") is not None:
        return "it has a normalizer"
    vocab: dict[str, int] = model.get("vocab") or {}
    merges = model.get("merges") or []
    if any(vocab.get(c) != i for i, c in enumerate(_alphabet_in_id_order(vocab))):
        return "its first 256 ids are not the byte alphabet"
    if len(vocab) != 256 + len(merges):
        return "its vocabulary is not the byte alphabet plus one token per merge"
    for i, m in enumerate(merges):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if vocab.get(a + b) != 256 + i:
            return f"merge {i} ({a!r}, {b!r}) does not make token id {256 + i}"
    for t in spec.get("added_tokens") or []:
        if t.get("lstrip") or t.get("rstrip") or t.get("single_word") or t.get("normalized"):
            return f"added token {t.get('content')!r} strips, is single-word or normalized"
    return None


def _alphabet_in_id_order(vocab: dict[str, int]) -> list[str]:
    base = sorted((i, c) for c, i in vocab.items() if i < 256)
    if len(base) != 256 or {c for _, c in base} != set(CHAR_TO_BYTE):
        return ["\0"]  # cannot match: makes the caller report the alphabet
    return [c for _, c in base]


def build(
    hf_tokenizer, one_step_pattern: str, extra_numeric: str, probe: str, source: str
) -> RankEncoder | None:
    """A checked rank encoder for `hf_tokenizer` (in its one-step form), or None to stay on HF."""
    pair = releases()
    if pair not in CHECKED_RELEASES:
        return None
    spec = json.loads(hf_tokenizer.to_str())
    reason = why_not(spec)
    if reason is not None:
        logger.info(f"{source}: token ids through HF tokenizers ({reason})")
        return None
    ranks = {bytes(CHAR_TO_BYTE[ch] for ch in tok): i for tok, i in spec["model"]["vocab"].items()}
    placeholders = {t["content"]: t["id"] for t in spec.get("added_tokens") or [] if not t.get("special")}
    encoding = tiktoken.Encoding(
        name=f"coderforge:{source}",
        pat_str=rank_pattern(one_step_pattern, extra_numeric),
        mergeable_ranks=ranks,
        special_tokens=placeholders,
    )
    encoder = RankEncoder(encoding, set(placeholders))
    sample = _probe_texts(spec, probe)
    expected = [e.ids for e in hf_tokenizer.encode_batch_fast(sample, add_special_tokens=False)]
    got = [encoder.encode(t).tolist() for t in sample]
    if got != expected:
        logger.warning(f"{source}: tiktoken's ids differ from HF's on the load probe; encoding through HF")
        return None
    logger.info(f"{source}: token ids through tiktoken's encoder (the load probe gives HF's ids)")
    return encoder


def _probe_texts(spec: dict, probe: str) -> list[str]:
    """The round-trip text, the placeholders in context and 2,000 vocabulary strings in a seeded
    order (pieces that are whole tokens, tokens that meet across merge boundaries)."""
    tokens = sorted(spec["model"]["vocab"], key=spec["model"]["vocab"].get)
    rng = random.Random(0)
    picked = rng.sample(tokens, min(2_000, len(tokens)))
    words = bytes(b for tok in picked for b in (CHAR_TO_BYTE[c] for c in tok)).decode(
        "utf-8", errors="replace"
    )
    added = " ".join(t["content"] for t in spec.get("added_tokens") or [] if not t.get("special"))
    return [probe, words, f"x{added}y {added}"]
