"""Dedup as stages: four `corpus.core.stage.Stage`s per source (eight when exact dedup runs as a
first pass before sharded near-dedup; with `cluster_rounds` = R, R component rounds and a labels
stage come before the keep-policy stage).

`dedup_stages` builds them from the dedup config alone; the build (`corpus.app.builders.dedup`)
and the `coderforge dedup` command hand them to the app's one stage runner. A component round
after the components settled says so through `StageStep.idle`, and the runner does not start it;
the labels stage refuses to start, through `StageStep.blocked`, when the rounds did not settle.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from datatrove.pipeline.base import PipelineStep

from corpus.core.parquet_io import ParquetDocumentReader, ParquetDocumentWriter
from corpus.core.stage import Stage, stage_folder
from dedup.config import DedupConfig
from dedup.layout import WorkLayout
from dedup.lsh import bands_rows, format_curve
from dedup.rounds import DedupLabels, DedupRound
from dedup.step_base import dedup_plan
from dedup.steps import DedupBuckets, DedupClusters, DedupFilter, DedupSignatures


def dedup_stages(
    config: DedupConfig,
    source: str,
    output: str,
    tasks: int,
    reader: Callable[[], PipelineStep] | None = None,
    input_stage: str = "documents",
    write_output: bool = True,
    name: str = "dedup",
) -> list[Stage]:
    """The four stages deduplicating `OUTPUT/<source>/<input_stage>/` into `OUTPUT/<source>/<name>/`.

    `reader` makes the step that yields the input documents (a fresh one per stage that reads
    them); by default the Parquet documents of the input stage. Stages 1 and 4 must read the same
    documents in the same order with the same number of tasks.
    """
    if config.exact and config.near and config.cluster_shards > 1 and not config.cluster_rounds:
        # exact copies link documents across partitions, so they go first, in a pass of their own
        # whose clustering tasks split the content digests; the near pass then clusters partition
        # by partition on the exact pass's output. No clustering task sees the whole graph.
        exact_name = f"{name}-exact"
        exact_pass = config.model_copy(update={"near": False})
        near_pass = config.model_copy(update={"exact": False})
        first = dedup_stages(exact_pass, source, output, tasks, reader, input_stage, True, exact_name)
        second_reader = partial(ParquetDocumentReader, stage_folder(output, source, exact_name))
        return first + dedup_stages(
            near_pass, source, output, tasks, second_reader, exact_name, write_output, name
        )
    root = f"{output.rstrip('/')}/{source}"
    if reader is None:
        folder = stage_folder(output, source, input_stage)

        def reader() -> PipelineStep:
            return ParquetDocumentReader(folder)

    _, _, units = dedup_plan(config)
    bucket_tasks = max(1, min(tasks, units))
    final = [reader(), DedupFilter(root, config, tasks, prefix=name)]
    if write_output:
        final.append(ParquetDocumentWriter(stage_folder(output, source, name)))
    bands, rows, _ = dedup_plan(config)
    lsh = f"{bands} bands x {rows} rows" if config.near else "exact only"
    return [
        Stage(
            source,
            f"{name}-signatures",
            output,
            [reader(), DedupSignatures(root, config, tasks, prefix=name)],
            tasks,
            f"word {config.ngram}-gram MinHash ({config.num_perm} {config.scheme}), {lsh}",
        ),
        Stage(
            source,
            f"{name}-buckets",
            output,
            [DedupBuckets(root, config, tasks, prefix=name)],
            bucket_tasks,
            f"{units} band units over {bucket_tasks} tasks; verify={config.verify}",
        ),
        *_round_stages(config, source, output, root, tasks, bucket_tasks, name),
        Stage(
            source,
            f"{name}-clusters",
            output,
            [DedupClusters(root, config, tasks, bucket_tasks, prefix=name)],
            config.cluster_shards,
            f"{'keep-policy per component' if config.cluster_rounds else 'connected components'}, "
            f"keep {' > '.join(config.keep)}",
        ),
        Stage(source, name, output, final, tasks, "drop duplicates, record the id each one duplicates"),
    ]


def _round_stages(
    config: DedupConfig, source: str, output: str, root: str, tasks: int, bucket_tasks: int, name: str
) -> list[Stage]:
    """With `cluster_rounds`: the component rounds and the labels stage (none otherwise).

    All `cluster_rounds` rounds are planned, since a build's stage list is fixed before it runs;
    those after the components settled do nothing (the runner does not even start them).
    """
    shards = config.cluster_shards
    stages = [
        Stage(
            source,
            f"{name}-round{r:03d}",
            output,
            [DedupRound(root, config, tasks, bucket_tasks, r, prefix=name)],
            shards,
            f"components round {r}: {'small' if r % 2 == 0 else 'large'} star over {shards} tasks",
        )
        for r in range(config.cluster_rounds)
    ]
    if stages:
        stages.append(
            Stage(
                source,
                f"{name}-labels",
                output,
                [DedupLabels(root, config, tasks, bucket_tasks, prefix=name)],
                shards,
                "documents and pairs to the task of their component",
            )
        )
    return stages


def layout_for(stages: list[Stage], name: str = "dedup") -> WorkLayout:
    first = stages[0]
    return WorkLayout(f"{first.output.rstrip('/')}/{first.source}", name)


def describe(config: DedupConfig) -> str:
    """The LSH plan and its detection curve, for printing before a run."""
    if not config.near:
        return "exact dedup only (whitespace-normalised content)"
    bands, rows = bands_rows(config)
    return format_curve(bands, rows, config.threshold)
