"""Reading and writing documents as Parquet, one file per task.

datatrove's own writers stream straight into the final file name, so a killed task leaves a
truncated file that a resumed run or a downstream reader may trust. Ours write to a temporary name
and rename on completion, always produce a file per rank (possibly empty, so downstream stages see
a complete set) and use the fixed `DOCUMENT_SCHEMA`, which makes output bytes reproducible.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.core.atomic import atomic_open, split_url
from corpus.core.schema import DOCUMENT_SCHEMA, document_to_row, row_to_document


def data_files(folder: str) -> list[str]:
    """The Parquet data files of a stage folder, in rank order."""
    fs, root = split_url(folder.rstrip("/") + "/data")
    if not fs.exists(root):
        return []
    protocol = folder.split("://", 1)[0] + "://" if "://" in folder else ""
    return sorted(protocol + p for p in fs.glob(root + "/*.parquet"))


class ParquetDocumentWriter(PipelineStep):
    """Write the documents of one task to `<folder>/data/<rank>.parquet`."""

    name = "parquet writer"
    type = "💽 - WRITER"

    def __init__(self, folder: str, row_group_rows: int = 2_000) -> None:
        super().__init__()
        self.folder = folder.rstrip("/")
        self.row_group_rows = row_group_rows
        #: hand on each document as a reader of the file rebuilds it (metadata through JSON), for a
        #: stage that runs in the same task after this one (`corpus.app.fusion`)
        self.reread = False

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = f"{self.folder}/data/{rank:05d}.parquet"
        batch: list[dict] = []
        with atomic_open(path, "wb") as f, pq.ParquetWriter(f, DOCUMENT_SCHEMA, compression="zstd") as writer:
            for doc in data or ():
                with self.track_time():
                    row = document_to_row(doc)
                    batch.append(row)
                    self.stat_update("documents_out")
                    self.stat_update("bytes_out", value=len(doc.text.encode("utf-8")), unit="doc")
                    if len(batch) >= self.row_group_rows:
                        writer.write_table(pa.Table.from_pylist(batch, schema=DOCUMENT_SCHEMA))
                        batch = []
                yield row_to_document(row) if self.reread else doc
            if batch:
                writer.write_table(pa.Table.from_pylist(batch, schema=DOCUMENT_SCHEMA))


class ParquetDocumentReader(PipelineStep):
    """Read the documents a previous stage wrote; task `rank` takes files rank, rank+world, ..."""

    name = "parquet reader"
    type = "📖 - READER"

    def __init__(self, folders: str | list[str], batch_rows: int = 2_000) -> None:
        super().__init__()
        self.folders = [folders] if isinstance(folders, str) else list(folders)
        self.batch_rows = batch_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        files = [f for folder in self.folders for f in data_files(folder)]
        for path in files[rank::world_size]:
            fs, p = split_url(path)
            with fs.open(p, "rb") as fh:
                pf = pq.ParquetFile(fh)
                for batch in pf.iter_batches(batch_size=self.batch_rows):
                    for row in batch.to_pylist():
                        doc = row_to_document(row)
                        self.stat_update("documents_in")
                        self.stat_update("bytes_in", value=len(doc.text.encode("utf-8")), unit="doc")
                        yield doc
