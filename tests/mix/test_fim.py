"""Fill-in-the-middle: the realised rate, the order of the parts, and lossless reassembly."""

from __future__ import annotations

import math

import pytest

from corpus.mix.config import FimSettings, TokenizerSettings
from corpus.mix.fim import assemble, draw_fim, reassemble_text
from corpus.mix.tokenizer import train_tokenizer, wrap_trained
from tests.mix.helpers import _code_rows, _math_rows, _text_rows

N = 10_000


@pytest.fixture(scope="module")
def tok():
    settings = TokenizerSettings(vocab_size=1200)
    texts = [r["text"] for r in _code_rows(60) + _text_rows(10)]
    return wrap_trained(train_tokenizer(texts, settings), settings, "fim-test")


@pytest.fixture(scope="module")
def documents() -> list[tuple[str, str]]:
    """10,000 real documents: code files cut into chunks, package texts, worked math."""
    docs = []
    for r in _code_rows(200) + _text_rows(40) + _math_rows(2000):
        text = r["text"]
        for k in range(0, len(text), 160):
            docs.append((f"{r['id']}#{k}", text[k : k + 160]))
    assert len(docs) >= N
    return docs[:N]


def _sequences(tok, docs, settings, seed=3, epoch=0):
    splits = [draw_fim(text, settings, seed, did, epoch) for did, text in docs]
    pieces = []
    for (_, text), s in zip(docs, splits, strict=True):
        pieces.extend(s.parts(text) if s else (text,))
    enc = tok.encode_batch(pieces)
    out, at = [], 0
    for s in splits:
        if s is None:
            ids = enc[at]
            at += 1
        else:
            ids = assemble(s, *enc[at : at + 3], tok.fim_begin_id, tok.fim_hole_id, tok.fim_end_id)
            at += 3
        out.append([*ids, tok.eos_id])
    return splits, out


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_rate_and_lossless_reassembly_on_10k_documents(tok, documents, mode):
    settings = FimSettings(rate=0.5, mode=mode)
    splits, seqs = _sequences(tok, documents, settings)
    fim = [s for s in splits if s is not None]
    rate = len(fim) / N
    # binomial(10,000, 0.5): 4 standard deviations is 0.02
    assert abs(rate - 0.5) < 4 * math.sqrt(0.25 / N), rate
    assert all(s.mode == mode for s in fim)
    for (_, text), s, ids in zip(documents, splits, seqs, strict=True):
        assert ids[-1] == tok.eos_id
        if s is not None:
            assert ids[0] == tok.fim_begin_id
            assert sorted(ids.count(t) for t in (tok.fim_hole_id, tok.fim_end_id)) == [1, 1]
        back = reassemble_text(ids, tok.decode, tok.fim_begin_id, tok.fim_hole_id, tok.fim_end_id, tok.eos_id)
        assert back == text


def test_psm_order_puts_the_middle_last(tok):
    text = "def add(a, b):\n    return a + b\n"
    for i in range(200):
        s = draw_fim(text, FimSettings(rate=1.0), 0, f"d{i}", 0)
        if s and 0 < s.a < s.b < len(text):
            break
    prefix, middle, suffix = s.parts(text)
    ids = assemble(s, *tok.encode_batch([prefix, middle, suffix]), 1, 2, 3)
    hole, end = ids.index(2), ids.index(3)
    assert ids[0] == 1 and hole < end
    assert tok.decode(ids[1:hole]) == prefix
    assert tok.decode(ids[hole + 1 : end]) == suffix
    assert tok.decode(ids[end + 1 :]) == middle


def test_split_points_are_uniform_over_characters():
    text = "x" * 1000
    cuts = [draw_fim(text, FimSettings(rate=1.0), 1, f"d{i}", 0) for i in range(4000)]
    # two uniform cuts, sorted: E[min] = 1/3, E[max] = 2/3 of the length
    assert abs(sum(c.a for c in cuts) / 4000 / 1000 - 1 / 3) < 0.02
    assert abs(sum(c.b for c in cuts) / 4000 / 1000 - 2 / 3) < 0.02


def test_draws_depend_only_on_seed_id_and_epoch():
    text = "some code " * 30
    s = FimSettings(rate=0.5)
    first = [draw_fim(text, s, 5, f"d{i}", 0) for i in range(300)]
    assert first == [draw_fim(text, s, 5, f"d{i}", 0) for i in range(300)]
    assert first != [draw_fim(text, s, 5, f"d{i}", 1) for i in range(300)]  # a new split each epoch
    assert first != [draw_fim(text, s, 6, f"d{i}", 0) for i in range(300)]


def test_spm_share_within_psm(tok):
    s = FimSettings(rate=1.0, mode="psm", spm_rate=0.25)
    modes = [draw_fim("abcdefghij" * 5, s, 0, f"d{i}", 0).mode for i in range(4000)]
    assert abs(modes.count("spm") / 4000 - 0.25) < 0.03


def test_short_and_disabled_documents_stay_whole():
    assert draw_fim("a", FimSettings(rate=1.0, min_chars=2), 0, "d", 0) is None
    assert draw_fim("abc", FimSettings(rate=0.0), 0, "d", 0) is None
    assert draw_fim("abc", None, 0, "d", 0) is None
