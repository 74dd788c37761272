"""How page text becomes fastText input: BPE pieces or whitespace words.

fastText splits its input on whitespace only. For code that is a poor unit: `foo.bar(x)` is one
"word", `np.zeros((3,4))` another, and a page full of rare identifiers shares no word with the seed.
DeepSeek-Coder-V2 reports that splitting with the BPE tokenizer first "significantly improves"
recall accuracy; `BpeSplitter` does that with an HF `tokenizers` byte-level BPE (trained by the
recipe or loaded from a `tokenizer.json`), and `WhitespaceSplitter` keeps the old behaviour so the
difference can be measured (benchmarks/bench_recall_split.py).

Through `Tokenizer.encode_batch`, splitting was the costliest step of scoring a page (~4.5 ms
of CPU for a 12.5k-character page, against ~1.5 ms for two fastText models), almost all of it the
tokenizer's regular-expression pre-tokenizer. So `BpeSplitter`, when the tokenizer is the kind
`train_bpe` makes, cuts the text into pre-tokens with one regular expression (the same rules),
looks each pre-token's pieces up in a per-process cache and asks the BPE model only for
pre-tokens it has not seen: ~0.8 ms for that page, the same pieces (tests/recall/test_model.py
compares them with `encode_batch`). Words repeat, so the cache mostly hits; with a cold cache,
on source files never seen before, the split costs about a third more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import regex
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from corpus.core.byte_level import BYTE_TO_CHAR
from corpus.core.errors import UserError

#: pages are truncated before splitting; the head of a page decides its class, the tail adds cost
DEFAULT_MAX_CHARS = 20_000
_WS = re.compile(r"\s+")

#: the pre-tokenization of `train_bpe`'s tokenizer as one pattern: `Digits(individual_digits)` then
#: `ByteLevel`'s GPT-2 rule (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`)
#: applied to each run between digits. Each digit stands alone, so `?\p{N}+` never applies; a
#: run of spaces before a digit ends its segment, hence `(?![^\s\p{N}])` for `(?!\S)`. The
#: letters branch comes first because it matches most often (no other branch can start with
#: a letter, and the space-then-letter case already won over whitespace in the original order).
#: Code points assigned after the Unicode version of the tokenizer's regex engine may be
#: classed differently; training and scoring both go through this pattern, so they agree.
_PRETOKEN = regex.compile(
    r""" ?\p{L}+|\p{N}|'(?:s|t|re|ve|m|ll|d)| ?[^\s\p{L}\p{N}]+|\s+(?![^\s\p{N}])|\s+"""
)
#: pre-tokens whose pieces are kept per process; at this size the cache holds ~40 MB
_CACHE_LIMIT = 1 << 18


class Splitter(Protocol):
    name: str

    def split_batch(self, texts: Sequence[str]) -> list[list[str]]: ...

    def lines(self, texts: Sequence[str]) -> list[str]: ...


def _is_trained_layout(tokenizer) -> bool:
    """Whether `tokenizer` cuts text exactly as `_PRETOKEN` does and maps pieces by bytes.

    True for what `train_bpe` makes (and its saved `tokenizer.json`); other tokenizers (another
    pre-tokenizer, a normalizer, added tokens that would be matched in the text) take the
    general path through `encode_batch`.
    """
    try:
        spec = json.loads(tokenizer.to_str())
    except Exception:
        return False
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    model = spec.get("model") or {}
    return (
        spec.get("normalizer") is None
        and not spec.get("added_tokens")
        and model.get("type") == "BPE"
        and not model.get("dropout")
        and isinstance(steps, list)
        and len(steps) == 2
        and steps[0] == {"type": "Digits", "individual_digits": True}
        and steps[1].get("type") == "ByteLevel"
        and steps[1].get("add_prefix_space") is False
        and steps[1].get("use_regex", True) is True
    )


class WhitespaceSplitter:
    """fastText's own tokenisation: runs of non-space characters."""

    name = "whitespace"

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.max_chars = max_chars

    def split_batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [t[: self.max_chars].split() for t in texts]

    def lines(self, texts: Sequence[str]) -> list[str]:
        limit = self.max_chars
        return [" ".join(t[:limit].split()) for t in texts]


class BpeSplitter:
    """Pieces of an HF `tokenizers` BPE; one instance per process, reused for every batch."""

    name = "bpe"

    def __init__(self, tokenizer, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.tokenizer = tokenizer
        self.max_chars = max_chars
        self._fast = _is_trained_layout(tokenizer)
        #: pre-token -> its pieces joined by spaces ("" when the model gives none)
        self._cache: dict[str, str] = {}
        self._pieces: list[str] | None = None  # id -> piece, for the general path
        #: whether some cached pre-token has no pieces (only with a vocabulary missing bytes)
        self._empty_pieces = False

    @classmethod
    def load(cls, path: str | Path, max_chars: int = DEFAULT_MAX_CHARS) -> BpeSplitter:

        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: tokenizer file not found (expected a tokenizer.json)")
        try:
            return cls(Tokenizer.from_file(str(path)), max_chars)
        except Exception as err:
            raise UserError(f"{path}: not a valid tokenizers JSON file ({err})") from err

    def split_batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [line.split(" ") if line else [] for line in self.lines(texts)]

    def lines(self, texts: Sequence[str]) -> list[str]:
        """One fastText line per text: its pieces joined by single spaces."""
        if not self._fast:
            return self._general_lines(texts)
        limit = self.max_chars
        findall = _PRETOKEN.findall
        get = self._cache.get
        out = []
        for text in texts:
            words = findall(text[:limit] if len(text) > limit else text)
            try:
                line = " ".join(map(get, words))
            except TypeError:  # a pre-token not cached yet (None in the join)
                self._learn(words)
                line = " ".join(map(get, words))
            if self._empty_pieces:  # byte-level pieces hold no whitespace: split() drops the gaps
                line = " ".join(line.split())
            out.append(line)
        return out

    def _general_lines(self, texts: Sequence[str]) -> list[str]:
        """Any other tokenizer: whole texts through the library, ids mapped to pieces by a list
        (the fast batch encoder leaves `Encoding.tokens` empty); pieces that are whitespace are
        dropped and whitespace inside pieces becomes a separator, as fastText would read it."""
        tok = self.tokenizer
        if self._pieces is None:
            pieces = [""] * tok.get_vocab_size(with_added_tokens=True)
            for piece, i in tok.get_vocab(with_added_tokens=True).items():
                if i >= len(pieces):
                    pieces.extend([""] * (i + 1 - len(pieces)))
                pieces[i] = piece
            self._pieces = pieces
        pieces = self._pieces
        encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
        encs = encode([t[: self.max_chars] for t in texts], add_special_tokens=False)
        return [" ".join(" ".join([pieces[i] for i in e.ids]).split()) for e in encs]

    def _learn(self, words: list[str]) -> None:
        """Put the pieces of every pre-token of `words` not yet cached into the cache."""
        cache = self._cache
        unique = dict.fromkeys(words)
        if len(cache) + len(unique) > _CACHE_LIMIT:
            cache.clear()  # bounded memory; the pieces of a pre-token never change
        missing = [w for w in unique if w not in cache]
        tokenize = self.tokenizer.model.tokenize
        for word in missing:
            chars = "".join([BYTE_TO_CHAR[b] for b in word.encode("utf-8")])
            pieces = " ".join(tok.value for tok in tokenize(chars))
            cache[word] = pieces
            self._empty_pieces |= not pieces

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))


def train_bpe(
    texts: Iterable[str], vocab_size: int = 32_000, max_chars: int = DEFAULT_MAX_CHARS
) -> BpeSplitter:
    """A byte-level BPE trained on `texts`, with digits split one by one as in DeepSeek's tokenizer.

    Byte-level pieces never contain raw whitespace (space becomes `Ġ`, newline `Ċ`), so every piece
    is one fastText word; indentation survives as pieces of its own, which is a code signal.
    """

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((t[:max_chars] for t in texts), trainer=trainer)
    return BpeSplitter(tok, max_chars)


def make_splitter(
    kind: str, tokenizer_path: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> Splitter:
    if kind == "whitespace":
        return WhitespaceSplitter(max_chars)
    if kind == "bpe":
        if tokenizer_path is None:
            raise UserError("split: bpe needs a tokenizer (give --tokenizer PATH or train one in the recipe)")
        return BpeSplitter.load(tokenizer_path, max_chars)
    raise UserError(f"split: unknown kind {kind!r} (use bpe or whitespace)")


def fasttext_lines(splitter: Splitter, texts: Sequence[str], batch: int = 512) -> list[str]:
    """One fastText input line per text: pieces joined by single spaces, nothing else."""
    out: list[str] = []
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        if hasattr(splitter, "lines"):
            out.extend(splitter.lines(chunk))
        else:
            for pieces in splitter.split_batch(chunk):
                out.append(_WS.sub(" ", " ".join(pieces)).strip())
    return out
