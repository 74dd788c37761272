"""Repository samples in dependency order on real code: no file comes before a file it imports,
unless both are in one import cycle.

Real repositories once broke this (flask 47 of 225 import edges, gson 74 of 1,021, requests 7 of
106): files waiting on a cycle were placed before it, `if TYPE_CHECKING:` imports closed cycles
that never run, a test fixture `flask.py` stood in for `src/flask/__init__.py`, and Java classes
of one package, which need no import, ended up in separate samples. The Python and C repositories
here are published code installed in the virtualenv, laid out the way projects lay out their
sources (a `src/` layout with tests beside it; pyarrow's C++ sources next to an `include/` tree);
the order is checked against networkx's strongly connected components, and the
`coderforge github order-check` command against a real build's output.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import networkx as nx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from corpus.core.schema import DOCUMENT_SCHEMA, document_to_row, row_to_document
from corpus.github.dependencies import FAMILY, dependencies, sample_language
from corpus.github.repo_reader import GithubRepoReader
from corpus.github.samples import RepositorySamples, build_sample, split_sample
from tests.conftest import REPO, run_cli

SITE = REPO / ".venv" / "lib" / "python3.11" / "site-packages"

#: real packages, copied into src/ (flask imports click, jinja2, itsdangerous and blinker)
PACKAGES = ("flask", "click", "requests", "rich", "jinja2", "itsdangerous", "blinker")

# Tests written the way flask's and requests' own are: they import the packages by name. The
# fixture module named like the package is flask's own (tests/test_apps/cliapp/inner1/inner2/
# flask.py, an app module that `flask --app` must find); outside its folder `flask` is the package.
TESTS = {
    "tests/conftest.py": "import pytest\n\nimport flask\nfrom flask import Flask\n\n\n@pytest.fixture\ndef app():\n    return Flask('flask_test')\n",
    "tests/test_blueprints.py": "from flask import Blueprint\n\n\ndef test_bp(app):\n    app.register_blueprint(Blueprint('bp', __name__))\n",
    "tests/test_cli.py": "import click\nfrom click.testing import CliRunner\n\nfrom flask.cli import FlaskGroup\n",
    "tests/test_requests.py": "import requests\nfrom requests.adapters import HTTPAdapter\nfrom requests.compat import urljoin\n",
    "tests/test_rich.py": "from rich.console import Console\nfrom rich.table import Table\n",
    "tests/test_apps/cliapp/__init__.py": "",
    "tests/test_apps/cliapp/inner1/__init__.py": "from flask import Flask\n\napplication = Flask(__name__)\n",
    "tests/test_apps/cliapp/inner1/inner2/__init__.py": "",
    "tests/test_apps/cliapp/inner1/inner2/flask.py": "from flask import Flask\n\napp = Flask(__name__)\n",
}
FIXTURE = "tests/test_apps/cliapp/inner1/inner2/flask.py"


def copy_sources(src: Path, dst: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for path in sorted(src.rglob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts and "vendored" not in path.parts:
                target = dst / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def python_repo(root: Path, packages: tuple[str, ...] = PACKAGES) -> Path:
    for name in packages:
        copy_sources(SITE / name, root / "src" / name, ("*.py",))
    for rel, text in TESTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "bundle"\n\n[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    )
    return root


def c_repo(root: Path) -> Path:
    """pyarrow's Python bindings (C++ sources and their headers) in src/arrow/python, the Arrow
    headers they include in include/arrow, and a test's stub header named like a real one."""
    copy_sources(SITE / "pyarrow" / "src", root / "src", ("*.cc", "*.h"))
    for folder in ("", "util"):
        for path in sorted((SITE / "pyarrow" / "include" / "arrow" / folder).glob("*.h")):
            target = root / "include" / "arrow" / folder / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    stub = root / "tests" / "stubs" / "arrow" / "util" / "logging.h"
    stub.parent.mkdir(parents=True)
    stub.write_text("#pragma once\n#define ARROW_LOG(level) std::cerr\n")
    return root


# One Java package whose classes use each other without an import (same package), as gson's do;
# a test class in the same package under src/test; names in comments and strings are no uses.
JAVA = {
    "src/main/java/com/example/json/JsonElement.java": (
        "package com.example.json;\n\n/** The base of {@link JsonObject}, {@link JsonArray} and JsonPrimitive. */\n"
        "public abstract class JsonElement {\n    public abstract JsonElement deepCopy();\n}\n"
    ),
    "src/main/java/com/example/json/JsonPrimitive.java": (
        "package com.example.json;\n\npublic final class JsonPrimitive extends JsonElement {\n"
        "    private final Object value;\n    public JsonPrimitive(Object value) { this.value = value; }\n"
        "    @Override public JsonPrimitive deepCopy() { return this; }\n}\n"
    ),
    "src/main/java/com/example/json/JsonArray.java": (
        "package com.example.json;\n\nimport java.util.ArrayList;\nimport java.util.List;\n\n"
        "public final class JsonArray extends JsonElement {\n"
        "    private final List<JsonElement> elements = new ArrayList<>();\n"
        "    public void add(JsonElement e) { elements.add(e); }\n"
        "    @Override public JsonArray deepCopy() {\n        JsonArray copy = new JsonArray();\n"
        "        for (JsonElement e : elements) copy.add(e.deepCopy());\n        return copy;\n    }\n}\n"
    ),
    "src/main/java/com/example/json/JsonObject.java": (
        "package com.example.json;\n\nimport java.util.LinkedHashMap;\nimport java.util.Map;\n\n"
        "public final class JsonObject extends JsonElement {\n"
        "    private final Map<String, JsonElement> members = new LinkedHashMap<>();\n"
        "    public void add(String name, JsonElement value) { members.put(name, value); }\n"
        '    @Override public String toString() { return "not a JsonArray: " + members; }\n'
        "    @Override public JsonObject deepCopy() { return this; }\n}\n"
    ),
    "src/main/java/com/example/json/JsonParser.java": (
        "package com.example.json;\n\npublic final class JsonParser {\n"
        "    public static JsonElement parse(String s) {\n"
        '        if (s.startsWith("[")) return new JsonArray();\n'
        '        if (s.startsWith("{")) return new JsonObject();\n'
        "        return new JsonPrimitive(s);\n    }\n}\n"
    ),
    "src/test/java/com/example/json/JsonParserTest.java": (
        "package com.example.json;\n\nimport static org.junit.Assert.assertTrue;\n\nimport org.junit.Test;\n\n"
        "public class JsonParserTest {\n    @Test public void parsesArrays() {\n"
        '        assertTrue(JsonParser.parse("[]") instanceof JsonArray);\n    }\n}\n'
    ),
}


def write_files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def run_samples(root: Path, name: str, languages: tuple[str, ...] | None = None) -> list[Document]:
    files = list(GithubRepoReader([{"name": name, "path": str(root)}]).run(None, 0, 1))
    step = (
        RepositorySamples(seed=1234)
        if languages is None
        else RepositorySamples(seed=1234, languages=languages)
    )
    return list(step.run(iter(files), 0, 1))


def samples_of(out: list[Document]) -> list[Document]:
    return [d for d in out if d.metadata.get("kind") == "sample"]


def configs_of(out: list[Document]) -> dict[str, str]:
    return {d.metadata["path"]: d.text for d in out if d.metadata.get("path") in ("pyproject.toml",)}


def graph_of(sample: Document, configs: dict[str, str]) -> tuple[list[str], dict[str, set[str]]]:
    files = dict(split_sample(sample))
    family = FAMILY[sample.metadata["language"]]
    return list(files), dependencies(family, files, configs)


def forward_outside_cycles(order: list[str], deps: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Checked with networkx, not with the project's own cycle finder."""
    graph = nx.DiGraph()
    graph.add_nodes_from(order)
    graph.add_edges_from((a, b) for a, targets in deps.items() for b in targets)
    cycle = {p: i for i, c in enumerate(nx.strongly_connected_components(graph)) for p in c}
    at = {p: i for i, p in enumerate(order)}
    return [(a, b) for a in order for b in deps[a] if at[b] > at[a] and cycle[a] != cycle[b]]


def cycle_of(path: str, deps: dict[str, set[str]]) -> set[str]:
    graph = nx.DiGraph([(a, b) for a, targets in deps.items() for b in targets])
    graph.add_node(path)
    return next(c for c in nx.strongly_connected_components(graph) if path in c)


def test_real_python_packages_have_no_forward_imports_outside_cycles(tmp_path: Path) -> None:
    out = run_samples(python_repo(tmp_path / "repo"), "local/bundle")
    samples = samples_of(out)
    configs = configs_of(out)
    assert configs, "the pyproject.toml passes through next to the samples"
    edges: dict[str, set[str]] = {}
    for sample in samples:
        order, deps = graph_of(sample, configs)
        edges.update(deps)
        assert forward_outside_cycles(order, deps) == [], sample.id
    assert sum(len(v) for v in edges.values()) > 500  # the real packages' imports, not a toy graph
    (main,) = [s for s in samples if "src/flask/app.py" in [f["path"] for f in s.metadata["files"]]]
    order, deps = graph_of(main, configs)
    # the packages flask imports are one sample with it, and the tests that import them come after
    assert {"src/click/core.py", "src/jinja2/environment.py", "tests/test_cli.py"} <= set(order)
    at = {p: i for i, p in enumerate(order)}
    package = ("src/flask/__init__.py", "src/flask/cli.py", "src/flask/app.py")
    tests = [p for p in order if p.startswith("tests/") and "src/flask/__init__.py" in deps[p]]
    assert len(tests) >= 4
    assert max(at[p] for p in package) < min(at[p] for p in tests)
    # `from flask import Blueprint` in the tests is the package, not the fixture named flask.py
    assert deps["tests/test_blueprints.py"] == {"src/flask/__init__.py"}
    assert deps["tests/conftest.py"] == {"src/flask/__init__.py"}
    assert deps[FIXTURE] == {"src/flask/__init__.py"}
    assert deps["tests/test_apps/cliapp/inner1/__init__.py"] == {"src/flask/__init__.py"}
    assert deps["tests/test_cli.py"] == {"src/click/__init__.py", "src/click/testing.py", "src/flask/cli.py"}
    # relative imports inside the packages resolve within them
    assert "src/flask/globals.py" in deps["src/flask/app.py"]
    assert "src/requests/adapters.py" in edges["src/requests/sessions.py"]
    assert "src/rich/segment.py" in edges["src/rich/console.py"]


def test_type_checking_imports_are_no_edges_on_real_flask(tmp_path: Path) -> None:
    """flask/globals.py imports .app, .ctx, .sessions and .wrappers only for the type checker,
    and all of them import globals at run time; counted, those imports would tie globals.py into
    one cycle with the application class."""
    root = python_repo(tmp_path / "repo", ("flask", "click", "jinja2", "itsdangerous", "blinker"))
    globals_py = (root / "src/flask/globals.py").read_text()
    block = re.search(r"\nif t\.TYPE_CHECKING:[^\n]*\n((?:[ \t]+[^\n]*\n|\n)+)", globals_py)
    assert block and "    from .app import Flask\n" in block.group(1)
    out = run_samples(root, "local/flask")
    (main,) = [s for s in samples_of(out) if "src/flask/app.py" in [f["path"] for f in s.metadata["files"]]]
    order, deps = graph_of(main, configs_of(out))
    assert "src/flask/globals.py" in deps["src/flask/app.py"]
    assert not deps["src/flask/globals.py"] & {
        "src/flask/app.py",
        "src/flask/ctx.py",
        "src/flask/wrappers.py",
    }
    assert cycle_of("src/flask/globals.py", deps) == {"src/flask/globals.py"}
    at = {p: i for i, p in enumerate(order)}
    assert at["src/flask/globals.py"] < min(at["src/flask/app.py"], at["src/flask/ctx.py"])
    assert forward_outside_cycles(order, deps) == []
    # the same imports run at import time (the guard removed) are edges, and close the cycle
    files = dict(split_sample(main))
    unguarded = globals_py.replace(block.group(0), "\n" + re.sub(r"(?m)^    ", "", block.group(1)))
    runtime = dependencies("python", {**files, "src/flask/globals.py": unguarded})
    assert "src/flask/app.py" in cycle_of("src/flask/globals.py", runtime)
    # a docstring's example `from flask import Flask` in app.py runs neither
    assert "        from flask import Flask\n" in files["src/flask/app.py"]
    assert "src/flask/__init__.py" not in deps["src/flask/app.py"]
    # ... while an `else:` branch, which runs, still counts
    guarded = {
        "pkg/__init__.py": "",
        "pkg/a.py": "import typing\n\nif typing.TYPE_CHECKING:\n    from pkg import b\n\n    from pkg import c\nelse:\n    from pkg import d\n",
        "pkg/b.py": "from pkg import a\n",
        "pkg/c.py": "",
        "pkg/d.py": "",
    }
    assert dependencies("python", guarded)["pkg/a.py"] == {"pkg/d.py"}


def test_java_package_with_same_package_references_is_one_sample_in_order(tmp_path: Path) -> None:
    out = run_samples(write_files(tmp_path / "repo", JAVA), "local/json")
    (sample,) = samples_of(out)
    order = [f["path"] for f in sample.metadata["files"]]
    assert sorted(order) == sorted(JAVA)
    deps = dependencies("java", dict(split_sample(sample)))
    base = "src/main/java/com/example/json/"
    assert deps[base + "JsonElement.java"] == set()  # the {@link ...} in its comment is no use
    assert deps[base + "JsonObject.java"] == {base + "JsonElement.java"}  # nor is "a JsonArray"
    assert deps[base + "JsonParser.java"] == {
        base + "JsonElement.java",
        base + "JsonArray.java",
        base + "JsonObject.java",
        base + "JsonPrimitive.java",
    }
    assert deps["src/test/java/com/example/json/JsonParserTest.java"] == {
        base + "JsonParser.java",
        base + "JsonArray.java",
    }
    assert order[0] == base + "JsonElement.java"
    assert order[-2:] == [base + "JsonParser.java", "src/test/java/com/example/json/JsonParserTest.java"]
    assert forward_outside_cycles(order, deps) == []


def test_c_includes_resolve_through_include_directories(tmp_path: Path) -> None:
    out = run_samples(c_repo(tmp_path / "repo"), "local/arrow")
    samples = samples_of(out)
    (main,) = [s for s in samples if "src/arrow/python/common.cc" in [f["path"] for f in s.metadata["files"]]]
    files = dict(split_sample(main))
    deps = dependencies("c", files)
    common = deps["src/arrow/python/common.cc"]
    text = files["src/arrow/python/common.cc"]
    assert '#include "arrow/util/logging.h"' in text and '#include "arrow/python/common.h"' in text
    # "arrow/util/logging.h" is include/arrow/util/logging.h, not the test's stub of the same name
    assert "include/arrow/util/logging.h" in common
    assert "tests/stubs/arrow/util/logging.h" not in common
    # "arrow/python/common.h" is found through src/, the include directory next to the file
    assert "src/arrow/python/common.h" in common
    order = [f["path"] for f in main.metadata["files"]]
    assert forward_outside_cycles(order, deps) == []
    at = {p: i for i, p in enumerate(order)}
    assert at["include/arrow/util/logging.h"] < at["src/arrow/python/common.cc"]
    for sample in samples:
        order = [f["path"] for f in sample.metadata["files"]]
        assert forward_outside_cycles(order, dependencies("c", dict(split_sample(sample)))) == []


@pytest.mark.slow
def test_order_check_command_on_a_real_build(tmp_path: Path) -> None:
    python = python_repo(tmp_path / "bundle", ("flask", "click", "requests", "itsdangerous", "blinker"))
    java = write_files(tmp_path / "json", JAVA)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"""
name: order-check
seed: 7
executor: {{tasks: 1, workers: 1}}
sources:
  github:
    repos:
      - {{name: local/bundle, path: {python}}}
      - {{name: local/json, path: {java}}}
"""
    )
    out = tmp_path / "out"
    run_cli("build", str(recipe), "--output", str(out), check=True, timeout=600)
    checked = run_cli("github", "order-check", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    last = checked.stdout.strip().splitlines()[-1]
    assert re.match(r"0 forward imports outside cycles in 0 of \d+ samples", last), last
    assert int(re.search(r"of (\d+) samples", last).group(1)) >= 2

    stage = out / "github" / "samples" / "data"
    built = [
        row_to_document(r)
        for path in sorted(stage.glob("*.parquet"))
        for r in pq.read_table(path).to_pylist()
    ]
    sizes = {d.id: len(d.metadata["files"]) for d in built if "files" in d.metadata}
    assert sizes["github:local/json#sample-0"] == len(JAVA)
    # the five packages' big component is cut between files at the default ~32K tokens: its
    # pieces hold more than 50 files together, and the order check above covered them as a whole
    bundle = [n for i, n in sizes.items() if i.startswith("github:local/bundle#")]
    assert sum(bundle) > 50 and max(bundle) > 10

    # the same output with one sample's files in reverse order: the check names the imports
    broken = tmp_path / "broken" / "github" / "samples" / "data"
    broken.mkdir(parents=True)
    reversed_id = ""
    for path in sorted(stage.glob("*.parquet")):
        rows = []
        for row in pq.read_table(path).to_pylist():
            doc = row_to_document(row)
            if doc.id == "github:local/json#sample-0":
                docs = [
                    Document(text=t, id=f"github:local/json/{p}", metadata={"path": p})
                    for p, t in reversed(split_sample(doc))
                ]
                meta = {k: doc.metadata.get(k) for k in ("repo", "commit", "license", "stars", "created_at")}
                family = FAMILY[str(sample_language(docs[0].metadata["path"], None))]
                doc = build_sample("local/json", family, docs, 0, str(doc.metadata["group"]), meta)
                reversed_id = doc.id
            rows.append(document_to_row(doc))
        pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), broken / path.name)
    assert reversed_id == "github:local/json#sample-0"
    bad = run_cli("github", "order-check", str(tmp_path / "broken"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "github:local/json#sample-0: " in bad.stdout
    assert (
        "src/main/java/com/example/json/JsonPrimitive.java imports "
        "src/main/java/com/example/json/JsonElement.java, which comes later" in bad.stdout
    )
    forward = int(bad.stdout.strip().splitlines()[-1].split()[0])
    assert forward >= 8
    missing = run_cli("github", "order-check", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "github/samples" in missing.stderr
