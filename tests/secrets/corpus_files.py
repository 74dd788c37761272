"""Real clean files for the secrets tests and benchmark: the exactly pinned installs in the venv
(torch==2.13.0: C/C++ headers, Python, YAML, JSON; megatron-core==0.16.1: Python), a fixed sorted
selection so every run sees the same bytes."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tests.conftest import REPO

SITE = REPO / ".venv" / "lib" / "python3.11" / "site-packages"
ROOTS = (SITE / "torch", SITE / "megatron")
SUFFIXES = (".h", ".hpp", ".cuh", ".cpp", ".py", ".yaml", ".yml", ".json")


@cache
def all_files() -> tuple[Path, ...]:
    found = [p for root in ROOTS if root.is_dir() for p in root.rglob("*") if p.suffix in SUFFIXES]
    return tuple(sorted(p for p in found if p.is_file()))


def selection(count: int, suffixes: tuple[str, ...] = SUFFIXES) -> list[Path]:
    """`count` files spread evenly over the sorted list, of the given suffixes."""
    files = [p for p in all_files() if p.suffix in suffixes]
    if count >= len(files):
        return files
    return [files[i * len(files) // count] for i in range(count)]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")
