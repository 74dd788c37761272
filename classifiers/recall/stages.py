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

from pydantic import BaseModel, ConfigDict

from classifiers.recall.config import RecallConfig


class RecallSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commoncrawl: RecallConfig | None = None
    github: RecallConfig | None = None


def _section(recipe: Any) -> RecallSection | None:
    raw = getattr(recipe, "recall", None)
    if raw is None:
        return None
    if isinstance(raw, RecallSection):
        return raw
    return RecallSection.model_validate(raw if isinstance(raw, dict) else raw.model_dump())


def recall_stages(recipe: Any, output: str, previous: list, base: str = ".") -> list:
    """One single-task `recall` stage per configured source, reading that source's latest stage; with
    `tasks: N` in the source's section, the loop's parallel stages instead (`classifiers.recall.staged`),
    whose last stage is also named `recall`."""
    from classifiers.recall.steps import RecallLoopStep
    from corpus.parquet_io import ParquetDocumentReader, ParquetDocumentWriter
    from corpus.stages import Stage, latest, stage_folder

    section = _section(recipe)
    if section is None:
        return []
    stages = []
    for source, unit in (("commoncrawl", "web"), ("github", "github")):
        cfg: RecallConfig | None = getattr(section, source)
        prev = latest(previous, source)
        if cfg is None or prev is None:
            continue
        cfg = cfg.model_copy(update={"unit": unit})
        if cfg.tasks is not None:
            from classifiers.recall.staged import staged_recall_stages

            stages += staged_recall_stages(
                cfg, source, output, prev.folder, base, keep_unrecalled=source == "github"
            )
            continue
        folder = stage_folder(output, source, "recall")
        step = RecallLoopStep(cfg, f"{folder}/iterations", base=base, keep_unrecalled=source == "github")
        targets = ", ".join(t.name for t in cfg.targets)
        stages.append(
            Stage(
                source,
                "recall",
                output,
                [ParquetDocumentReader(prev.folder), step, ParquetDocumentWriter(folder)],
                1,
                f"fastText recall of {targets}: up to {cfg.iterations} iterations with domain/prefix discovery",
            )
        )
    return stages


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
                }
            )
    return rows
