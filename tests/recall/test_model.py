"""BPE splitting, fastText training/scoring on real models, metrics, and the recall CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifiers.recall.model import FastTextParams, RecallModel, evaluate, train_model
from classifiers.recall.split import BpeSplitter, WhitespaceSplitter, fasttext_lines, train_bpe
from corpus.core.errors import UserError
from tests.conftest import REPO, run_cli

SEEDS = REPO / "recipes" / "demo-data" / "recall"
SMALL = dict(dim=32, bucket=50_000, epoch=20, min_count=1, lr=0.5, quantize=False)


def texts(name: str) -> list[str]:
    return [json.loads(line)["text"] for line in (SEEDS / name).read_text().splitlines()]


def test_bpe_pieces_have_no_whitespace_and_digits_stand_alone() -> None:
    splitter = train_bpe(texts("code_seed.jsonl") + texts("math_seed.jsonl"), vocab_size=500)
    (line,) = fasttext_lines(splitter, ["def f(x):\n    return x ** 2024  # square"])
    pieces = line.split(" ")
    assert all(p and not any(c.isspace() for c in p) for p in pieces)
    digits = [p.strip("Ġ") for p in pieces if p.strip("Ġ").isdigit()]
    assert digits == ["2", "0", "2", "4"]
    assert len(pieces) > len(["def", "f(x):", "return", "x", "**", "2024", "#", "square"])


def test_whitespace_split_is_fasttexts_own() -> None:
    assert fasttext_lines(WhitespaceSplitter(), ["a  b\n\tc"]) == ["a b c"]
    assert fasttext_lines(WhitespaceSplitter(max_chars=3), ["abcdef"]) == ["abc"]


def test_training_separates_targets_and_retraining_agrees(tmp_path: Path) -> None:
    """fastText here is not bit-reproducible (see model.py); two trainings must still agree."""
    sp = WhitespaceSplitter()
    pos = fasttext_lines(sp, texts("math_seed.jsonl"))
    neg = fasttext_lines(sp, texts("code_seed.jsonl"))
    a = train_model(pos, neg, tmp_path / "a", FastTextParams(**SMALL))
    b = train_model(pos, neg, tmp_path / "b", FastTextParams(**SMALL))
    assert a.suffix == ".bin"
    probe = fasttext_lines(
        sp, ["the derivative of the polynomial at the root", "import json def function return"]
    )
    for model in (a, b):
        math_page, code_page = RecallModel(model).scores(probe)
        assert math_page > 0.7 and code_page < 0.3 and math_page - code_page > 0.5


def test_paper_defaults_and_quantisation(tmp_path: Path) -> None:
    params = FastTextParams()
    assert (params.dim, params.lr, params.word_ngrams, params.min_count, params.epoch) == (256, 0.1, 3, 3, 3)
    assert params.bucket == 200_000 and not params.quantize
    sp = WhitespaceSplitter()
    pos = fasttext_lines(sp, texts("math_seed.jsonl"))
    neg = fasttext_lines(sp, texts("code_seed.jsonl"))
    full = train_model(pos, neg, tmp_path / "full", FastTextParams(**SMALL))
    small = train_model(
        pos, neg, tmp_path / "q", FastTextParams(**{**SMALL, "quantize": True, "quantize_cutoff": 500})
    )
    assert small.suffix == ".ftz" and small.stat().st_size < full.stat().st_size / 4
    line = fasttext_lines(sp, ["the derivative of the polynomial"])
    assert RecallModel(small).scores(line)[0] > 0.5


def test_bad_models_and_tiny_divergent_training_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        RecallModel(tmp_path / "missing.bin")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model")
    with pytest.raises(UserError):
        RecallModel(junk)
    with pytest.raises(UserError, match="needs positives and negatives"):
        train_model([], ["x"], tmp_path / "m")


def test_metrics() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0])
    m = evaluate(scores, labels, 0.5)
    assert (m.precision, m.recall) == (2 / 3, 2 / 3)
    assert m.average_precision == pytest.approx((1 + 1 + 3 / 4) / 3)


def test_cli_train_and_score(tmp_path: Path) -> None:
    model = tmp_path / "math"
    train = run_cli(
        "recall", "train",
        "--positives", str(SEEDS / "math_seed.jsonl"),
        "--negatives", str(SEEDS / "code_seed.jsonl"),
        "--out", str(model),
        "--vocab-size", "800", "--dim", "32", "--bucket", "50000", "--epoch", "20",
        "--min-count", "1", "--lr", "0.5", "--no-quantize",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert (tmp_path / "math.bin").is_file() and (tmp_path / "math.tokenizer.json").is_file()
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": 1, "text": "integral of the polynomial derivative theorem"})
        + "\n"
        + json.dumps({"id": 2, "text": "import json\ndef load(path):\n    return json.load(open(path))"})
        + "\n"
    )
    score = run_cli(
        "recall", "score", "--model", str(tmp_path / "math.bin"), str(src), str(tmp_path / "out.jsonl")
    )
    assert score.returncode == 0, score.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["scores"]["math"] > 0.5 > rows[1]["scores"]["math"]
    bad = run_cli(
        "recall", "score", "--model", str(tmp_path / "nope.bin"), str(src), str(tmp_path / "o.jsonl")
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_loaded_tokenizer_matches_trained(tmp_path: Path) -> None:
    sp = train_bpe(texts("math_seed.jsonl"), vocab_size=400)
    sp.save(tmp_path / "tok.json")
    again = BpeSplitter.load(tmp_path / "tok.json")
    sample = ["Note that $x^2 - 5x + 6 = (x-2)(x-3)$."]
    assert fasttext_lines(sp, sample) == fasttext_lines(again, sample)
    with pytest.raises(UserError):
        BpeSplitter.load(tmp_path / "missing.json")


def _split_by_tokenizer(splitter: BpeSplitter, texts: list[str]) -> list[str]:
    """The reference: the whole text through `Tokenizer.encode_batch`, pieces joined by spaces."""
    encs = splitter.tokenizer.encode_batch([t[: splitter.max_chars] for t in texts], add_special_tokens=False)
    return [" ".join(e.tokens) for e in encs]


def test_cached_split_gives_the_tokenizers_own_pieces(tmp_path: Path) -> None:
    """The pre-token cache must cut text exactly where the tokenizer's pre-tokenizer does."""
    corpus = texts("code_seed.jsonl") + texts("math_seed.jsonl")
    splitter = train_bpe(corpus, vocab_size=600, max_chars=5000)
    tricky = [
        "don't  we'll they're I'M it's  'quoted' x'y",
        "a1b22 c  3   4\t\t5\n\n6 7x8 ¹²³ ½ Ⅻ ٣٤",
        "  leading\n    indented   \n\ttabs\r\nend   ",
        "naïve café Ωmega — “quotes” … 漢字かな 한국어 emoji 🙂🙂 nbsp\u00a0here\u2003em",
        "$$\\frac{a}{b}$$ <p>&amp;</p> f(x)=x**2 // comment /* c */ ->=>:: [1,2];",
        "",
        "   ",
        "x" * 6000,
    ]
    sample = corpus + tricky
    assert splitter.lines(sample) == _split_by_tokenizer(splitter, sample)
    assert splitter.lines(sample) == splitter.lines(sample)  # warm cache, same answer
    assert fasttext_lines(splitter, sample) == splitter.lines(sample)
    assert [p.split(" ") if p else [] for p in splitter.lines(sample)] == splitter.split_batch(sample)


def test_other_tokenizers_take_the_general_path(tmp_path: Path) -> None:
    """A tokenizer with another pre-tokenizer is split by `encode_batch`, whitespace pieces dropped."""
    from tokenizers import pre_tokenizers

    splitter = train_bpe(texts("code_seed.jsonl"), vocab_size=400)
    splitter.tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    splitter.save(tmp_path / "ws.json")
    other = BpeSplitter.load(tmp_path / "ws.json")
    (line,) = other.lines(["def f(x):\n    return x"])
    assert line == " ".join(t for t in _split_by_tokenizer(other, ["def f(x):\n    return x"])[0].split())
    assert "  " not in line and "\n" not in line


def test_pieces_missing_from_the_vocabulary_leave_no_gaps() -> None:
    """A vocabulary without some bytes drops them, as the tokenizer does, without empty words."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "Ġ": 2, "Ġa": 3}, merges=[("Ġ", "a")]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    splitter = BpeSplitter(tok)
    sample = ["a b a", "zz a", "a zz b", "zz", "a"]
    assert (
        splitter.lines(sample)
        == _split_by_tokenizer(splitter, sample)
        == ["a Ġ b Ġa", "Ġa", "a Ġ Ġ b", "", "a"]
    )
