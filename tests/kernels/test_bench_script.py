"""The kernel benchmark is ready for a GPU machine and exits cleanly on one without CUDA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_bench_exits_cleanly_without_cuda():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_kernels.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA device" in proc.stdout
