"""Kernel tests run the Triton kernels through Triton's CPU interpreter.

`trainer.kernels` decorates its kernels lazily, per interpreter mode, so setting TRITON_INTERPRET
here works whatever imported the package first.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def triton_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
