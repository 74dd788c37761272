"""The real-code corpus through the whole code path: what a user's build of real repositories must
give. Every figure is checked against counts taken here, straight from the archives with `tarfile`
and from the output files with pyarrow, never from the build's own numbers alone."""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from corpus.github.config import SamplesConfig
from corpus.github.dependencies import dependencies
from corpus.github.samples import forward_imports, split_sample
from tests.conftest import REPO, one_line_error, run_cli
from tests.realdata import inventory
from tests.realdata.conftest import RealBuild, real_recipe
from tests.realdata.planted import PLANTED_REPO, planted_text

pytestmark = pytest.mark.realdata


# ---------------------------------------------------------------- reading what the build wrote


def rows(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def stage_docs(build: RealBuild, stage: str) -> list[dict]:
    return rows(build.output / stage / "data")


def stage_drops(build: RealBuild, stage: str) -> list[dict]:
    return [r for sub in sorted((build.output / stage / "drops").glob("*")) for r in rows(sub)]


def meta(row: dict) -> dict:
    """A row's metadata: the JSON column plus the columns kept beside it (source, group, language)."""
    m = row.get("metadata") or {}
    m = dict(json.loads(m) if isinstance(m, str) else m)
    m.update({k: row[k] for k in ("source", "group", "language") if k in row})
    return m


def documents(build: RealBuild, stage: str):
    from datatrove.data import Document

    return [Document(text=r["text"], id=r["id"], metadata=meta(r)) for r in stage_docs(build, stage)]


def archive_members(path: Path) -> tuple[int, dict[str, bytes]]:
    """(members that are not folders, {path below the top folder: bytes} of the regular files)."""
    seen, files = 0, {}
    with tarfile.open(path) as tar:
        for m in tar:
            if m.isdir():
                continue
            seen += 1
            if m.isfile():
                files[m.name.split("/", 1)[1]] = tar.extractfile(m).read()
    return seen, files


@pytest.fixture(scope="module")
def contents(real_build: RealBuild) -> dict[str, tuple[int, dict[str, bytes]]]:
    return {repo: archive_members(path) for repo, path in real_build.archives.items()}


def stage(build: RealBuild, name: str) -> dict:
    return next(s for s in build.manifest["stages"] if s["stage"] == name)


# ---------------------------------------------------------------- numbers


def test_summary_and_inspect_match_counts_taken_independently(real_build: RealBuild, contents) -> None:
    files_seen = sum(seen for seen, _ in contents.values())
    reader = stage(real_build, "github/documents")
    assert reader["documents_in"] == files_seen  # the reader's rows count files, kept or not
    assert reader["documents_out"] == len(stage_docs(real_build, "github/documents"))
    assert reader["dropped"] == len(stage_drops(real_build, "github/documents"))
    assert reader["documents_out"] + reader["dropped"] == files_seen
    for s in real_build.manifest["stages"]:
        folder = real_build.output / s["stage"] / "data"
        if s["documents_out"] and folder.is_dir():
            assert s["documents_out"] == len(rows(folder)), s["stage"]
    # the summary table printed the same numbers
    assert f"{files_seen / 1000:.1f}k" in real_build.stdout or str(files_seen) in real_build.stdout

    report = json.loads(run_cli("inspect", str(real_build.output), "--json", check=True).stdout)
    final = stage_docs(real_build, "all/decontam")
    assert report["documents"] == len(final)
    assert report["bytes"] == sum(len(r["text"].encode()) for r in final)
    by_language = Counter(meta(r).get("language") or "(unknown)" for r in final)
    assert {x["language"]: x["documents"] for x in report["by_language"]} == dict(by_language)
    for entry in report["by_stage"]:
        assert entry["documents"] == len(stage_docs(real_build, entry["stage"])), entry["stage"]
    # drops by stage and reason: the drop files themselves
    counted = Counter()
    for s in real_build.manifest["stages"]:
        for d in stage_drops(real_build, s["stage"]):
            counted[d["reason"]] += 1
    shown = Counter()
    for d in report["drops"]:
        shown[d["reason"]] += d["count"]
    assert shown == counted


# ---------------------------------------------------------------- decontamination


def test_decontamination_spares_real_code_and_removes_every_planted_solution(real_build: RealBuild) -> None:
    drops = {d["id"]: d for d in stage_drops(real_build, "all/decontam")}
    planted = real_build.planted
    for path, (task_id, variant) in planted.files.items():
        drop = drops.get(f"github:{PLANTED_REPO}/{path}")
        assert drop is not None, f"planted {task_id} ({variant}) at {path} was not removed"
        assert drop["reason"] == "contamination"
        assert drop["detail"].startswith(f"humaneval {task_id} "), drop["detail"]
        assert "matched" in drop["detail"]
    # what decontamination removed beyond the planted files is under 0.1% of what it read
    dec = stage(real_build, "all/decontam")
    planted_bytes = sum(len(t.encode()) + len(f"# {p}\n") for p, t in planted.texts.items())
    real_removed = dec["bytes_in"] - dec["bytes_out"] - planted_bytes
    others = [d for i, d in drops.items() if not any(i.endswith(p) for p in planted.files)]
    assert real_removed / dec["bytes_in"] < 0.001, (real_removed, others[:5])
    # and none of the planted text is left anywhere in the final documents
    final = "\n".join(r["text"] for r in stage_docs(real_build, "all/decontam"))
    for path, (task_id, variant) in planted.files.items():
        body = planted_text(task_id, variant).split("\n\n", 1)[1]
        assert body not in final, path
        assert f"# {path}\n" not in final


# ---------------------------------------------------------------- dependency order


def test_no_sample_puts_a_file_before_a_file_it_imports(real_build: RealBuild) -> None:
    proc = run_cli("github", "order-check", str(real_build.output), check=True)
    assert proc.stdout.startswith("0 forward imports outside cycles in 0 of ")
    samples, edges = forward_imports(documents(real_build, "github/samples"))
    assert samples > 100 and edges == []


def _repo_texts(build: RealBuild, repo: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for doc in documents(build, "github/samples"):
        if doc.metadata.get("repo") != repo:
            continue
        if "files" in doc.metadata:
            texts.update(split_sample(doc))
        else:
            texts[doc.metadata["path"]] = doc.text
    return texts


def test_imports_resolve_the_way_the_language_does(real_build: RealBuild) -> None:
    tables = inventory.tables()
    # flask: tests import the package under src/, not the test fixture named flask.py
    shadow = tables["fixture_shadowing"]["pypi/flask"]
    flask = _repo_texts(real_build, "pypi/flask")
    configs = {p: t for p, t in flask.items() if p in ("pyproject.toml", "setup.cfg")}
    deps = dependencies("python", {p: t for p, t in flask.items() if p.endswith(".py")}, configs)
    importers = [p for p, t in flask.items() if p.startswith("tests/") and "from flask import" in t]
    assert importers
    for path in importers:
        assert shadow["fixture"] not in deps.get(path, set()), path
        assert any(d.startswith(shadow["package"] + "/") for d in deps.get(path, set())), path
    # Java and C#: types of one package or namespace used without an import are edges
    for family, suffix, table in (
        ("java", ".java", tables["java_same_package"]),
        ("csharp", ".cs", tables["csharp_same_namespace"]),
    ):
        for repo, entry in table.items():
            texts = {p: t for p, t in _repo_texts(real_build, repo).items() if p.endswith(suffix)}
            deps = dependencies(family, texts)
            by_type = defaultdict(set)
            for p in texts:
                by_type[posixpath.basename(p)[: -len(suffix)]].add(p)
            for user, used_types in entry["uses"].items():
                user_path = next(p for p in texts if p == f"{entry['folder']}/{user}")
                for used in used_types:
                    assert by_type[used] & deps.get(user_path, set()), (repo, user, used)
    # C/C++: an include cycle is one component: both edges found, its files in consecutive samples
    # (a component over the sample cut is split between files, in order)
    samples = [d for d in documents(real_build, "github/samples") if "files" in d.metadata]
    for repo, cycles in tables["include_cycles"].items():
        texts = _repo_texts(real_build, repo)
        deps = dependencies("c", {p: t for p, t in texts.items() if p.endswith((".h", ".c", ".cc", ".cpp"))})
        owners = {
            f["path"]: int(d.id.rpartition("#sample-")[2])
            for d in samples
            if d.metadata["repo"] == repo
            for f in d.metadata["files"]
        }
        for cycle in cycles:
            for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
                assert b in deps[a], (a, b)
            numbers = sorted({owners[p] for p in cycle})
            assert numbers == list(range(numbers[0], numbers[-1] + 1)), cycle


# ---------------------------------------------------------------- language ID


CODE_SUFFIXES = {".py", ".c", ".h", ".cpp", ".java", ".cs", ".go", ".rs", ".js", ".ts"}


def _code_like(path: str) -> bool:
    """Source files that may embed a key or a licence text and stay code (a test with a PEM literal)."""
    return posixpath.splitext(path)[1] in CODE_SUFFIXES


def test_no_key_certificate_or_licence_file_is_labelled_as_code(real_build: RealBuild, contents) -> None:
    banned: dict[str, set[str]] = defaultdict(set)
    for repo, (_, files) in contents.items():
        for path in (
            inventory.private_keys(files)
            + inventory.certificates(files)
            + inventory.openssh_certificates(files)
            + inventory.licence_files(files)
        ):
            if not _code_like(path):
                banned[repo].add(path)
    assert sum(len(v) for v in banned.values()) >= 40
    labelled = []
    for name in ("github/documents", "github/langid", "github/files", "all/decontam"):
        for r in stage_docs(real_build, name):
            m = meta(r)
            if m.get("path") in banned.get(m.get("repo"), ()) and m.get("language"):
                labelled.append((name, m["repo"], m["path"], m["language"]))
            for f in m.get("files") or ():
                assert f["path"] not in banned.get(m.get("repo"), ()), (name, f["path"])
    assert labelled == []
    # private keys never leave the reader, whatever the option for other non-code files
    reader = {d["id"]: d for d in stage_drops(real_build, "github/documents")}
    for repo, (_, files) in contents.items():
        for path in inventory.private_keys(files):
            if not _code_like(path):
                assert reader[f"github:{repo}/{path}"]["reason"] in {"private_key", "vendored"}, path


# ---------------------------------------------------------------- generated, amalgamated, binary


def test_generated_amalgamated_and_late_nul_files_are_dropped_with_reasons(
    real_build: RealBuild, contents
) -> None:
    reader = {d["id"]: d for d in stage_drops(real_build, "github/documents")}
    kept = {(meta(r)["repo"], meta(r)["path"]) for r in stage_docs(real_build, "github/documents")}
    for repo, paths in inventory.tables()["amalgamated"].items():
        for path in paths:
            drop = reader[f"github:{repo}/{path}"]
            assert drop["reason"] == "generated", drop
    banners = {(repo, p) for repo, (_, files) in contents.items() for p in inventory.generated_banners(files)}
    assert len(banners) >= 20
    still_kept = sorted(b for b in banners if b in kept)
    assert still_kept == [], still_kept
    planted = real_build.planted
    drop = reader[f"github:{PLANTED_REPO}/{planted.nul_path}"]
    assert drop["reason"] == "binary"
    assert drop["detail"] == f"NUL at byte {planted.nul_offset} of {planted.nul_size} bytes"


# ---------------------------------------------------------------- samples


def test_samples_are_cut_between_files_and_split_back_exactly(real_build: RealBuild, contents) -> None:
    limit = SamplesConfig().sample_char_limit()
    samples = [d for d in documents(real_build, "github/samples") if "files" in d.metadata]
    cut = Counter(d.metadata["repo"] for d in samples)
    assert max(cut.values()) > 1
    for doc in samples:
        files = doc.metadata["files"]
        if len(files) > 1:
            assert len(doc.text) <= limit + sum(len(f["path"]) + 5 for f in files), doc.id
        repo_files = contents[doc.metadata["repo"]][1]
        for path, text in split_sample(doc):
            assert text == repo_files[path].decode("utf-8"), (doc.id, path)


# ---------------------------------------------------------------- the mix plan


def _small_recipe(tmp_path: Path, real_archives: dict[str, Path], **mix: object) -> Path:
    essays = (REPO / "recipes" / "demo-data" / "text" / "essays-a.jsonl").read_text().splitlines()
    (tmp_path / "tiny.jsonl").write_text(essays[0] + "\n")
    path = real_recipe(tmp_path, tmp_path / "out", real_archives)
    recipe = yaml.safe_load(path.read_text())
    recipe["sources"]["github"]["repos"] = [
        r for r in recipe["sources"]["github"]["repos"] if r["name"] in ("pypi/flask", "pypi/bcrypt")
    ]
    recipe["sources"]["text"] = {"paths": [str(tmp_path / "tiny.jsonl")]}
    recipe["mix"] = {"targets": {"code": 0.7, "text": 0.3}, **mix}
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def test_a_tiny_text_source_stops_the_real_build_and_a_budget_repeats_it(
    real_archives: dict[str, Path], tmp_path: Path
) -> None:
    line = one_line_error(run_cli("build", str(_small_recipe(tmp_path, real_archives))))
    assert line.startswith("error: mix: group text (") and "caps the plan" in line
    assert "set mix.total_tokens" in line and line.endswith("or mix.allow_shrink: true")
    assert not (tmp_path / "out" / "mix" / "shards").exists()

    budget = tmp_path / "budget"
    budget.mkdir()
    recipe = _small_recipe(budget, real_archives, total_tokens=600_000)
    run_cli("build", str(recipe), check=True, timeout=900)
    plan = json.loads((budget / "out" / "manifest.json").read_text())["mix"]["plan"]
    assert plan["text"]["epochs"] > 10 and plan["text"]["full_epochs"] >= 10
    assert plan["code"]["used_tokens"] == plan["code"]["available_tokens"]


# ---------------------------------------------------------------- content-decided labels

#: 50 content-decided files drawn with random.Random(14) from the sorted list, each label checked
#: by reading the file; plus the files enry leaves undecided
HAND_LABELS: dict[tuple[str, str], str] = {
    ("pypi/coverage", "tests/gold/html/omit_2/function_index.html"): "HTML",
    ("pypi/jpype1", "native/common/include/jp_array.h"): "C++",
    ("pypi/pythonnet", "src/runtime/Interop.cs"): "C#",
    ("pypi/coverage", ".github/ISSUE_TEMPLATE/bug_report.md"): "Markdown",
    ("pypi/pythonnet", "src/runtime/StateSerialization/MaybeMemberInfo.cs"): "C#",
    ("pypi/jpype1", "native/common/include/jp_objecttype.h"): "C++",
    ("pypi/pythonnet", "src/runtime/Types/ModuleFunctionObject.cs"): "C#",
    ("pypi/pythonnet", "src/runtime/StateSerialization/ClassManagerState.cs"): "C#",
    ("pypi/coverage", "tests/gold/html/bom/function_index.html"): "HTML",
    ("pypi/jpype1", "native/common/include/jp_gc.h"): "C++",
    ("pypi/jpype1", "native/common/include/jp_buffertype.h"): "C++",
    ("pypi/coverage", "tests/gold/html/omit_3/class_index.html"): "HTML",
    ("pypi/pysimdjson", "simdjson/util.h"): "C++",
    ("pypi/jpype1", "native/common/include/jp_buffer.h"): "C++",
    ("pypi/pythonnet", "src/runtime/Native/NewReference.cs"): "C#",
    (
        "pypi/pytest-benchmark",
        "tests/test_storage/0016_5b78858eb718649a31fb93d8dc96ca2cee41a4cd_20150815_030304_uncommitted-changes.json",
    ): "JSON",
    ("pypi/pythonnet", "src/runtime/Native/PyCompilerFlags.cs"): "C#",
    ("pypi/coverage", "tests/gold/html/partial/partial_py.html"): "HTML",
    ("pypi/coverage", "tests/gold/html/a/function_index.html"): "HTML",
    ("pypi/coverage", ".github/workflows/dependency-review.yml"): "YAML",
    ("pypi/coverage", "tests/gold/html/unicode/class_index.html"): "HTML",
    ("pypi/pythonnet", "src/runtime/Codecs/SequenceDecoder.cs"): "C#",
    ("pypi/coverage", "tests/gold/html/unicode/function_index.html"): "HTML",
    ("pypi/pythonnet", "src/runtime/Codecs/IPyObjectDecoder.cs"): "C#",
    ("pypi/coverage", ".github/ISSUE_TEMPLATE/support.md"): "Markdown",
    ("pypi/flask", "tests/test_apps/blueprintapp/apps/admin/templates/admin/index.html"): "HTML",
    ("pypi/jpype1", "native/common/include/jp_platform.h"): "C++",
    ("pypi/jpype1", "native/python/include/jp_pythontypes.h"): "C++",
    ("pypi/pythonnet", "src/runtime/Types/Iterator.cs"): "C#",
    ("pypi/coverage", "tests/gold/html/b_branch/b_py.html"): "HTML",
    ("pypi/coverage", "tests/gold/html/omit_4/function_index.html"): "HTML",
    ("pypi/coverage", "coverage/ctracer/util.h"): "C",
    ("pypi/coverage", ".github/workflows/kit.yml"): "YAML",
    ("pypi/ply", "example/BASIC/rand.bas"): "BASIC",
    ("pypi/coverage", "tests/gold/html/multiline/multiline_py.html"): "HTML",
    ("pypi/pythonnet", "src/runtime/Native/NativeFunc.cs"): "C#",
    ("pypi/jpype1", "native/jni_include/jni.h"): "C++",
    ("pypi/pythonnet", "src/runtime/Native/PyBufferInterface.cs"): "C#",
    ("pypi/coverage", "tests/gold/html/omit_3/function_index.html"): "HTML",
    ("pypi/jpype1", "project/jpype_java/nbproject/project.properties"): "Java Properties",
    (
        "pypi/pytest-benchmark",
        "tests/test_storage/0018_5b78858eb718649a31fb93d8dc96ca2cee41a4cd_20150815_030315_uncommitted-changes.json",
    ): "JSON",
    ("pypi/pythonnet", "src/runtime/PythonBaseTypeProviderGroup.cs"): "C#",
    (
        "pypi/pytest-benchmark",
        "tests/test_storage/0004_5b78858eb718649a31fb93d8dc96ca2cee41a4cd_20150815_030202_uncommitted-changes.json",
    ): "JSON",
    ("pypi/jpype1", "native/common/include/jp_floattype.h"): "C++",
    ("pypi/pythonnet", "src/runtime/Native/PyThreadState.cs"): "C#",
    ("npm/immer", "src/utils/errors.ts"): "TypeScript",
    (
        "pypi/pytest-benchmark",
        "tests/test_storage/0009_5b78858eb718649a31fb93d8dc96ca2cee41a4cd_20150815_030228_uncommitted-changes.json",
    ): "JSON",
    ("pypi/pythonnet", "src/runtime/StateSerialization/ICLRObjectStorer.cs"): "C#",
    ("pypi/coverage", "tests/gold/html/omit_1/index.html"): "HTML",
    ("pypi/coverage", ".github/FUNDING.yml"): "YAML",
    # PKG-INFO is decided by its name and Description-Content-Type header now, not by content
    # (tests/langid/test_unknown_extensions.py); the labels are those hand-checked here before
    ("pypi/coverage", "tests/stress_phystoken.tok"): "Python",  # Python source kept out of .py
    ("pypi/coverage", "tests/stress_phystoken_dos.tok"): "Python",
    # decided by the content model since it was retrained on more real code
    ("pypi/coverage", "a1_coverage.pth"): "Python",  # `import sys; exec(...)`: a .pth line of Python
    ("pypi/coverage", "lab/coverage-04.dtd"): "XML",  # a DTD: XML's own declaration syntax
}


def test_content_decided_labels_are_precise(contents) -> None:
    """Labels that content decided (linguist's heuristics or the model, not a name rule) checked
    against enry where enry decides, and by hand for a sample and for what enry leaves open."""
    import enry

    from classifiers.langid import detect

    checked, wrong, unchecked = 0, [], []
    decided: set[tuple[str, str]] = set()
    for repo, (_, files) in sorted(contents.items()):
        for path, data in sorted(files.items()):
            if b"\x00" in data:
                continue
            found = detect(path, data)
            if found.how not in ("heuristic", "model") or not found.label:
                continue
            decided.add((repo, path))
            truth = HAND_LABELS.get((repo, path)) or enry.get_language(posixpath.basename(path), data)
            if not truth:
                unchecked.append((repo, path, found.label))
                continue
            checked += 1
            if truth != found.label:
                wrong.append((repo, path, found.label, truth))
    print(
        f"\ncontent-decided labels: {checked} checked, {len(wrong)} wrong, precision {1 - len(wrong) / checked:.3f}"
    )
    assert set(HAND_LABELS) <= decided  # the hand sample is still what content decides
    assert unchecked == []
    assert checked >= 400 and len(wrong) / checked <= 0.05, wrong
