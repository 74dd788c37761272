"""A stage's worker processes start from a forkserver that has already imported the build's
modules (corpus.app.runner.preload_worker_modules), so a stage with several workers does not pay
for importing them again in every worker, as it did at about a second per worker per stage."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.conftest import jsonl_parts, run_cli, text_recipe

RUNNER_IMPORTED = re.compile(r"^import time:.*\|\s+corpus\.app\.runner$")


def test_workers_do_not_import_the_build_again(tmp_path: Path) -> None:
    jsonl_parts(tmp_path / "in", 4, 40)
    recipe = text_recipe(tmp_path, "out", "worker start", tasks=4, workers=2)
    proc = run_cli("build", str(recipe), env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}, check=True)
    stages = [p for p in (tmp_path / "out").glob("*/*") if (p / "completions").is_dir()]
    assert len(stages) == 2, stages  # two stages, each with a pool of two workers
    imported = [line for line in proc.stderr.splitlines() if RUNNER_IMPORTED.match(line.rstrip())]
    # once in the build's own process and once in the forkserver; never in a worker
    assert len(imported) == 2, imported
