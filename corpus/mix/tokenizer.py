"""The byte-level BPE tokenizer: trained with HF `tokenizers` or loaded from a `tokenizer.json`.

DeepSeek-Coder's tokenizer splits digits one by one and keeps newlines, punctuation and CJK runs
apart from words before byte-level BPE, so numbers tokenize uniformly and code layout survives as
its own tokens. Its special tokens (BOS, EOS, the FIM sentinels, ...) follow the ordinary
vocabulary, so the released ids are BOS = 100000 and EOS = 100001; training ordinary tokens first
and adding the specials afterwards gives the same layout here.

Every tokenizer is checked when it is loaded: the special tokens the shards need must exist and
encode to one id each, and a probe text with code, digits, CJK and odd whitespace must decode back
exactly (a lowercasing or NFKC normalizer would silently corrupt the corpus otherwise).

A trained tokenizer also carries the redaction placeholders (`<KEY>`, `<PASSWORD>`, `<EMAIL>`...,
`corpus.core.redaction`) as added tokens after the special ones, so each is one id wherever the
secrets stage put it. They are added as non-special tokens on purpose: a document quoting a
control token is encoded with control tokens turned off (see `_encodings`), and a placeholder must
stay one id even there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from corpus.core.atomic import atomic_write_text, split_url
from corpus.core.errors import UserError
from corpus.core.redaction import PLACEHOLDERS
from corpus.mix import rank_encoder
from corpus.mix.config import SpecialTokens, TokenizerSettings
from corpus.mix.rank_encoder import RankEncoder

#: Characters handed to the tokenizer per call (see `CorpusTokenizer._slices`).
ENCODE_SLICE_CHARS = 262_144

#: Megatron stores token ids as uint16 below this vocabulary size and int32 from it on.
INT32_VOCAB_THRESHOLD = 65_500

# Pre-tokenization, one regex (alternatives tried in order at each position): line breaks alone;
# CJK runs (no spaces between words there); other letters with one optional leading space;
# punctuation/symbol runs with one optional leading space; whitespace (a run before a word leaves
# its last space to the word). Whatever no alternative takes (digits) is its own piece; digits are
# then split one by one, and bytes mapped by ByteLevel. One regex instead of a chain of splits
# scans the text once: 30% faster tokenization, same pieces.
_CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
PRE_TOKENIZE_PATTERN = "|".join(
    [
        r"\r\n|[\r\n]",
        rf"[{_CJK_CLASS}]+",
        rf" ?[\p{{L}}\p{{M}}&&[^{_CJK_CLASS}]]+",
        r" ?[\p{P}\p{S}]+",
        r"[^\S\r\n]+(?!\S)",
        r"[^\S\r\n]+",
    ]
)

# The same pieces in one step: numeric characters (what the Digits step isolates) become an
# alternative of their own and are taken out of the CJK class (Han has numerals such as 〇). A
# tokenizer whose pre-tokenizer is exactly `canonical_pre_tokenizer()` encodes through this form:
# one pass over the text fewer, about a sixth fewer instructions per token, the same ids. The
# digit splitter uses Rust's Unicode tables and the regex engine its own; they disagree on the
# newest numerals, which the class names one by one. That list holds for the `tokenizers` releases
# below, each checked on every code point (tests/shards/test_tokenizer_fast_form.py); any other
# release encodes through the three-step form.
NUMERIC_BEYOND_REGEX = {"0.23.3": r"\x{11DE0}-\x{11DE9}\x{16FF4}-\x{16FF6}"}


def fast_pre_tokenize_pattern(extra_numeric: str) -> str:
    numeric = rf"\p{{N}}{extra_numeric}"
    return "|".join(
        [
            r"\r\n|[\r\n]",
            rf"[{_CJK_CLASS}&&[^{numeric}]]+",
            rf" ?[\p{{L}}\p{{M}}&&[^{_CJK_CLASS}{extra_numeric}]]+",
            r" ?[\p{P}\p{S}]+",
            r"[^\S\r\n]+(?!\S)",
            r"[^\S\r\n]+",
            rf"[{numeric}]",
        ]
    )


ROUND_TRIP_PROBE = (
    "def f(x: int) -> int:\n\treturn x * 12345 + 0.5  # résumé naïve\r\n"
    '    if (a[i] != b->c) { printf("%d\\n", n); }\n\n'
    "数学公式 E = mc² と かな カナ 한국어 — “quotes” ∑_{i=1}^{n} i²  \u00a0\u200b😀\n"
)


def canonical_pre_tokenizer():
    """The pre-tokenizer a trained tokenizer carries: split, digits one by one, bytes mapped."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRE_TOKENIZE_PATTERN), behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def fast_pre_tokenizer(version: str | None = None):
    """`canonical_pre_tokenizer()` in two steps instead of three (same pieces), or None where the
    installed `tokenizers` release has not been checked."""
    extra = NUMERIC_BEYOND_REGEX.get(version or tokenizers.__version__)
    if extra is None:
        return None
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(fast_pre_tokenize_pattern(extra)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def build_untrained(settings: TokenizerSettings) -> Tokenizer:
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = canonical_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts: Iterable[str], settings: TokenizerSettings) -> Tokenizer:
    """Train the BPE on `texts`; `settings.vocab_size` ordinary tokens, then the special tokens."""
    tok = build_untrained(settings)
    trainer = trainers.BpeTrainer(
        vocab_size=settings.vocab_size,
        min_frequency=settings.min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in settings.special_tokens.all_tokens()]
    )
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in PLACEHOLDERS])
    return tok


@dataclass
class CorpusTokenizer:
    """A checked tokenizer with the ids the shards need."""

    tokenizer: Tokenizer
    specials: SpecialTokens
    pad_to_multiple_of: int
    source: str

    def __post_init__(self) -> None:
        ids = {}
        missing = []
        for role, token in self.specials.required().items():
            tid = self.tokenizer.token_to_id(token)
            if tid is None:
                missing.append(f"{role}={token!r}")
            ids[role] = tid
        if missing:
            raise UserError(
                f"{self.source}: tokenizer lacks special tokens {', '.join(missing)}"
                " (name the ones it has under tokenizer.special_tokens)"
            )
        self.bos_id: int = ids["bos"]
        self.eos_id: int = ids["eos"]
        self.fim_begin_id: int = ids["fim_begin"]
        self.fim_hole_id: int = ids["fim_hole"]
        self.fim_end_id: int = ids["fim_end"]
        for role, token in self.specials.required().items():
            enc = self.tokenizer.encode(token, add_special_tokens=False).ids
            if enc != [ids[role]]:
                raise UserError(
                    f"{self.source}: special token {role}={token!r} does not encode to one id "
                    f"(got {enc[:8]}); declare it as an added special token"
                )
        probe = self.tokenizer.encode(ROUND_TRIP_PROBE, add_special_tokens=False).ids
        back = self.tokenizer.decode(probe, skip_special_tokens=False)
        if back != ROUND_TRIP_PROBE:
            at = next((i for i, (a, b) in enumerate(zip(back, ROUND_TRIP_PROBE, strict=False)) if a != b), 0)
            raise UserError(
                f"{self.source}: tokenizer does not round-trip text (differs at character {at}: "
                f"{ROUND_TRIP_PROBE[at : at + 12]!r} came back as {back[at : at + 12]!r})"
            )
        # A document that happens to contain "<｜fim▁begin｜>" must not inject a real sentinel: such
        # documents go through a copy that tokenizes special-token strings as ordinary text. Only
        # those: that mode costs about a tenth of the tokenizer's speed on every text. The copy is
        # made when the first such document turns up (building it costs as much as loading).
        self._specials_text = [
            t.content for t in self.tokenizer.get_added_tokens_decoder().values() if t.special
        ]
        self._literal_copy: Tokenizer | None = None
        # Encode through the one-step form when the pre-tokenizer is ours; the file keeps its own.
        own = self.tokenizer.pre_tokenizer
        fast = fast_pre_tokenizer()
        self._fast_form = (
            fast is not None
            and own is not None
            and own.__getstate__() == canonical_pre_tokenizer().__getstate__()
        )
        if self._fast_form:
            self.tokenizer.pre_tokenizer = fast
        # And through tiktoken's encoder where it gives exactly these ids (see corpus.mix.rank_encoder).
        self._rank: RankEncoder | None = None
        if self._fast_form:
            extra = NUMERIC_BEYOND_REGEX[tokenizers.__version__]
            self._rank = rank_encoder.build(
                self.tokenizer, fast_pre_tokenize_pattern(extra), extra, ROUND_TRIP_PROBE, self.source
            )

    @property
    def _literal(self) -> Tokenizer:
        if self._literal_copy is None:
            self._literal_copy = Tokenizer.from_str(self.tokenizer.to_str())  # the fast form
            self._literal_copy.encode_special_tokens = True
        return self._literal_copy

    @property
    def rank_encoded(self) -> bool:
        """Whether texts are encoded through tiktoken's encoder (same ids, see corpus.mix.rank_encoder)."""
        return self._rank is not None

    @property
    def one_step_form(self) -> bool:
        """Whether texts are encoded through the one-step pre-tokenizer (see NUMERIC_BEYOND_REGEX)."""
        return self._fast_form

    @property
    def vocab_size(self) -> int:
        """Ids in use, special tokens included."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_to_multiple_of
        return -(-self.vocab_size // m) * m

    @property
    def dtype(self) -> type[np.number]:
        return np.int32 if self.vocab_size >= INT32_VOCAB_THRESHOLD else np.uint16

    def _encodings(self, texts: list[str]) -> list:
        """HF encodings of each text, no special token added, special-token strings kept as text."""
        quoting = [i for i, t in enumerate(texts) if any(s in t for s in self._specials_text)]
        if not quoting:
            return self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        special = set(quoting)
        plain = [i for i in range(len(texts)) if i not in special]
        out: list = [None] * len(texts)
        for idxs, tok in ((plain, self.tokenizer), (quoting, self._literal)):
            encoded = tok.encode_batch_fast([texts[i] for i in idxs], add_special_tokens=False)
            for i, e in zip(idxs, encoded, strict=True):
                out[i] = e
        return out

    def _slices(self, texts: list[str]) -> Iterator[list[str]]:
        """Consecutive runs of texts of about `ENCODE_SLICE_CHARS` characters in all.

        The encodings of a run live only until its ids are copied out: a run that fits the CPU
        caches tokenizes about 7% faster than a 30 MB batch of whole files in one call.
        """
        at, n = 0, 0
        for i, t in enumerate(texts):
            n += len(t)
            if n >= ENCODE_SLICE_CHARS:
                yield texts[at : i + 1]
                at, n = i + 1, 0
        if at < len(texts):
            yield texts[at:]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, as Python lists."""
        if self._rank is not None:
            return [self._rank.encode(t).tolist() for t in texts]
        return [e.ids for part in self._slices(texts) for e in self._encodings(part)]

    def encode_arrays(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text as int32 arrays (the shard path).

        Each document's Python id list lives only while it is copied into its array: holding the
        lists of a whole batch of long files at once (millions of int objects) made tokenizing
        markedly slower than the tokenizer itself.
        """
        if self._rank is not None:
            return [self._rank.encode(t) for t in texts]
        return [
            np.array(e.ids, dtype=np.int32) for part in self._slices(texts) for e in self._encodings(part)
        ]

    def decode(self, ids: Iterable[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def to_str(self) -> str:
        """The tokenizer's JSON as it was trained or loaded (with its own pre-tokenizer)."""
        if not self._fast_form:
            return self.tokenizer.to_str(pretty=False)
        self.tokenizer.pre_tokenizer = canonical_pre_tokenizer()
        try:
            return self.tokenizer.to_str(pretty=False)
        finally:
            self.tokenizer.pre_tokenizer = fast_pre_tokenizer()

    def save(self, path: str) -> None:
        atomic_write_text(path, self.to_str())

    def describe(self) -> dict:
        return {
            "vocab_size": self.vocab_size,
            "padded_vocab_size": self.padded_vocab_size,
            "dtype": np.dtype(self.dtype).name,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "fim_begin_id": self.fim_begin_id,
            "fim_hole_id": self.fim_hole_id,
            "fim_end_id": self.fim_end_id,
        }


#: Tokenizers loaded in this process, by (path, file size, modification time, settings): the count
#: and shard stages of one worker load the same file, and parsing a large vocabulary's JSON costs as
#: much as tokenizing megabytes of text.
_LOADED: dict[tuple, CorpusTokenizer] = {}


def load_tokenizer(path: str, settings: TokenizerSettings) -> CorpusTokenizer:
    """Read and check a `tokenizer.json` (local path or fsspec URL); once per process and file."""
    fs, p = split_url(path)
    if not fs.exists(p):
        raise UserError(f"tokenizer.path: {path} not found")
    info = fs.info(p)
    key = (
        path,
        info.get("size"),
        info.get("mtime") or info.get("LastModified") or info.get("created"),
        settings.model_dump_json(),
    )
    if key in _LOADED:
        return _LOADED[key]
    try:
        with fs.open(p, "rb") as f:
            tok = Tokenizer.from_str(f.read().decode("utf-8"))
    except (UnicodeDecodeError, Exception) as e:  # tokenizers raises a plain Exception on bad JSON
        raise UserError(f"tokenizer.path: {path} is not a valid tokenizer.json ({str(e)[:120]})") from None
    loaded = CorpusTokenizer(tok, settings.special_tokens, settings.pad_to_multiple_of, path)
    _LOADED.clear()  # one tokenizer per build; do not let a long-lived process pile them up
    _LOADED[key] = loaded
    return loaded


def wrap_trained(tok: Tokenizer, settings: TokenizerSettings, source: str) -> CorpusTokenizer:
    return CorpusTokenizer(tok, settings.special_tokens, settings.pad_to_multiple_of, source)
