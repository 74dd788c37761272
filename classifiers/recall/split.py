"""How page text becomes fastText input: BPE pieces or whitespace words.

fastText splits its input on whitespace only. For code that is a poor unit: `foo.bar(x)` is one
"word", `np.zeros((3,4))` another, and a page full of rare identifiers shares no word with the seed.
DeepSeek-Coder-V2 reports that splitting with the BPE tokenizer first "significantly improves"
recall accuracy; `BpeSplitter` does that with an HF `tokenizers` byte-level BPE (trained by the
recipe or loaded from a `tokenizer.json`), and `WhitespaceSplitter` keeps the old behaviour so the
difference can be measured (benchmarks/bench_recall_split.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from corpus.errors import UserError

#: pages are truncated before splitting; the head of a page decides its class, the tail adds cost
DEFAULT_MAX_CHARS = 20_000
_WS = re.compile(r"\s+")


class Splitter(Protocol):
    name: str

    def split_batch(self, texts: Sequence[str]) -> list[list[str]]: ...


class WhitespaceSplitter:
    """fastText's own tokenisation: runs of non-space characters."""

    name = "whitespace"

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.max_chars = max_chars

    def split_batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [t[: self.max_chars].split() for t in texts]


class BpeSplitter:
    """Pieces of an HF `tokenizers` BPE, encoded in batches (the library parallelises them)."""

    name = "bpe"

    def __init__(self, tokenizer, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.tokenizer = tokenizer
        self.max_chars = max_chars

    @classmethod
    def load(cls, path: str | Path, max_chars: int = DEFAULT_MAX_CHARS) -> BpeSplitter:
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: tokenizer file not found (expected a tokenizer.json)")
        try:
            return cls(Tokenizer.from_file(str(path)), max_chars)
        except Exception as err:
            raise UserError(f"{path}: not a valid tokenizers JSON file ({err})") from err

    def split_batch(self, texts: Sequence[str]) -> list[list[str]]:
        encs = self.tokenizer.encode_batch([t[: self.max_chars] for t in texts], add_special_tokens=False)
        return [[tok for tok in e.tokens if not tok.isspace()] for e in encs]

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))


def train_bpe(
    texts: Iterable[str], vocab_size: int = 32_000, max_chars: int = DEFAULT_MAX_CHARS
) -> BpeSplitter:
    """A byte-level BPE trained on `texts`, with digits split one by one as in DeepSeek's tokenizer.

    Byte-level pieces never contain raw whitespace (space becomes `Ġ`, newline `Ċ`), so every piece
    is one fastText word; indentation survives as pieces of its own, which is a code signal.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

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
        for pieces in splitter.split_batch(texts[i : i + batch]):
            out.append(_WS.sub(" ", " ".join(pieces)).strip())
    return out
