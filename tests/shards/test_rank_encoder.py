"""tiktoken's encoder must give exactly HF's ids wherever the shard path uses it.

Three things make the two encoders agree (corpus.mix.rank_encoder): each character class of the
pattern holds the same code points in both regex engines (compared here on every code point, for
the installed release pair); merges by the rank of the merged token equal merges by merge index
on vocabularies HF's trainer makes (compared on small trained vocabularies, where few letters make
competing merges likely, and on stdlib source); placeholders are one id and control tokens are
text in both. The real-code and demo builds' shard bytes are compared with references written
before the encoder came in (tests/realdata/test_output_hashes.py, tests/foundation/).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import tiktoken
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

from corpus.mix import rank_encoder
from corpus.mix.config import TokenizerSettings
from corpus.mix.tokenizer import (
    _CJK_CLASS,
    NUMERIC_BEYOND_REGEX,
    fast_pre_tokenize_pattern,
    load_tokenizer,
    train_tokenizer,
    wrap_trained,
)

ALL = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


@pytest.fixture(scope="module")
def extra() -> str:
    import tokenizers

    pair = rank_encoder.releases()
    if pair not in rank_encoder.CHECKED_RELEASES:
        pytest.skip(f"tokenizers/tiktoken {pair}: not a checked pair, ids go through HF")
    return NUMERIC_BEYOND_REGEX[tokenizers.__version__]


def _classes(extra: str) -> dict[str, str]:
    numeric = rf"\p{{N}}{extra}"
    return {
        "line break": r"[\r\n]",
        "CJK": rf"[{_CJK_CLASS}&&[^{numeric}]]",
        "letters": rf"[\p{{L}}\p{{M}}&&[^{_CJK_CLASS}{extra}]]",
        "punctuation and symbols": r"[\p{P}\p{S}]",
        "spaces": r"[^\S\r\n]",
        "numeric": rf"[{numeric}]",
        "gap": rank_encoder.gap_class(extra),
    }


def _onig_members(cls: str) -> set[str]:
    kept = pre_tokenizers.Split(Regex(cls), behavior="removed").pre_tokenize_str(ALL)
    return set(ALL) - {c for piece, _ in kept for c in piece}


def _rust_members(cls: str) -> set[str]:
    enc = tiktoken.Encoding(
        "class", pat_str=cls, mergeable_ranks={bytes([b]): b for b in range(256)}, special_tokens={}
    )
    return set(bytes(enc.encode_ordinary(ALL)).decode("utf-8"))


def test_every_code_point_is_in_the_same_class_in_both_regex_engines(extra):
    sizes = {}
    for name, cls in _classes(extra).items():
        onig, rust = _onig_members(cls), _rust_members(cls)
        assert onig == rust, (
            f"{name}: {len(onig - rust)} code points only Oniguruma takes "
            f"(e.g. {[f'U+{ord(c):04X}' for c in sorted(onig - rust)[:5]]}), {len(rust - onig)} only Rust's regex"
        )
        sizes[name] = len(onig)
    assert (
        sizes["letters"] > 30_000
        and sizes["CJK"] > 90_000
        and sizes["numeric"] > 1_500
        and sizes["gap"] > 900_000
    )


def _byte_level_bpe(texts: list[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(fast_pre_tokenize_pattern("")), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def test_merges_by_rank_equal_merges_by_index_on_trained_vocabularies(extra):
    rng = random.Random(7)
    differ = checked = 0
    for trial in range(40):
        letters = "abcdé"[: rng.randint(2, 5)]
        words = ["".join(rng.choices(letters, k=rng.randint(1, 12))) for _ in range(rng.randint(20, 300))]
        corpus = [" ".join(rng.choices(words, k=30)) for _ in range(50)]
        hf = _byte_level_bpe(corpus, 256 + rng.randint(5, 150))
        spec = json.loads(hf.to_str())
        assert rank_encoder.why_not(spec) is None
        enc = rank_encoder.build(hf, fast_pre_tokenize_pattern(extra), extra, "probe", f"trial {trial}")
        assert enc is not None
        texts = [
            " ".join("".join(rng.choices(letters, k=rng.randint(1, 25))) for _ in range(rng.randint(1, 4)))
            for _ in range(600)
        ]
        want = [e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=False)]
        differ += sum(enc.encode(t).tolist() != w for t, w in zip(texts, want, strict=True))
        checked += len(texts)
    assert differ == 0, f"{differ} of {checked} texts got other ids"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, list[str]]:
    std = Path(sys.modules["json"].__file__).resolve().parents[1]
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(std.glob("*.py"))[:90]]
    texts += ["数学 〇一二 ２０２４年 Ⅻ ½ ٣٤ ১২ 𝟙𝟚 ⑴ x²", "\r\n\t 12 345\u00a0\u2003z\x00\x7f\u200b", ""]
    settings = TokenizerSettings(vocab_size=3_000)
    path = tmp_path_factory.mktemp("rank") / "tokenizer.json"
    wrap_trained(train_tokenizer(texts[::2], settings), settings, "test").save(str(path))
    return path, texts


def test_trained_tokenizer_encodes_through_tiktoken_with_hfs_ids(extra, trained):
    path, texts = trained
    settings = TokenizerSettings(vocab_size=3_000)
    tok = load_tokenizer(str(path), settings)
    assert tok.rank_encoded
    texts = [
        *texts,
        "x = '<｜fim▁begin｜>' + <KEY> and <｜end▁of▁sentence｜><EMAIL>",
        "<PASSWORD><IP_ADDRESS> <PRIVATE_KEY>",
    ]
    got = tok.encode_arrays(texts)
    literal = Tokenizer.from_file(str(path))
    literal.encode_special_tokens = True  # control tokens are text in documents; placeholders stay one id
    want = [e.ids for e in literal.encode_batch(texts, add_special_tokens=False)]
    assert [g.tolist() for g in got] == want
    assert all(g.dtype == np.int32 for g in got)
    assert tok.tokenizer.token_to_id("<KEY>") in got[-2]


def test_a_file_whose_ids_do_not_follow_its_merges_stays_on_hf(extra, trained, tmp_path):
    path, texts = trained
    spec = json.loads(path.read_text())
    vocab = spec["model"]["vocab"]
    a, b = (t for t, i in vocab.items() if i in (300, 301))
    vocab[a], vocab[b] = vocab[b], vocab[a]
    assert "does not make token id" in rank_encoder.why_not(spec)
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps(spec))
    settings = TokenizerSettings(vocab_size=3_000)
    tok = load_tokenizer(str(swapped), settings)
    assert not tok.rank_encoded
    want = [
        e.ids for e in Tokenizer.from_file(str(swapped)).encode_batch(texts[:20], add_special_tokens=False)
    ]
    assert tok.encode_batch(texts[:20]) == want
