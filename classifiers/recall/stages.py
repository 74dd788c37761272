"""The recall loop as recipe stages, and the iteration summary that `inspect` and notebooks read.

Recipe section (`recall:`), one loop per source:

    recall:
      commoncrawl: {targets: [...], discovery: {...}, iterations: 3}     # add tasks: 8 to scale out
      github: {unit: github, targets: [{name: code, positives: [...]}], iterations: 2}

With `tasks: N` in a source's section the loop runs as parallel stages planned up front
(`recall-tokenizer`, then `recall-train-<i>`, `recall-score-<i>` in N tasks and `recall-rank-<i>`
per iteration, then `recall` in N tasks; see `classifiers.recall.staged`); the iteration files
under `recall/iterations/` keep the same shape, so `inspect` and the notebooks read either.

The Common Crawl loop keeps only recalled pages (group = the target that recalled them); the
GitHub loop relabels the files it recalls and keeps the rest, as the paper used it to find more
code-related text in repositories rather than to filter them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from classifiers.recall.config import RecallConfig
from classifiers.recall.staged import staged_recall_stages
from classifiers.recall.steps import RecallLoopStep
from corpus.core.stage import Stage, document_stage, stage_folder


def loop_stages(
    cfg: RecallConfig, source: str, output: str, pool: str, base: str = ".", keep_unrecalled: bool = False
) -> list[Stage]:
    """One source's loop over the documents of the stage folder `pool`: a single-task `recall`
    stage, or with `tasks: N` the loop's parallel stages, whose last stage is also named `recall`."""
    if cfg.tasks is not None:
        return staged_recall_stages(cfg, source, output, pool, base, keep_unrecalled=keep_unrecalled)
    folder = stage_folder(output, source, "recall")
    step = RecallLoopStep(cfg, f"{folder}/iterations", base=base, keep_unrecalled=keep_unrecalled)
    targets = ", ".join(t.name for t in cfg.targets)
    return [
        document_stage(
            source,
            "recall",
            output,
            pool,
            [step],
            1,
            f"fastText recall of {targets}: up to {cfg.iterations} iterations with domain/prefix discovery",
        )
    ]


def training_columns(it: dict[str, Any]) -> dict[str, Any]:
    """How an iteration's model was trained, for tables: the chosen settings and how they were
    chosen, held-out AP and F1, and the score floor in force (the calibrated threshold unless the
    recipe set `min_score`). Iterations recorded before tuning existed give empty cells."""
    t = it.get("training") or {}
    return {
        "settings": f"epoch {t['epoch']}, lr {t['lr']:g} ({t['mode']})" if t else "",
        "heldout_ap": t.get("average_precision"),
        "heldout_f1": t.get("f1"),
        "threshold": it.get("min_score"),
    }


def loop_summary(folder: str | Path) -> list[dict[str, Any]]:
    """One row per target and iteration from `<folder>/loop.json` (a recall stage's `iterations/`)."""
    folder = Path(folder)
    path = folder / "loop.json" if (folder / "loop.json").is_file() else folder / "iterations" / "loop.json"
    data = json.loads(path.read_text())
    rows = []
    for target, info in sorted(data["targets"].items()):
        for it in info["iterations"]:
            rows.append(
                {
                    "target": target,
                    "iteration": it["iteration"],
                    "seed_positives": it["seed_positives"],
                    "recalled": it["recalled"],
                    "new": it["new"],
                    "new_share": it["new_share"],
                    "score_cutoff": it["score_cutoff"],
                    "target_domains": len(it["target_domains"]),
                    "prefixes": ", ".join(it["prefixes"]),
                    "seed_additions": it["seed_additions"],
                    "stop_reason": it["stop_reason"],
                    **training_columns(it),
                }
            )
    return rows
