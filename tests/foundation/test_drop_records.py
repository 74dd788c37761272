"""Drop records stream to their side file: a task that drops most of a large input holds one batch
of records at a time, and the file appears only when the step's input is exhausted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline

from corpus.core.story import DROP_BATCH, StoryStep

DOCUMENTS = 2 * DROP_BATCH + 20_000


class DropOdd(StoryStep):
    """Keeps even-numbered documents; records the most drop records it ever held."""

    name = "drop odd"

    def __init__(self) -> None:
        super().__init__()
        self.most_held = 0

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        for doc in data:
            if int(doc.id) % 2:
                self.drop(doc.id, "odd", f"document {doc.id}")
                self.most_held = max(self.most_held, len(self._drops))
                continue
            yield doc


def _documents(n: int) -> Iterator[Document]:
    return (Document(text="x", id=str(i)) for i in range(n))


def test_drops_are_written_in_batches_and_all_kept(tmp_path: Path) -> None:
    step = DropOdd()
    step.bind_stage(str(tmp_path), "github/example")
    kept = sum(1 for _ in step.run(_documents(DOCUMENTS), rank=3, world_size=4))
    assert kept == DOCUMENTS // 2
    assert 0 < step.most_held <= DROP_BATCH
    side = pq.ParquetFile(tmp_path / "drops" / "drop-odd" / "00003.parquet")
    dropped = DOCUMENTS // 2
    assert side.metadata.num_rows == dropped
    assert side.metadata.num_row_groups == -(-dropped // DROP_BATCH)
    table = side.read()
    assert table.column("id").to_pylist() == [str(i) for i in range(1, DOCUMENTS, 2)]
    assert set(table.column("stage").to_pylist()) == {"github/example:drop-odd"}
    assert set(table.column("reason").to_pylist()) == {"odd"}
    assert step.stats["dropped"].total == dropped


def test_a_task_stopped_midway_leaves_no_side_file(tmp_path: Path) -> None:
    step = DropOdd()
    step.bind_stage(str(tmp_path), "github/example")
    run = step.run(_documents(DOCUMENTS), rank=0, world_size=1)
    for _ in range(DROP_BATCH + 10):  # past the first written batch
        next(run)
    folder = tmp_path / "drops" / "drop-odd"
    assert list(folder.iterdir()), "the first batch is on disk, under a temporary name"
    assert not (folder / "00000.parquet").exists()
    run.close()
    assert list(folder.iterdir()) == []


def test_outside_a_build_the_records_stay_with_the_step() -> None:
    step = DropOdd()
    kept = list(step.run(_documents(10)))
    assert [d.id for d in kept] == ["0", "2", "4", "6", "8"]
    assert [d[0] for d in step._drops] == ["1", "3", "5", "7", "9"]
