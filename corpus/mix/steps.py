"""The datatrove steps of the mix: tokenizer, exact token counts, the plan.

Each is a terminal step (it reads the input stage folders itself and yields nothing), because the
mix addresses documents by (file, row) to come back to them once per epoch.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.core.atomic import atomic_open, atomic_write_text, split_url
from corpus.core.errors import UserError
from corpus.core.story import StoryStep
from corpus.mix.config import MixSettings, TokenizerSettings
from corpus.mix.documents import (
    READ_BUFFER_BYTES,
    TEXT_BATCH_ROWS,
    GroupAssigner,
    RowStream,
    freeze_inputs,
    frozen_inputs,
    iter_batches,
)
from corpus.mix.encode import encode_sequences
from corpus.mix.fim import draw_fim, stable_hash64
from corpus.mix.plan import check_used_share, mix_order_key, plan_to_json
from corpus.mix.plan_stream import Batch, Totals, places, plan_streamed
from corpus.mix.tokenizer import load_tokenizer, train_tokenizer, wrap_trained
from corpus.shards.megatron import MegatronShardWriter

COUNT_SCHEMA = pa.schema(
    [
        ("file", pa.int32()),
        ("row", pa.int64()),
        ("id", pa.string()),
        ("source", pa.string()),
        ("group", pa.string()),
        ("language", pa.string()),
        ("chars", pa.int64()),
        ("tokens", pa.int64()),
        ("cost", pa.int64()),
        ("order", pa.uint64()),  # mix_order_key: the document's place in its group's seeded order
    ]
)

SELECTION_SCHEMA = pa.schema(
    [
        ("file", pa.int32()),
        ("row", pa.int64()),
        ("group", pa.string()),
        ("copies", pa.int32()),
        ("seq", pa.int64()),  # the document's first copy in the count stage's token cache
    ]
)

_DOC_COLUMNS = ["id", "text", "source", "group", "language"]
_META_COLUMNS = ["id", "source", "group", "language"]

#: Characters of text tokenized in one go by the count stage: the texts, their ids and the copies
#: made on the way to the cache are what a count task holds, so this bounds its memory whatever
#: the size of its input or of `batch_documents`.
ENCODE_BATCH_CHARS = 4 << 20


class _Tokenize:
    """Documents waiting to be tokenized: their ids, mix groups and texts, in row order."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.groups: list[str] = []
        self.texts: list[str] = []
        self.chars = 0

    def add(self, did: str, group: str, text: str) -> None:
        self.ids.append(did)
        self.groups.append(group)
        self.texts.append(text)
        self.chars += len(text)

    def clear(self) -> None:
        self.ids, self.groups, self.texts, self.chars = [], [], [], 0


def _check_columns(path: str) -> None:
    fs, p = split_url(path)
    with fs.open(p, "rb") as fh:
        names = set(pq.ParquetFile(fh).schema_arrow.names)
    missing = [c for c in _DOC_COLUMNS if c not in names]
    if missing:
        raise UserError(f"{path}: not a document file (missing columns {', '.join(missing)})")


def tokenizer_file(stage_folder: str) -> str:
    return f"{stage_folder.rstrip('/')}/tokenizer.json"


def inputs_file(stage_folder: str) -> str:
    """The input files of the mix, listed once by the tokenizer stage (see `freeze_inputs`)."""
    return f"{stage_folder.rstrip('/')}/inputs.json"


def load_stage_tokenizer(path: str, settings: TokenizerSettings):

    return load_tokenizer(path, settings)


class _Tally:
    """Passes texts through, counting them and their characters on the way."""

    def __init__(self, texts: Iterator[str]) -> None:
        self._texts = texts
        self.count = 0
        self.chars = 0

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            self.count += 1
            self.chars += len(text)
            yield text


class TrainTokenizerStep(PipelineStep):
    """Train the BPE on a seeded sample of the mix's documents, or check and copy a given one.

    The sample is the `sample_documents` documents with the smallest seeded hash of their id, so it
    does not depend on file order and every group is represented in proportion to its documents.
    """

    name = "tokenizer"
    type = "🔢 - TOKENIZER"

    def __init__(
        self, inputs: list[str], folder: str, settings: TokenizerSettings, mix: MixSettings, seed: int
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.folder = folder.rstrip("/")
        self.settings = settings
        self.mix = mix
        self.seed = seed

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:

        out = tokenizer_file(self.folder)
        if rank != 0:
            return
        files = freeze_inputs(self.inputs, inputs_file(self.folder))
        self.stat_update("input_files", value=len(files))
        if self.settings.path:
            tok = load_tokenizer(self.settings.path, self.settings)
        else:
            # the sample is streamed into the trainer, which keeps word counts, not texts
            sample = _Tally(self._sample(files))
            with self.track_time(unit="tokenizer"):
                trained = train_tokenizer(sample, self.settings)
            if not sample.count:
                raise UserError("tokenizer: no documents to train on (no input document maps to a mix group)")
            tok = wrap_trained(trained, self.settings, out)
            self.stat_update("sample_documents", value=sample.count)
            self.stat_update("documents_in", value=sample.count)
            self.stat_update("sample_chars", value=sample.chars)
        tok.save(out)
        atomic_write_text(f"{self.folder}/tokenizer_info.json", json.dumps(tok.describe(), indent=2))
        return
        yield

    def _sample(self, files: list[str]) -> Iterator[str]:
        assign = GroupAssigner(self.mix)
        k = self.settings.sample_documents
        heap: list[tuple[int, int, int]] = []  # (-hash, file, row): the k smallest hashes
        for fi, path in enumerate(files):
            _check_columns(path)
            row = 0
            for batch in iter_batches(path, ["id", "source", "group", "language"], 8192):
                cols = batch.to_pydict()
                for did, src, grp, lang in zip(
                    cols["id"], cols["source"], cols["group"], cols["language"], strict=True
                ):
                    if did is not None and assign(grp, src, lang) is not None:
                        key = stable_hash64(self.seed, "tokenizer", did)
                        item = (-key, fi, row)
                        if len(heap) < k:
                            heapq.heappush(heap, item)
                        elif item > heap[0]:
                            heapq.heapreplace(heap, item)
                    row += 1
        wanted: dict[int, list[int]] = {}
        for _, fi, row in heap:
            wanted.setdefault(fi, []).append(row)
        limit = self.settings.sample_max_chars
        for fi in sorted(wanted):
            rows = np.sort(np.asarray(wanted[fi], dtype=np.int64))
            base = 0
            for batch in iter_batches(files[fi], ["text"], TEXT_BATCH_ROWS):
                lo, hi = np.searchsorted(rows, [base, base + batch.num_rows])
                if hi > lo:  # only the sampled rows of a batch become Python strings
                    for text in batch.column(0).take(pa.array(rows[lo:hi] - base)).to_pylist():
                        if text:
                            yield text[:limit]
                base += batch.num_rows


class CountTokensStep(StoryStep):
    """Tokenize every document once and record its exact token count, group, source and language.

    Documents no mix group takes, empty documents and records without an id or text are dropped
    here, each with a drop record, so the plan only ever sees documents it can write.
    """

    name = "count tokens"

    def __init__(
        self,
        inputs_list: str,
        folder: str,
        tokenizer_path: str,
        tokenizer: TokenizerSettings,
        mix: MixSettings,
        seed: int,
        batch_documents: int = 2_000,
    ) -> None:
        super().__init__()
        self.seed = seed
        self.inputs_list = inputs_list
        self.folder = folder.rstrip("/")
        self.tokenizer_path = tokenizer_path
        self.tokenizer = tokenizer
        self.mix = mix
        self.batch_documents = batch_documents

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        tok = load_stage_tokenizer(self.tokenizer_path, self.tokenizer)
        assign = GroupAssigner(self.mix)
        files = frozen_inputs(self.inputs_list)
        out = f"{self.folder}/counts/{rank:05d}.parquet"
        # row i of counts/<rank>.parquet is sequence i of cache/<rank>.bin: the document's first copy
        cache = MegatronShardWriter(f"{self.folder}/cache/{rank:05d}", tok.dtype)
        try:
            self._count(tok, assign, files, out, cache, rank, world_size)
        except BaseException:
            cache.abort()
            raise
        cache.close(allow_empty=True)
        return
        yield

    def _count(self, tok, assign, files, out, cache, rank: int, world_size: int) -> None:
        """One row group of counts per `batch_documents` input rows, as the shards' readers expect;
        the texts behind a row group are streamed and tokenized `ENCODE_BATCH_CHARS` at a time."""
        with atomic_open(out, "wb") as fh, pq.ParquetWriter(fh, COUNT_SCHEMA, compression="zstd") as writer:
            for fi in range(rank, len(files), world_size):
                _check_columns(files[fi])
                texts = RowStream(files[fi], ["text"])
                try:
                    row = 0
                    for batch in iter_batches(files[fi], _META_COLUMNS, self.batch_documents):
                        writer.write_table(
                            self._count_batch(tok, assign, files, fi, row, batch, texts, cache)
                        )
                        row += batch.num_rows
                finally:
                    texts.close()

    def _count_batch(
        self, tok, assign, files: list[str], fi: int, first_row: int, batch: pa.RecordBatch, texts, cache
    ) -> pa.Table:
        """The count rows of one input batch: its metadata is held whole, its texts run by run."""
        cols = batch.to_pydict()
        meta = zip(*(cols[c] for c in _META_COLUMNS), strict=True)
        keep: dict[str, list] = {name: [] for name in COUNT_SCHEMA.names}
        todo = _Tokenize()
        r = first_row
        for run in texts.take(batch.num_rows):
            for text in run.column(0).to_pylist():
                did, src, grp, lang = next(meta)
                kept = self._keep(assign, files, fi, r, did, text, src, grp, lang)
                r += 1
                if kept is None:
                    continue
                for name, value in zip(
                    ("file", "row", "id", "source", "group", "language", "chars", "order"),
                    (fi, r - 1, did, src, kept, lang, len(text), mix_order_key(self.seed, kept, did)),
                    strict=True,
                ):
                    keep[name].append(value)
                todo.add(did, kept, text)
                if todo.chars >= ENCODE_BATCH_CHARS:
                    self._measure_into(tok, todo, keep, cache)
        self._measure_into(tok, todo, keep, cache)
        self.stat_update("documents_in", value=batch.num_rows)
        return pa.table(keep, schema=COUNT_SCHEMA)

    def _keep(self, assign, files, fi: int, r: int, did, text, src, grp, lang) -> str | None:
        """The document's mix group, or None after recording why it is dropped."""
        if did is None or text is None:
            self.drop(f"{files[fi]}#{r}" if did is None else did, "bad-record", "id or text is null")
            return None
        mix_group = assign(grp, src, lang)
        if mix_group is None:
            self.drop(did, "no-mix-group", f"group={grp} source={src} language={lang}")
            return None
        if not text:
            self.drop(did, "empty", "no text")
            return None
        return mix_group

    def _measure_into(self, tok, todo: _Tokenize, keep: dict[str, list], cache: MegatronShardWriter) -> None:
        """Tokenize the documents waiting in `todo`, append their counts to `keep`, empty `todo`."""
        if not todo.texts:
            return
        with self.track_time(unit="batch"):
            tokens, cost = self._measure(tok, todo.ids, todo.groups, todo.texts, cache)
        keep["tokens"].extend(tokens)
        keep["cost"].extend(cost)
        self.stat_update("documents_out", value=len(todo.texts))
        self.stat_update("bytes_in", value=sum(len(t.encode("utf-8")) for t in todo.texts))
        self.stat_update("tokens", value=sum(tokens))
        for g, n in zip(todo.groups, tokens, strict=True):
            self.stat_update(f"tokens:{g}", value=n)
            self.stat_update(f"documents:{g}")
        todo.clear()

    def _measure(
        self, tok, ids: list[str], groups: list[str], texts: list[str], cache: MegatronShardWriter
    ) -> tuple[list[int], list[int]]:
        """Plain token counts, and each document's first copy: its length, and its ids into the cache."""

        splits = [
            draw_fim(text, self.mix.groups[g].fim, self.seed, did, 0)
            for did, g, text in zip(ids, groups, texts, strict=True)
        ]
        seqs, plain = encode_sequences(tok, texts, splits, plain_lengths=True)
        cache.add_documents(seqs)
        return plain or [], [len(s) for s in seqs]


class PlanStep(StoryStep):
    """Decide how many copies of each document the shards get (one task), and record the plan.

    Writes `plan.json` and one selection file per count file; documents that get no copy are
    recorded as drops (`downsampled`, or `zero-share` for groups given no share). Without a
    budget, a plan that would use less than `mix.min_used_share` of the tokens stops here with a
    `UserError` (see `check_used_share`), before anything is written. The plan is one task, and
    streamed (`corpus.mix.plan_stream`): it reads the count files' numbers a few times and holds
    one count file, a bucket of the order-key space and the documents near its cut, never every
    document (the in-memory sort it replaces held 84 bytes a document); the order keys were
    hashed by the parallel count stage.
    """

    name = "plan"

    def __init__(self, counts_folder: str, folder: str, mix: MixSettings, seed: int) -> None:
        super().__init__()
        self.counts_folder = counts_folder.rstrip("/")
        self.folder = folder.rstrip("/")
        self.mix = mix
        self.seed = seed

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        if rank != 0:
            return
        fs, p = split_url(self.counts_folder + "/counts")
        count_files = sorted(fs.glob(p + "/*.parquet"))
        names = list(self.mix.groups)
        value_set = pa.array(names)

        def numbers(rows: pa.RecordBatch | pa.Table, f: str) -> np.ndarray:
            """Each row's group as its index in mix.groups."""
            codes = pc.index_in(rows.column("group"), value_set=value_set)
            if codes.null_count:
                bad = rows.column("group").filter(pc.is_null(codes))[0]
                raise UserError(
                    f"{f}: group {bad} is not one of mix.groups ({', '.join(names)}); rebuild mix/tokens"
                )
            return codes.to_numpy(zero_copy_only=False).astype(np.int32)

        def scan() -> Iterator[Batch]:
            for ti, f in enumerate(count_files):
                row = 0
                for b in _count_batches(fs, f, ["group", "cost", "order"]):
                    yield (
                        numbers(b, f),
                        b.column("cost").to_numpy(),
                        b.column("order").to_numpy(),
                        places(ti, row, b.num_rows),
                    )
                    row += b.num_rows

        # pass 1: exact counts for the report, and the totals the streamed plan starts from
        available = _Available()
        totals = Totals(len(names))
        rows: list[int] = []
        for f in count_files:
            n = 0
            for b in _count_batches(fs, f, ["group", "cost", "order", "source", "language", "tokens"]):
                available.add(pa.Table.from_batches([b]))
                totals.add(numbers(b, f), b.column("cost").to_numpy(), b.column("order").to_numpy())
                n += b.num_rows
            rows.append(n)
        plans, cuts, total = plan_streamed(scan, totals, names, self.mix)
        # before any selection file: a plan that would silently throw most tokens away stops the
        # build here, so no shard of it is ever written
        check_used_share(plans, self.mix)
        missing = [g for g, gp in plans.items() if self.mix.groups[g].share > 0 and gp.documents == 0]

        documents_out = 0
        for ti, f in enumerate(count_files):
            t = pq.read_table(f, filesystem=fs, columns=["file", "row", "group", "order"])
            codes = numbers(t, f)
            keys = t.column("order").to_numpy()
            where = places(ti, 0, rows[ti])
            c = np.zeros(rows[ti], dtype=np.int32)
            for gi, g in enumerate(names):
                m = np.flatnonzero(codes == gi)
                if m.size and plans[g].share > 0:
                    c[m] = cuts[g].full + cuts[g].taken(keys[m], where[m])
            documents_out += int((c > 0).sum())
            dropped = np.flatnonzero(c == 0)
            if dropped.size:
                ids = _take_ids(fs, f, dropped)
                groups = t.column("group").take(dropped).to_pylist()
                reason = {g: "zero-share" if self.mix.groups[g].share == 0 else "downsampled" for g in names}
                self.drop_many(ids, [reason[g] for g in groups], [f"group={g}" for g in groups])
            sel = pa.table(
                {
                    "file": t.column("file"),
                    "row": t.column("row"),
                    "group": t.column("group"),
                    "copies": c,
                    "seq": np.arange(rows[ti], dtype=np.int64),
                },
                schema=SELECTION_SCHEMA,
            )
            name = f.rsplit("/", 1)[-1]
            with atomic_open(f"{self.folder}/selection/{name}", "wb") as fh:
                pq.write_table(sel, fh, compression="zstd")
        doc = plan_to_json(plans, total, self.seed, missing)
        doc["available"] = available.report()
        atomic_write_text(f"{self.folder}/plan.json", json.dumps(doc, indent=2, sort_keys=True))
        self.stat_update("documents_in", value=sum(rows))
        self.stat_update("documents_out", value=documents_out)
        self.stat_update("tokens", value=sum(gp.planned_tokens for gp in plans.values()))
        for g, gp in plans.items():
            self.stat_update(f"planned_tokens:{g}", value=gp.planned_tokens)
        return
        yield


#: Rows of a count file read at a time by the plan (numbers and short strings only).
PLAN_BATCH_ROWS = 65_536


def _count_batches(fs, path: str, columns: list[str]) -> Iterator[pa.RecordBatch]:
    with fs.open(path, "rb") as fh:
        yield from pq.ParquetFile(fh, buffer_size=READ_BUFFER_BYTES).iter_batches(
            batch_size=PLAN_BATCH_ROWS, columns=columns
        )


def _take_ids(fs, path: str, rows: np.ndarray) -> list[str]:
    """The ids of the given rows (sorted) of a count file, read batch by batch."""
    ids: list[str] = []
    base = 0
    for b in _count_batches(fs, path, ["id"]):
        lo, hi = np.searchsorted(rows, [base, base + b.num_rows])
        if hi > lo:
            ids.extend(b.column(0).take(pa.array(rows[lo:hi] - base)).to_pylist())
        base += b.num_rows
    return ids


class _Available:
    """Exact token and document counts of the input, by source, language and group (before mixing)."""

    _KEYS = (("by_source", "source"), ("by_language", "language"), ("by_group", "group"))

    def __init__(self) -> None:
        self.tokens: dict[str, Counter] = {k: Counter() for k, _ in self._KEYS}
        self.docs: dict[str, Counter] = {k: Counter() for k, _ in self._KEYS}

    def add(self, t: pa.Table) -> None:
        for key, col in self._KEYS:
            agg = t.select([col, "tokens"]).group_by(col).aggregate([("tokens", "sum"), ("tokens", "count")])
            for value, n, d in zip(
                agg.column(col).to_pylist(),
                agg.column("tokens_sum").to_pylist(),
                agg.column("tokens_count").to_pylist(),
                strict=True,
            ):
                if key == "by_language":
                    value = value or "unknown"
                self.tokens[key][value] += n
                self.docs[key][value] += d

    def report(self) -> dict:
        return {
            "tokens": {k: dict(sorted(v.items())) for k, v in self.tokens.items()},
            "documents": {k: dict(sorted(v.items())) for k, v in self.docs.items()},
        }
