"""The one-step pre-tokenizer the shard path encodes with must cut text exactly as the trained one.

`corpus.mix.tokenizer` swaps a three-step pre-tokenizer (split, digits, byte map) for a two-step
equivalent when it loads a tokenizer of ours. The swap is exact when the regex's numeric class
(onig's `\\p{N}` plus the listed extras) holds exactly the characters the digit splitter isolates
(Rust's `char::is_numeric`): both come from Unicode tables that differ by library version, so the
two sets are compared over every code point, and the two forms cut the same text around every
numeral and a spread of other characters.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tokenizers
from tokenizers import Regex, pre_tokenizers

from corpus.mix.config import TokenizerSettings
from corpus.mix.tokenizer import (
    NUMERIC_BEYOND_REGEX,
    canonical_pre_tokenizer,
    fast_pre_tokenizer,
    load_tokenizer,
    train_tokenizer,
    wrap_trained,
)

# Each code point beside a control character no alternative takes, CJK ideographs, digits, spaces,
# letters and a line break, and doubled: the places where the two forms could cut differently.
CONTEXT = "\x01{0}\x01漢{0}字1{0}2 {0}a{0}\n{0}{0} {0} "

ALL = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def isolated(pre_tokenizer) -> set[str]:
    """The code points a pre-tokenizer cuts out alone when each stands between two letters 'a'."""
    text = "a" + "a".join(ALL) + "a"
    return {p for p, _ in pre_tokenizer.pre_tokenize_str(text) if len(p) == 1 and p != "a"}


@pytest.fixture(scope="module")
def numerals():
    if fast_pre_tokenizer() is None:
        pytest.skip(
            f"tokenizers {tokenizers.__version__}: no checked one-step form, the three-step one is used"
        )
    digit_split = isolated(pre_tokenizers.Digits(individual_digits=True))
    regex = isolated(pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"))
    listed = isolated(
        pre_tokenizers.Split(Regex(f"[{NUMERIC_BEYOND_REGEX[tokenizers.__version__]}]"), behavior="isolated")
    )
    return digit_split, regex, listed


def test_the_numeric_class_is_exactly_the_digit_splitters(numerals):
    digit_split, regex, listed = numerals
    assert len(digit_split) > 1_800
    assert regex - digit_split == set(), "the regex calls numeric what the digit splitter does not"
    missing = sorted(f"U+{ord(c):04X}" for c in digit_split - regex - listed)
    assert not missing, f"numerals the regex does not know, to list in NUMERIC_BEYOND_REGEX: {missing}"
    assert listed <= digit_split - regex


def test_every_numeral_and_a_spread_of_code_points_are_cut_the_same(numerals):
    digit_split, regex, _ = numerals
    chars = sorted(digit_split | regex | set(ALL[::29]))
    slow, fast = canonical_pre_tokenizer(), fast_pre_tokenizer()
    text = "\x02".join(CONTEXT.format(c) for c in chars)
    assert fast.pre_tokenize_str(text) == slow.pre_tokenize_str(text)


def test_an_unchecked_release_keeps_the_three_step_form():
    assert fast_pre_tokenizer("0.0.0-unchecked") is None


def test_real_text_gets_the_same_ids(tmp_path):
    std = Path(sys.modules["json"].__file__).resolve().parents[1]
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(std.glob("*.py"))[:120]]
    texts += ["数学 〇一二 ２０２４年 Ⅻ ½ ٣٤ ১২ 𝟙𝟚 ⑴ x²", "\r\n\t 12 345\u00a0\u2003z", ""]
    settings = TokenizerSettings(vocab_size=2_000)
    trained = wrap_trained(train_tokenizer(texts[::3], settings), settings, "test")
    path = tmp_path / "tokenizer.json"
    trained.save(str(path))
    assert '"Digits"' in path.read_text(), "the saved file keeps the canonical pre-tokenizer"
    loaded = load_tokenizer(str(path), settings)
    fast = fast_pre_tokenizer() or canonical_pre_tokenizer()
    assert loaded.tokenizer.pre_tokenizer.__getstate__() == fast.__getstate__()
    plain = trained.to_str()
    from tokenizers import Tokenizer

    reference = Tokenizer.from_str(plain)
    assert reference.pre_tokenizer.__getstate__() == canonical_pre_tokenizer().__getstate__()
    want = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    assert loaded.encode_batch(texts) == want
