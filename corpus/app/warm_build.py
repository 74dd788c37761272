"""Each stage's CPU seconds once its process is warm: `python -m corpus.app.warm_build RECIPE DIR N`.

`coderforge estimate` fits each stage's time as a fixed cost plus a rate, from a fixed-cost build
on the smallest input and a sample. A stage also pays first-use costs that depend on what its
input holds rather than on how much of it there is: the path and heuristic patterns of each
language it meets, the Unicode tables of the first non-ASCII text, a library's lazy import. The
sample meets many more of them than the fixed-cost build, so the sample's extra time was read as
rate and multiplied by the full input's size over the sample's: on the real-code corpus a 10%
sample projected most GitHub stages at twice their whole-build time.

Here the recipe is built N times, one after another, in this one process, each time into a fresh
folder under DIR: the first build pays the first-use costs, the later ones find the patterns
compiled, the tables made and the modules imported. The least CPU seconds of each stage over the
later builds go to `DIR/warm.json`; the estimate takes the rate from these warm figures and the
fixed cost (first use included) from the cold, measured build.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

from rich.console import Console

from corpus.app.build import build
from corpus.app.recipe import load_recipe
from corpus.core.atomic import atomic_write_text

#: where the warm figures are written, under DIR (a build's own output may print to stdout)
WARM_FILE = "warm.json"


def warm_cpu_seconds(recipe_path: Path, folder: Path, builds: int) -> dict[str, float]:
    """The least CPU seconds of each stage over builds 2..`builds` (one worker, in this process)."""
    least: dict[str, float] = {}
    for i in range(builds):
        out = folder / f"build-{i}"
        shutil.rmtree(out, ignore_errors=True)
        recipe = load_recipe(recipe_path, {"output": str(out), "executor.workers": 1})
        results = build(recipe, console=Console(file=io.StringIO()))
        shutil.rmtree(out, ignore_errors=True)
        if i == 0:
            continue  # the cold build: first-use costs, which the measured build already has
        for r in results:
            if r.cpu_seconds is not None:
                least[r.stage.label] = min(least.get(r.stage.label, r.cpu_seconds), r.cpu_seconds)
    return least


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[2].isdigit() or int(argv[2]) < 2:
        print("usage: python -m corpus.app.warm_build RECIPE DIR BUILDS (BUILDS >= 2)", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    warm = warm_cpu_seconds(Path(argv[0]), folder, int(argv[2]))
    atomic_write_text(str(folder / WARM_FILE), json.dumps(warm, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
