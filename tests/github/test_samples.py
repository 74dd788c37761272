"""Dependency extraction and the lowest-in-degree order, on repositories with cycles."""

from __future__ import annotations

from corpus.core.schema import make_document
from corpus.github.dependencies import (
    components,
    dependencies,
    order_component,
    sample_language,
    tie_key,
)
from corpus.github.samples import RepositorySamples, split_sample

# a -> b -> c -> a is a cycle; d depends on a; e stands alone; f only imports the standard library
CYCLE = {
    "pkg/a.py": "from pkg import b\nimport os\n",
    "pkg/b.py": "from . import c\n",
    "pkg/c.py": "import pkg.a\n",
    "pkg/d.py": "from pkg.a import thing\n",
    "tools/e.py": "print('alone')\n",
    "pkg/__init__.py": "",
}


def test_python_dependencies_resolve_absolute_relative_and_module_imports() -> None:
    deps = dependencies("python", CYCLE)
    assert deps["pkg/a.py"] == {"pkg/b.py"}
    assert deps["pkg/b.py"] == {"pkg/c.py"}
    assert deps["pkg/c.py"] == {"pkg/a.py"}
    assert deps["pkg/d.py"] == {"pkg/a.py"}
    assert deps["tools/e.py"] == set()


def test_cycle_order_places_every_file_once_and_is_seeded() -> None:
    deps = dependencies("python", CYCLE)
    comps = components(CYCLE, deps)
    assert comps == [["pkg/__init__.py"], ["pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/d.py"], ["tools/e.py"]]
    comp = comps[1]
    first = order_component(comp, deps, seed=0, repo="o/r")
    assert sorted(first) == comp  # every file exactly once
    assert order_component(comp, deps, seed=0, repo="o/r") == first  # same seed, same order
    # the documented order: a, b, c each have in-degree 1 and d has 1; all tie, so the seeded key
    # sha256("seed:repo:path") picks the first file, and each placement lowers its dependents
    for seed in (0, 1, 7):
        expected = reference_order(comp, deps, seed, "o/r")
        assert order_component(comp, deps, seed=seed, repo="o/r") == expected
    orders = {tuple(order_component(comp, deps, seed=s, repo="o/r")) for s in range(20)}
    assert len(orders) > 1  # ties really are broken by the seed


def reference_order(comp: list[str], deps: dict[str, set[str]], seed: int, repo: str) -> list[str]:
    """The paper's Algorithm 1, written plainly: take the unplaced file of lowest in-degree
    (ties: smallest seeded key), then lower the in-degree of the files that depend on it."""
    indeg = {p: len(deps[p] & set(comp)) for p in comp}
    order: list[str] = []
    while len(order) < len(comp):
        left = [p for p in comp if p not in order]
        best = min(left, key=lambda p: (indeg[p], tie_key(seed, repo, p)))
        order.append(best)
        for q in left:
            if best in deps[q]:
                indeg[q] -= 1
    return order


def test_seed_one_order_is_pinned() -> None:
    deps = dependencies("python", CYCLE)
    comp = ["pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/d.py"]
    keys = sorted(comp, key=lambda p: tie_key(1, "o/r", p))
    order = order_component(comp, deps, seed=1, repo="o/r")
    # all four start at in-degree 1, so the smallest key goes first ...
    assert order[0] == keys[0]
    # ... and after it, whatever depended on it has in-degree 0 and must come next
    dependents = sorted((p for p in comp if order[0] in deps[p]), key=lambda p: tie_key(1, "o/r", p))
    assert order[1] == dependents[0]
    assert order == reference_order(comp, deps, 1, "o/r")
    # written out: seed 0 starts the cycle at c, seed 1 at a (then d, which only needed a)
    assert order_component(comp, deps, seed=0, repo="o/r") == ["pkg/c.py", "pkg/b.py", "pkg/a.py", "pkg/d.py"]
    assert order == ["pkg/a.py", "pkg/d.py", "pkg/c.py", "pkg/b.py"]


def test_java_csharp_and_c_dependencies() -> None:
    java = {
        "src/main/java/com/x/App.java": "package com.x;\nimport com.x.model.*;\nimport com.x.util.Strings;\n",
        "src/main/java/com/x/model/Item.java": "package com.x.model;\nimport java.util.List;\n",
        "src/main/java/com/x/util/Strings.java": "package com.x.util;\nimport static com.x.model.Item.make;\n",
    }
    deps = dependencies("java", java)
    assert deps["src/main/java/com/x/App.java"] == {
        "src/main/java/com/x/model/Item.java",
        "src/main/java/com/x/util/Strings.java",
    }
    assert deps["src/main/java/com/x/util/Strings.java"] == {"src/main/java/com/x/model/Item.java"}
    cs = {
        "Core/Money.cs": "namespace Ledger.Core;\npublic record Money(decimal A);\n",
        "Cli/Program.cs": "using System;\nusing Ledger.Core;\nnamespace Ledger.Cli { }\n",
    }
    assert dependencies("csharp", cs)["Cli/Program.cs"] == {"Core/Money.cs"}
    c = {
        "include/lib.h": "#include <stddef.h>\n",
        "src/lib.c": '#include "lib.h"\n#include "../src/util.h"\n',
        "src/util.h": "#pragma once\n",
        "src/main.cpp": '#include <lib.h>\n#include "util.h"\n',
    }
    deps = dependencies("c", c)
    assert deps["src/lib.c"] == {"include/lib.h", "src/util.h"}
    assert deps["src/main.cpp"] == {"include/lib.h", "src/util.h"}


def test_sample_language_prefers_the_tag() -> None:
    assert sample_language("a.h", None) == "C"
    assert sample_language("a.h", "C++") == "C++"
    assert sample_language("a.h", "Objective-C") is None
    assert sample_language("a.rs", None) is None


def _doc(repo: str, path: str, text: str, kind: str = "code", language: str | None = None):
    return make_document(
        f"github:{repo}/{path}",
        text,
        "github",
        "code",
        language,
        repo=repo,
        path=path,
        kind=kind,
        license="MIT",
    )


def test_samples_concatenate_with_path_comments_and_split_back() -> None:
    docs = [_doc("o/r", p, t or "\n") for p, t in CYCLE.items()]
    docs += [
        _doc("o/r", "README.md", "# r\n", kind="text"),
        _doc("o/r", "src/lib.rs", "fn main() {}\n", language="Rust"),
        _doc("o/r", "src/x.c", '#include "x.h"\nint x;', language="C"),
        _doc("o/r", "src/x.h", "int x;\n", language="C"),
        _doc("p/q", "m.py", "import os\n"),
    ]
    out = list(RepositorySamples(seed=3).run(iter(docs), 0, 1))
    samples = [d for d in out if d.metadata.get("kind") == "sample"]
    singles = [d for d in out if d.metadata.get("kind") != "sample"]
    assert sorted(d.id for d in singles) == ["github:o/r/README.md", "github:o/r/src/lib.rs"]
    assert all(d.metadata["dedup_level"] == "file" for d in singles)
    assert [d.id for d in samples] == [
        "github:o/r#sample-0",
        "github:o/r#sample-1",
        "github:o/r#sample-2",
        "github:o/r#sample-3",
        "github:p/q#sample-0",
    ]
    by_first = {d.metadata["path"]: d for d in samples}
    cyc = next(d for d in samples if len(d.metadata["files"]) == 4)
    assert cyc.metadata["language"] == "Python" and cyc.metadata["dedup_level"] == "repository"
    assert cyc.metadata["license"] == "MIT"
    assert [f["path"] for f in cyc.metadata["files"]] == order_component(
        ["pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/d.py"], dependencies("python", CYCLE), 3, "o/r"
    )
    for path, text in split_sample(cyc):
        assert text == CYCLE[path]
        assert f"# {path}\n{text}" in cyc.text
    c_sample = by_first["src/x.h"]
    assert c_sample.text == '// src/x.h\nint x;\n// src/x.c\n#include "x.h"\nint x;\n'
    assert split_sample(c_sample) == [("src/x.h", "int x;\n"), ("src/x.c", '#include "x.h"\nint x;')]
    assert c_sample.metadata["language"] == "C"
    # every input file is in exactly one output
    covered = [f["id"] for d in samples for f in d.metadata["files"]] + [d.id for d in singles]
    assert sorted(covered) == sorted(d.id for d in docs)


def test_big_components_can_be_cut_in_order() -> None:
    files = {f"m{i}.py": f"import m{i + 1}\n" + "x = 1\n" * 10 for i in range(6)}
    docs = [_doc("o/big", p, t) for p, t in files.items()]
    whole = list(RepositorySamples(seed=0).run(iter(docs), 0, 1))
    assert len(whole) == 1
    order = [f["path"] for f in whole[0].metadata["files"]]
    assert order == ["m5.py", "m4.py", "m3.py", "m2.py", "m1.py", "m0.py"]  # dependencies first
    size = len(files["m0.py"])
    cut = list(RepositorySamples(seed=0, max_sample_chars=2 * size).run(iter(docs), 0, 1))
    assert [[f["path"] for f in d.metadata["files"]] for d in cut] == [order[0:2], order[2:4], order[4:6]]
    assert [d.id for d in cut] == ["github:o/big#sample-0", "github:o/big#sample-1", "github:o/big#sample-2"]


def test_line_scan_finds_the_same_statements_as_a_multiline_search() -> None:
    import re
    from pathlib import Path

    from corpus.github import dependencies as d

    texts = [p.read_text() for p in sorted(Path(d.__file__).parents[2].glob("corpus/**/*.py"))]
    texts += ["import a\nx = 'import'\n  from .b import (c,\n d)\nreimport = 1\n#include <x.h>\nusing A.B;\n"]
    for keyword, pattern in [
        ("import", d._PY_IMPORT),
        ("import", d._PY_FROM),
        ("import", d._JAVA_IMPORT),
        ("using", d._CS_USING),
        ("namespace", d._CS_NAMESPACE),
        ("include", d._C_INCLUDE),
    ]:
        plain = re.compile("^" + pattern.pattern, re.M)
        for text in texts:
            fast = [(m.start(), m.groups()) for m in d._statements(text, keyword, pattern)]
            assert fast == [(m.start(), m.groups()) for m in plain.finditer(text)]


def test_javascript_typescript_and_go_dependencies() -> None:
    js = {
        "src/index.ts": "import { a } from './a.js';\nimport util from \"./util\";\nimport React from 'react';\n",
        "src/a.ts": "export const a = require('../lib/helper');\n",
        "src/util/index.tsx": "export default function util() { return import('./deep/x'); }\n",
        "src/util/deep/x.mjs": "import { a } from '../../a.js'\n",
        "lib/helper.js": "module.exports = 1;\n",
    }
    deps = dependencies("js", js)
    assert deps["src/index.ts"] == {"src/a.ts", "src/util/index.tsx"}
    assert deps["src/a.ts"] == {"lib/helper.js"}
    assert deps["src/util/index.tsx"] == {"src/util/deep/x.mjs"}
    assert deps["src/util/deep/x.mjs"] == {"src/a.ts"}
    go = {
        "cmd/app/main.go": 'package main\n\nimport (\n\t"fmt"\n\tstore "example.com/me/app/internal/store"\n)\n',
        "internal/store/db.go": 'package store\n\nimport "example.com/me/app/internal/model"\n',
        "internal/store/cache.go": "package store\n",
        "internal/model/user.go": 'package model\n\nimport "strings"\n',
        "strings/x.go": "package strings\n",  # a folder named like the standard library
    }
    deps = dependencies("go", go)
    assert deps["cmd/app/main.go"] == {"internal/store/db.go", "internal/store/cache.go"}
    assert deps["internal/store/db.go"] == {"internal/model/user.go"}
    assert deps["internal/model/user.go"] == set()
    docs = [_doc("o/web", p, t) for p, t in js.items()]
    default = list(RepositorySamples().run(iter(docs), 0, 1))
    assert all(d.metadata["dedup_level"] == "file" for d in default)  # the paper's five only
    joined = list(RepositorySamples(languages=("JavaScript", "TypeScript")).run(iter(docs), 0, 1))
    assert len(joined) == 1 and joined[0].metadata["language"] == "TypeScript"
    assert joined[0].text.startswith("// lib/helper.js\n")


def test_a_repository_seen_twice_keeps_unique_sample_ids() -> None:
    docs = [_doc("o/r", "a.py", "A = 1\n"), _doc("p/q", "b.py", "B = 1\n"), _doc("o/r", "c.py", "C = 1\n")]
    step = RepositorySamples()
    out = [d.id for d in step.run(iter(docs), 0, 1)]
    assert out == ["github:o/r#sample-0", "github:p/q#sample-0", "github:o/r#sample-1"]
    assert step.stats["repo_split"].total == 1


def test_default_cut_is_32k_tokens_and_every_piece_splits_back() -> None:
    from corpus.github.config import CHARS_PER_TOKEN, SamplesConfig

    assert SamplesConfig().sample_char_limit() == int(32_768 * CHARS_PER_TOKEN)
    assert SamplesConfig(max_sample_chars=500).sample_char_limit() == 500
    assert SamplesConfig(max_sample_tokens=None).sample_char_limit() is None
    # a chain of 40 files of 5,000 characters: 200,000 characters, over the default cut
    files = {f"m{i:02d}.py": f"import m{i + 1:02d}\n" + "y = 2\n" * 830 for i in range(40)}
    docs = [_doc("o/long", p, t) for p, t in files.items()]
    limit = SamplesConfig().sample_char_limit()
    cut = list(RepositorySamples(seed=0, max_sample_chars=limit).run(iter(docs), 0, 1))
    assert len(cut) == 2 and all(len(d.text) <= limit + 40 * 16 for d in cut)
    pieces = [pair for d in cut for pair in split_sample(d)]
    assert sorted(pieces) == sorted(files.items())
    order = [path for path, _ in pieces]
    assert order == sorted(files, reverse=True)  # dependencies first, across the cut
