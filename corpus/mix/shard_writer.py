"""Writing the shards: each planned copy of a document, FIM applied, tokenized, EOS-terminated.

Task `rank` takes the plan's selection files rank, rank+world, ... and writes, per group, shards
`OUTPUT/mix/shards/<group>/<rank>_<n>.bin/.idx` (a new one once `max_tokens_per_shard` is
reached) with a Parquet twin `<rank>_<n>.parquet` whose row i is sequence i of the shard: its
original text, metadata, epoch, FIM cut points and token count. Epochs are written one after the
other (all first copies, then all second copies, ...); a training loader shuffles anyway, and this
keeps each input file read front to back once per epoch.

Tokens are counted exactly as written, per group, source and language, into
`ranks/<rank>.json`; the manifest is assembled from those files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline

from corpus.core.atomic import atomic_open, atomic_write_text, split_url
from corpus.core.schema import DOCUMENT_SCHEMA
from corpus.core.story import StoryStep
from corpus.mix.config import MixSettings, ShardSettings, TokenizerSettings
from corpus.mix.documents import RowStream, frozen_inputs, iter_batches
from corpus.mix.encode import encode_sequences
from corpus.mix.fim import FimSplit, draw_fim
from corpus.mix.steps import ENCODE_BATCH_CHARS, load_stage_tokenizer
from corpus.shards.megatron import MegatronShardReader, MegatronShardWriter
from corpus.shards.verify import shard_digests

TWIN_SCHEMA = pa.schema(
    [
        *DOCUMENT_SCHEMA,
        ("epoch", pa.int32()),
        ("fim", pa.string()),
        ("fim_a", pa.int32()),
        ("fim_b", pa.int32()),
        ("tokens", pa.int32()),
    ]
)


class _Twin:
    """The Parquet twin of one shard, open until the rows of its last sequences are written."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._ctx = atomic_open(prefix + ".parquet", "wb")
        self._writer = pq.ParquetWriter(self._ctx.__enter__(), TWIN_SCHEMA, compression="zstd")
        self.waiting = 0  # sequences already in the .bin whose rows are not written yet

    def write(self, rows: pa.Table) -> None:
        self._writer.write_table(rows)
        self.waiting -= rows.num_rows

    def close(self) -> None:
        self._writer.close()
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        with suppress(Exception):  # its bytes go away with the temporary file anyway
            self._writer.close()
        self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)


class _GroupShards:
    """The open shard of one group in one task, rolled over when it reaches the size limit.

    Token sequences go to the `.bin` as they are made (`add`); the rows of the Parquet twin
    follow once per batch (`add_rows`), one row group per shard the batch reached, so the twin
    holds the same row groups however the batch was tokenized. A full shard is finished (twin,
    then `.bin` and `.idx`) only once its twin has every row, so an `.idx` still means a whole
    shard.
    """

    def __init__(self, root: str, group: str, rank: int, dtype, max_tokens: int, parquet: bool) -> None:
        self.root, self.group, self.rank = root, group, rank
        self.dtype, self.max_tokens, self.parquet = dtype, max_tokens, parquet
        self.index = 0
        self.done: list[dict] = []
        self._writer: MegatronShardWriter | None = None
        self._twins: list[_Twin] = []  # the open shard's twin, and those of full shards
        self._full: list[MegatronShardWriter] = []  # full shards waiting for their twin rows

    @property
    def prefix(self) -> str:
        return f"{self.root}/{self.group}/{self.rank:05d}_{self.index:05d}"

    def _open(self) -> None:
        self._writer = MegatronShardWriter(self.prefix, self.dtype)
        if self.parquet:
            self._twins.append(_Twin(self.prefix))

    def add(self, seqs: list[np.ndarray]) -> None:
        """Append sequences: a shard takes them until it holds `max_tokens`, then the next one."""
        start = 0
        while start < len(seqs):
            if self._writer is None:
                self._open()
            assert self._writer is not None
            room = self.max_tokens - self._writer.tokens
            end, used = start, 0
            while end < len(seqs) and (used < room or end == start):
                used += len(seqs[end])
                end += 1
            self._writer.add_documents(seqs[start:end])
            if self._twins:
                self._twins[-1].waiting += end - start
            start = end
            if self._writer.tokens >= self.max_tokens:
                self._retire()

    def add_rows(self, rows: pa.Table) -> None:
        """Write the twin rows of every sequence added since the last call, in the same order."""
        at = 0
        for twin in self._twins:
            if twin.waiting:
                n = twin.waiting
                twin.write(rows.slice(at, n))
                at += n
        if at != rows.num_rows:
            raise ValueError(f"{self.group}: {rows.num_rows} twin rows for {at} sequences")
        self._finish_full()

    def _retire(self) -> None:
        """The open shard is full: no sequence joins it; it is finished with its twin."""
        assert self._writer is not None
        self._full.append(self._writer)
        self._writer = None
        self.index += 1
        if not self.parquet:
            self._finish_full()

    def _finish_full(self) -> None:
        for writer in self._full:
            if self._twins:
                self._twins.pop(0).close()
            writer.close()
            self.done.append(
                {
                    "prefix": writer.prefix,
                    "documents": writer.documents,
                    "tokens": writer.tokens,
                    # hashed here, in the task, while the bytes are in the page cache: the manifest
                    # would otherwise read every shard again in the build's own process
                    "files": shard_digests(writer.prefix),
                }
            )
        self._full = []

    def close(self) -> None:
        if self._writer is not None:
            self._retire()
        self._finish_full()

    def abort(self) -> None:
        for writer in [*self._full, *([self._writer] if self._writer is not None else [])]:
            writer.abort()
        for twin in self._twins:
            twin.abort()
        self._twins, self._full, self._writer = [], [], None


class WriteShardsStep(StoryStep):
    """Tokenize every planned document copy (with FIM where its group asks) into Megatron shards."""

    name = "write shards"

    def __init__(
        self,
        inputs_list: str,
        plan_folder: str,
        cache_folder: str,
        folder: str,
        tokenizer_path: str,
        tokenizer: TokenizerSettings,
        mix: MixSettings,
        shards: ShardSettings,
        seed: int,
    ) -> None:
        super().__init__()
        self.inputs_list = inputs_list
        self.plan_folder = plan_folder.rstrip("/")
        self.cache_folder = cache_folder.rstrip("/")
        self.folder = folder.rstrip("/")
        self.tokenizer_path = tokenizer_path
        self.tokenizer = tokenizer
        self.mix = mix
        self.shards = shards
        self.seed = seed

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:

        tok = load_stage_tokenizer(self.tokenizer_path, self.tokenizer)
        files = frozen_inputs(self.inputs_list)
        fs, p = split_url(self.plan_folder + "/selection")
        selections = sorted(fs.glob(p + "/*.parquet"))
        outs: dict[str, _GroupShards] = {}
        self._counts: dict[str, Counter] = {k: Counter() for k in ("group", "source", "language")}
        self._docs: dict[str, Counter] = {k: Counter() for k in ("group", "source", "language")}
        self._fim: dict[str, Counter] = {}
        try:
            for sel_path in selections[rank::world_size]:
                sel = pq.read_table(sel_path, filesystem=fs)
                if sel.num_rows == 0:
                    continue
                stem = sel_path.rsplit("/", 1)[-1].removesuffix(".parquet")
                cache = _Cache(f"{self.cache_folder}/{stem}")
                try:
                    copies = sel.column("copies").to_numpy()
                    for epoch in range(int(copies.max())):
                        chosen = sel.filter(pc.greater(sel.column("copies"), epoch))
                        self._write_epoch(chosen, epoch, files, tok, outs, rank, cache)
                finally:
                    cache.close()
            for g in sorted(outs):
                outs[g].close()
        except BaseException:
            for g in outs.values():
                g.abort()
            raise
        report = {
            "rank": rank,
            "shards": [dict(s, group=g) for g in sorted(outs) for s in outs[g].done],
            "tokens": {f"by_{k}": dict(sorted(v.items())) for k, v in self._counts.items()},
            "documents": {f"by_{k}": dict(sorted(v.items())) for k, v in self._docs.items()},
            "fim": {g: dict(sorted(c.items())) for g, c in sorted(self._fim.items())},
        }
        atomic_write_text(
            f"{self.folder}/ranks/{rank:05d}.json", json.dumps(report, indent=2, sort_keys=True)
        )
        return
        yield

    def _write_epoch(
        self, chosen: pa.Table, epoch: int, files: list[str], tok, outs, rank: int, cache
    ) -> None:
        """Write one epoch's copies of a selection, input file by input file, in row order.

        Copies are flushed once at least `batch_documents` of them are waiting, counted at the
        end of each `batch_documents` input rows: the batches, and with them the twins' row
        groups, are what they would be with whole input batches in memory.
        """
        file_col = chosen.column("file").to_numpy()
        coded = chosen.column("group").combine_chunks().dictionary_encode()
        names = coded.dictionary.to_pylist()
        codes = coded.indices.to_numpy()
        for fi in np.unique(file_col):
            mask = file_col == fi
            rows = chosen.column("row").to_numpy()[mask]
            groups = codes[mask]
            seqs = chosen.column("seq").to_numpy()[mask]
            order = np.argsort(rows, kind="stable")
            rows, groups, seqs = rows[order], groups[order], seqs[order]
            stream = RowStream(files[int(fi)], [*DOCUMENT_SCHEMA.names])
            try:
                waiting = _Copies()
                pos = 0  # index into rows
                base = 0  # row number of the batch's first row
                for n in _batch_rows(files[int(fi)], self.shards.batch_documents):
                    stop = int(np.searchsorted(rows, base + n, side="left"))
                    waiting.pick(stream.take(n), rows[pos:stop] - base, groups[pos:stop], seqs[pos:stop])
                    pos = stop
                    base += n
                    if waiting.count >= self.shards.batch_documents:
                        self._flush(waiting, names, epoch, tok, outs, rank, cache)
                        waiting = _Copies()
                if waiting.count:
                    self._flush(waiting, names, epoch, tok, outs, rank, cache)
            finally:
                stream.close()

    def _flush(self, waiting: _Copies, names: list[str], epoch: int, tok, outs, rank: int, cache) -> None:
        """Tokenize (or take from the cache) one batch of copies and hand them to the group shards.

        A copy's ids are in the count stage's cache when its FIM draw is the cached one: always in
        epoch 0, and in every epoch for groups without FIM. Only the other copies are tokenized,
        `ENCODE_BATCH_CHARS` of text at a time; each run's ids go to the `.bin` files at once,
        and the twins' rows (the batch's texts, held once, as Arrow) follow at the end.
        """
        docs = waiting.table()
        groups = [names[c] for c in waiting.groups()]
        seqs = waiting.seqs()
        extra: dict[str, list] = {"epoch": [], "fim": [], "fim_a": [], "fim_b": [], "tokens": []}
        with self.track_time(unit="batch"):
            for a, b in _runs(pc.utf8_length(docs.column("text")).to_numpy(zero_copy_only=False)):
                self._write_run(
                    docs.slice(a, b - a), groups[a:b], seqs[a:b], epoch, tok, outs, rank, cache, extra
                )
            if self.shards.parquet:
                self._write_twins(docs, groups, extra, outs)

    def _write_run(
        self,
        docs: pa.Table,
        groups: list[str],
        seqs: np.ndarray,
        epoch: int,
        tok,
        outs,
        rank: int,
        cache,
        extra,
    ) -> None:
        """Token sequences of a run of copies into their groups' shards; their twin columns into `extra`."""
        cols = docs.select(["id", "text", "source", "language"]).to_pydict()
        splits: list[FimSplit | None] = []
        fresh: list[int] = []
        for i, (did, text, group) in enumerate(zip(cols["id"], cols["text"], groups, strict=True)):
            fim = self.mix.groups[group].fim
            splits.append(draw_fim(text, fim, self.seed, did, epoch))
            if epoch > 0 and fim is not None and fim.rate > 0:
                fresh.append(i)
        ids_of: list[np.ndarray | None] = [None] * len(groups)
        if fresh:
            encoded, _ = encode_sequences(tok, [cols["text"][i] for i in fresh], [splits[i] for i in fresh])
            for i, ids in zip(fresh, encoded, strict=True):
                ids_of[i] = ids
        del cols["text"]
        by_group: dict[str, list[np.ndarray]] = {}
        for i, (group, split) in enumerate(zip(groups, splits, strict=True)):
            ids = ids_of[i]
            if ids is None:
                ids = cache[int(seqs[i])]
            n = len(ids)
            for name, value in (
                ("epoch", epoch),
                ("fim", split.mode if split else None),
                ("fim_a", split.a if split else None),
                ("fim_b", split.b if split else None),
                ("tokens", n),
            ):
                extra[name].append(value)
            by_group.setdefault(group, []).append(ids)
            lang = cols["language"][i] or "unknown"
            for key, value in (("group", group), ("source", cols["source"][i]), ("language", lang)):
                self._counts[key][value] += n
                self._docs[key][value] += 1
            self._fim.setdefault(group, Counter())[split.mode if split else "none"] += 1
        for group in sorted(by_group):
            if group not in outs:
                outs[group] = _GroupShards(
                    self.folder, group, rank, tok.dtype, self.shards.max_tokens_per_shard, self.shards.parquet
                )
            outs[group].add(by_group[group])
        for group, group_seqs in by_group.items():
            tokens = sum(len(s) for s in group_seqs)
            self.stat_update(f"tokens:{group}", value=tokens)
            self.stat_update(f"documents:{group}", value=len(group_seqs))
            self.stat_update("tokens", value=tokens)
            self.stat_update("documents_out", value=len(group_seqs))
            self.stat_update("bytes_out", value=tokens * np.dtype(tok.dtype).itemsize)

    @staticmethod
    def _write_twins(docs: pa.Table, groups: list[str], extra: dict[str, list], outs) -> None:
        """Each group's twin rows of the batch, in batch order, as one contiguous table."""
        columns = [docs.column(name).cast(TWIN_SCHEMA.field(name).type) for name in DOCUMENT_SCHEMA.names]
        columns += [pa.array(extra[name], TWIN_SCHEMA.field(name).type) for name in extra]
        table = pa.Table.from_arrays(columns, schema=TWIN_SCHEMA)
        del columns
        present = sorted(set(groups))
        if len(present) == 1:  # the batch as it is: no copy of its texts
            outs[present[0]].add_rows(table)
            return
        at = np.asarray(groups, dtype=object)
        for group in present:
            outs[group].add_rows(table.take(pa.array(np.flatnonzero(at == group))).combine_chunks())


class _Cache:
    """The count stage's token cache, read sequence by sequence from the file.

    A memory map of the whole file would count every page read in the task's resident memory,
    which would then grow with the task's input.
    """

    def __init__(self, prefix: str) -> None:
        self._index = MegatronShardReader(prefix)  # reads the .idx only
        self._dtype = np.dtype(self._index.dtype)
        fs, p = split_url(prefix + ".bin")
        self._fh = fs.open(p, "rb")

    def __getitem__(self, i: int) -> np.ndarray:
        self._fh.seek(int(self._index.pointers[i]))
        n = int(self._index.lengths[i])
        return np.frombuffer(self._fh.read(n * self._dtype.itemsize), dtype=self._dtype, count=n)

    def close(self) -> None:
        self._fh.close()


def _batch_rows(path: str, batch_rows: int) -> Iterator[int]:
    """The row counts of the batches `iter_batches(path, ..., batch_rows)` gives, from the ids only."""
    for batch in iter_batches(path, ["id"], batch_rows):
        yield batch.num_rows


def _runs(chars: np.ndarray) -> Iterator[tuple[int, int]]:
    """[a, b) row ranges of about `ENCODE_BATCH_CHARS` characters each (at least one row)."""
    a, n = 0, 0
    for i, c in enumerate(chars.tolist()):
        n += int(c or 0)
        if n >= ENCODE_BATCH_CHARS:
            yield a, i + 1
            a, n = i + 1, 0
    if a < len(chars):
        yield a, len(chars)


class _Copies:
    """The copies of one batch, as the Arrow rows of their documents plus their group codes and
    cache positions: picked from the input run by run, so only they are held."""

    def __init__(self) -> None:
        self._parts: list[pa.RecordBatch] = []
        self._groups: list[np.ndarray] = []
        self._seqs: list[np.ndarray] = []
        self.count = 0

    def pick(
        self, runs: Iterator[pa.RecordBatch], local: np.ndarray, groups: np.ndarray, seqs: np.ndarray
    ) -> None:
        """Keep rows `local` (sorted, counted from the first row of `runs`) of the runs."""
        base = 0
        for run in runs:
            lo, hi = np.searchsorted(local, [base, base + run.num_rows])
            if hi > lo:
                self._parts.append(run.take(pa.array(local[lo:hi] - base)))
            base += run.num_rows
        if local.size:
            self._groups.append(groups)
            self._seqs.append(seqs)
            self.count += int(local.size)

    def table(self) -> pa.Table:
        """The picked rows as one contiguous table (the parts are let go)."""
        table = pa.Table.from_batches(self._parts).combine_chunks()
        self._parts = []
        return table

    def groups(self) -> list[int]:
        return np.concatenate(self._groups).tolist()

    def seqs(self) -> np.ndarray:
        return np.concatenate(self._seqs)
