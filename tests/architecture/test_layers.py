"""The layers hold: base <- components <- app, no import cycles, no imports hidden in functions.

`lint-imports` (in `make lint`) checks the contracts in pyproject.toml; the test here also proves
that the contracts bite, by adding an upward import to a copy of the tree and watching them fail.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import REPO

PACKAGES = ("corpus", "classifiers", "dedup", "trainer")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: imports that may stay inside a function: optional extras (train, ray) and the trainer modules
#: that import torch/megatron, so that the CLI and the corpus build run without them
LAZY_ALLOWED = (
    "torch",
    "megatron",
    "triton",
    "transformer_engine",
    "apex",
    "ray",
    "datatrove.executor.ray",
    "trainer",
    "safetensors",  # the `hf` extra
    "transformers",
    "pandas",  # imported by pyarrow on a build's first list conversion; the runner imports it at start
    "polars",  # 0.4 s to import; only inspecting outputs and the recall loop's tables need it
    "scipy",  # 0.25 s to import; only dedup's connected components need it
)


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_contracts_hold() -> None:
    proc = _lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("data", "__pycache__"))
    base = tmp_path / "corpus" / "core" / "errors.py"
    base.write_text(base.read_text() + "\nfrom corpus.app.recipe import Recipe  # noqa\n")
    component = tmp_path / "dedup" / "layout.py"
    component.write_text(component.read_text() + "\nfrom trainer.recipe import TrainRecipe  # noqa\n")
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0
    assert "corpus.core.errors -> corpus.app.recipe" in proc.stdout
    assert "dedup.layout -> trainer.recipe" in proc.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph(*PACKAGES)
    assert _cycles(graph) == []


def _function_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True)
            elif in_function and isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif in_function and isinstance(child, ast.ImportFrom):
                found.append((child.lineno, "." * child.level + (child.module or "")))
            else:
                visit(child, in_function)

    visit(tree, False)
    return found


def _in_import_block(line: str) -> bool:
    """An import line, or a line of a parenthesised multi-line import."""
    text = line.strip()
    return text.startswith(("from ", "import ")) or text == ")" or (text.endswith(",") and "=" not in text)


def _has_reason(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or on the line above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    i = lineno - 2
    while i >= 0 and _in_import_block(lines[i]):
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#")


def test_imports_inside_functions_are_optional_heavy_dependencies_with_a_reason() -> None:
    wrong = []
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            for lineno, module in _function_imports(path):
                allowed = any(module == m or module.startswith(m + ".") for m in LAZY_ALLOWED)
                reason = _has_reason(lines, lineno)
                if not (allowed and reason):
                    wrong.append(f"{path.relative_to(REPO)}:{lineno}: {module}")
    assert wrong == []
