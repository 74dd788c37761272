"""Run one call in a fresh Python interpreter.

The installed fastText keeps state between trainings in one process: training the same file twice
in one interpreter gives different weights the second time, and often diverges ("Encountered
NaN"). Every fastText training in the project therefore runs through `in_fresh_process`, which
makes the same data and seed give a byte-identical model, whatever was trained before.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def in_fresh_process(func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in a spawned interpreter; `func` must be importable (a module-level function)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(func, args)
