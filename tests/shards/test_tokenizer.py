"""The BPE tokenizer: the paper's pre-tokenization, special-token layout, and the checks on load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from corpus.core.errors import UserError
from corpus.core.redaction import PLACEHOLDERS
from corpus.mix.config import DEEPSEEK_BOS, DEEPSEEK_EOS, DEEPSEEK_FIM_BEGIN, TokenizerSettings
from corpus.mix.tokenizer import load_tokenizer, train_tokenizer, wrap_trained
from tests.mix.helpers import _code_rows, _math_rows, _text_rows

SETTINGS = TokenizerSettings(vocab_size=1500)


@pytest.fixture(scope="module")
def trained():
    texts = [r["text"] for r in _code_rows(80) + _text_rows(20) + _math_rows(50)]
    return wrap_trained(train_tokenizer(texts, SETTINGS), SETTINGS, "trained")


def test_special_tokens_follow_the_ordinary_vocabulary(trained):
    # the released tokenizer's layout: BOS = 100000, EOS = 100001 after 100,000 ordinary tokens
    assert trained.bos_id == SETTINGS.vocab_size
    assert trained.eos_id == SETTINGS.vocab_size + 1
    specials = len(SETTINGS.special_tokens.all_tokens())
    assert trained.vocab_size == SETTINGS.vocab_size + specials + len(PLACEHOLDERS) == 1520
    assert trained.padded_vocab_size == 1536 and trained.padded_vocab_size % 128 == 0
    assert trained.dtype is np.uint16


def test_redaction_placeholders_are_one_id_each_even_beside_a_quoted_control_token(trained):
    first = SETTINGS.vocab_size + len(SETTINGS.special_tokens.all_tokens())
    ids = {p: trained.tokenizer.token_to_id(p) for p in PLACEHOLDERS}
    assert sorted(ids.values()) == list(range(first, first + len(PLACEHOLDERS)))
    for text in ('key = "<KEY>"', f'{DEEPSEEK_FIM_BEGIN} key = "<KEY>"'):
        assert ids["<KEY>"] in trained.encode_batch([text])[0]
        assert trained.decode(trained.encode_batch([text])[0]) == text


def test_digits_newlines_punctuation_and_cjk_are_kept_apart(trained):
    pieces = [p for p, _ in trained.tokenizer.pre_tokenizer.pre_tokenize_str("x = 2024\n\nprint(数学)")]
    assert pieces[:7] == ["x", "Ġ=", "Ġ", "2", "0", "2", "4"]  # digits one by one
    assert pieces[7:9] == ["Ċ", "Ċ"]  # each newline alone
    assert "(" in pieces and ")" in pieces
    assert "æķ°åŃ¦" in pieces  # the CJK run stays one piece, apart from the punctuation
    tail = [p for p, _ in trained.tokenizer.pre_tokenizer.pre_tokenize_str("a   \r\nb")]
    assert tail == ["a", "ĠĠĠ", "čĊ", "b"]  # trailing spaces never swallow the line break
    ids = trained.encode_batch(["1234567890"])[0]
    assert len(ids) == 10


@pytest.mark.parametrize(
    "text",
    ["", "  \n\t\r\n", "def f():\n    return 0x1F  # ünïcödé", "数学 수학 математика 😀", "a" * 5000],
)
def test_every_text_round_trips(trained, text):
    assert trained.decode(trained.encode_batch([text])[0]) == text


def test_sentinel_strings_inside_a_document_are_plain_text(trained):
    text = f"x = '{DEEPSEEK_FIM_BEGIN}'  # a document quoting the sentinel"
    ids = trained.encode_batch([text])[0]
    assert trained.fim_begin_id not in ids
    assert trained.decode(ids) == text


def test_saved_tokenizer_loads_back_identically(trained, tmp_path):
    path = tmp_path / "tokenizer.json"
    trained.save(str(path))
    again = load_tokenizer(str(path), SETTINGS)
    assert again.describe() == trained.describe()
    text = "for i in range(10):\n    print(i ** 2)"
    assert again.encode_batch([text]) == trained.encode_batch([text])


def test_missing_special_tokens_are_named(tmp_path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.add_special_tokens([DEEPSEEK_BOS])
    path = tmp_path / "plain.json"
    path.write_text(tok.to_str())
    with pytest.raises(UserError) as err:
        load_tokenizer(str(path), SETTINGS)
    msg = str(err.value)
    assert str(path) in msg and "eos=" in msg and DEEPSEEK_EOS in msg and "bos=" not in msg


def test_a_lossy_tokenizer_fails_the_round_trip_check(trained, tmp_path):
    data = json.loads(trained.tokenizer.to_str())
    lossy = Tokenizer.from_str(json.dumps(data))
    lossy.normalizer = normalizers.Lowercase()
    path = tmp_path / "lossy.json"
    path.write_text(lossy.to_str())
    with pytest.raises(UserError, match="does not round-trip"):
        load_tokenizer(str(path), SETTINGS)


def test_unreadable_and_absent_files_are_user_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match=r"not a valid tokenizer\.json"):
        load_tokenizer(str(bad), SETTINGS)
    with pytest.raises(UserError, match="not found"):
        load_tokenizer(str(tmp_path / "absent.json"), SETTINGS)


def test_large_vocabularies_use_int32_ids(tmp_path):
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    for i in range(70_000 - len(vocab)):
        vocab[f"tok{i}"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SETTINGS.special_tokens.all_tokens())
    path = tmp_path / "big.json"
    path.write_text(tok.to_str())
    big = load_tokenizer(str(path), SETTINGS)
    assert big.vocab_size >= 65_500 and big.dtype is np.int32
    assert big.eos_id == 70_001
