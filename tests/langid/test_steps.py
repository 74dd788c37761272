"""The tagger and filter as datatrove steps, run by datatrove's own local executor."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.executor.local import LocalPipelineExecutor

from classifiers.langid.config import LangidConfig
from classifiers.langid.steps import LanguageFilter, LanguageTagger, langid_steps
from corpus.core.errors import UserError
from corpus.core.parquet_io import ParquetDocumentReader, ParquetDocumentWriter
from corpus.core.schema import make_document

FILES = {
    "src/app.py": "import os\nprint(os.getcwd())\n",
    "src/lib.rs": 'fn main() { println!("hi"); }\n',
    "include/a.h": "#include <vector>\nclass A { std::vector<int> v; };\n",
    "config.yml": "a: 1\nb: 2\n",
    "bin/tool": "#!/usr/bin/env ruby\nputs 1\n",
    "empty.txt": "",
}


def _docs():
    return [
        make_document(f"github:o/r/{path}", text, "github", "code", path=path, repo="o/r")
        for path, text in FILES.items()
    ]


def test_tagger_records_language_and_how():
    out = {d.metadata["path"]: d for d in LanguageTagger().run(iter(_docs()))}
    assert out["src/app.py"].metadata["language"] == "Python"
    assert out["src/app.py"].metadata["langid"]["how"] == "extension"
    assert out["include/a.h"].metadata["language"] == "C++"
    assert out["include/a.h"].metadata["langid"]["how"] == "heuristic"
    assert out["bin/tool"].metadata["language"] == "Ruby"
    assert out["config.yml"].metadata["language"] is None
    assert out["config.yml"].metadata["langid"]["label"] == "YAML"


def test_filter_records_every_drop(tmp_path):
    tagger = LanguageTagger()
    keep = LanguageFilter(["python", "Rust"])
    keep.bind_stage(str(tmp_path / "stage"), "github/langid")
    kept = list(keep.run(tagger.run(iter(_docs()))))
    assert sorted(d.metadata["path"] for d in kept) == ["src/app.py", "src/lib.rs"]
    drops = pq.read_table(tmp_path / "stage" / "drops" / "langid-filter" / "00000.parquet").to_pylist()
    reasons = {d["id"].split("/", 2)[-1]: (d["reason"], d["detail"]) for d in drops}
    assert reasons["include/a.h"] == ("language-not-listed", "C++")
    assert reasons["config.yml"][0] == "unknown-language"
    assert "YAML" in reasons["config.yml"][1]
    assert len(drops) == len(FILES) - 2


def test_filter_rejects_names_outside_the_list():
    with pytest.raises(UserError, match="Klingon"):
        LanguageFilter(["Python", "Klingon"])


def test_recipe_section_is_strict():
    with pytest.raises(ValueError):
        LangidConfig.model_validate({"languages": ["Python"], "typo": 1})


def test_steps_in_a_datatrove_pipeline(tmp_path):
    src = tmp_path / "in"
    list(ParquetDocumentWriter(str(src)).run(iter(_docs()), rank=0, world_size=1))
    out = tmp_path / "out"
    cfg = LangidConfig(languages=None, keep_unknown=False)
    steps = [ParquetDocumentReader(str(src)), *langid_steps(cfg), ParquetDocumentWriter(str(out))]
    steps[2].bind_stage(str(out), "github/langid")
    LocalPipelineExecutor(
        steps, tasks=1, workers=1, logging_dir=str(tmp_path / "logs"), skip_completed=False
    ).run()
    rows = [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    langs = {json.loads(r["metadata"])["path"]: r["language"] for r in rows}
    assert langs == {"src/app.py": "Python", "src/lib.rs": "Rust", "include/a.h": "C++", "bin/tool": "Ruby"}
    meta = json.loads(rows[0]["metadata"])
    assert set(meta["langid"]) == {"how", "confidence", "label", "reason"}
    drops = pq.read_table(out / "drops" / "langid-filter" / "00000.parquet").to_pylist()
    assert {d["reason"] for d in drops} == {"unknown-language"}


def test_tagger_keeps_a_language_set_by_the_reader():
    doc = make_document(
        "github:o/r/a.txt", "x", "github", "code", language=None, path="a.txt", language_label="YAML"
    )
    out = next(LanguageTagger().run(iter([doc])))
    assert "langid" not in out.metadata
    keep = LanguageFilter()
    assert list(keep.run(iter([out]))) == []
    assert keep._drops[0][1:] == ("unknown-language", "YAML is not one of the 338 languages")


def test_langid_stage_follows_the_github_documents_stage(tmp_path):
    from corpus.app.builders.langid import langid_stages
    from corpus.app.builders.sources import source_document_stages
    from corpus.app.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "demo.yaml")
    previous = source_document_stages(recipe, str(tmp_path), [])
    stages = langid_stages(recipe, str(tmp_path), previous)
    assert [s.label for s in stages] == ["github/langid"]
    names = [type(s).__name__ for s in stages[0].steps]
    assert names == ["ParquetDocumentReader", "LanguageTagger", "LanguageFilter", "ParquetDocumentWriter"]
    assert stages[0].steps[2].stage_folder == f"{tmp_path}/github/langid"


def test_filter_accepts_aliases_of_listed_names():
    assert LanguageFilter(["cpp", "perl6", "golang"]).keep == {"C++", "Perl 6", "Go"}


def test_filter_leaves_other_groups_untouched():
    readme = make_document("github:o/r/README.md", "# Title\n", "github", "text", path="README.md")
    code = make_document("github:o/r/a.yml", "a: 1\n", "github", "code", path="a.yml")
    tagged = list(LanguageTagger().run(iter([readme, code])))
    kept = list(LanguageFilter(groups=["code"]).run(iter(tagged)))
    assert [d.id for d in kept] == ["github:o/r/README.md"]
