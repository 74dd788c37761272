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
from corpus.mix.documents import frozen_inputs, iter_batches
from corpus.mix.encode import encode_sequences
from corpus.mix.fim import FimSplit, draw_fim
from corpus.mix.steps import load_stage_tokenizer
from corpus.shards.megatron import MegatronShardReader, MegatronShardWriter

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


class _GroupShards:
    """The open shard of one group in one task, rolled over when it reaches the size limit."""

    def __init__(self, root: str, group: str, rank: int, dtype, max_tokens: int, parquet: bool) -> None:
        self.root, self.group, self.rank = root, group, rank
        self.dtype, self.max_tokens, self.parquet = dtype, max_tokens, parquet
        self.index = 0
        self.done: list[dict] = []
        self._writer: MegatronShardWriter | None = None
        self._twin = None
        self._twin_file = None

    @property
    def prefix(self) -> str:
        return f"{self.root}/{self.group}/{self.rank:05d}_{self.index:05d}"

    def _open(self) -> None:
        self._writer = MegatronShardWriter(self.prefix, self.dtype)
        if self.parquet:
            self._twin_ctx = atomic_open(self.prefix + ".parquet", "wb")
            self._twin_file = self._twin_ctx.__enter__()
            self._twin = pq.ParquetWriter(self._twin_file, TWIN_SCHEMA, compression="zstd")

    def add(self, seqs: list[list[int]], rows: list[dict]) -> None:
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
            if self._twin is not None:
                self._twin.write_table(pa.Table.from_pylist(rows[start:end], schema=TWIN_SCHEMA))
            start = end
            if self._writer.tokens >= self.max_tokens:
                self.close()

    def close(self) -> None:
        if self._writer is None:
            return
        if self._twin is not None:
            self._twin.close()
            self._twin_ctx.__exit__(None, None, None)
            self._twin = None
        self._writer.close()
        self.done.append(
            {"prefix": self.prefix, "documents": self._writer.documents, "tokens": self._writer.tokens}
        )
        self._writer = None
        self.index += 1

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        if self._twin is not None:
            with suppress(Exception):  # its bytes go away with the temporary file anyway
                self._twin.close()
            self._twin_ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            self._twin = None


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
                cache = MegatronShardReader(f"{self.cache_folder}/{stem}")
                copies = sel.column("copies").to_numpy()
                for epoch in range(int(copies.max())):
                    chosen = sel.filter(pc.greater(sel.column("copies"), epoch))
                    self._write_epoch(chosen, epoch, files, tok, outs, rank, cache)
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
        file_col = chosen.column("file").to_numpy()
        for fi in np.unique(file_col):
            mask = file_col == fi
            rows = chosen.column("row").to_numpy()[mask]
            groups = np.asarray(chosen.column("group").to_pylist(), dtype=object)[mask]
            seqs = chosen.column("seq").to_numpy()[mask]
            order = np.argsort(rows, kind="stable")
            rows, groups, seqs = rows[order], groups[order], seqs[order]
            pending: list[tuple[dict, str, int]] = []
            pos = 0  # index into rows
            base = 0  # row number of the batch's first row
            for batch in iter_batches(files[int(fi)], [*DOCUMENT_SCHEMA.names], self.shards.batch_documents):
                n = batch.num_rows
                stop = int(np.searchsorted(rows, base + n, side="left"))
                if stop > pos:
                    local = pa.array(rows[pos:stop] - base)
                    picked = batch.take(local).to_pylist()
                    pending.extend(zip(picked, groups[pos:stop], seqs[pos:stop].tolist(), strict=True))
                    pos = stop
                base += n
                if len(pending) >= self.shards.batch_documents:
                    self._flush(pending, epoch, tok, outs, rank, cache)
                    pending = []
            if pending:
                self._flush(pending, epoch, tok, outs, rank, cache)

    def _flush(self, pending: list[tuple[dict, str, int]], epoch: int, tok, outs, rank: int, cache) -> None:
        """Tokenize (or take from the cache) one batch of copies and hand them to the group shards.

        A copy's ids are in the count stage's cache when its FIM draw is the cached one: always in
        epoch 0, and in every epoch for groups without FIM. Only the other copies are tokenized.
        """

        with self.track_time(unit="batch"):
            splits: list[FimSplit | None] = []
            fresh: list[int] = []
            for i, (row, group, _) in enumerate(pending):
                fim = self.mix.groups[group].fim
                splits.append(draw_fim(row["text"], fim, self.seed, row["id"], epoch))
                if epoch > 0 and fim is not None and fim.rate > 0:
                    fresh.append(i)
            ids_of: list[np.ndarray | None] = [None] * len(pending)
            if fresh:
                encoded, _ = encode_sequences(
                    tok, [pending[i][0]["text"] for i in fresh], [splits[i] for i in fresh]
                )
                for i, ids in zip(fresh, encoded, strict=True):
                    ids_of[i] = ids
            by_group: dict[str, tuple[list[np.ndarray], list[dict]]] = {}
            for i, ((row, group, seq), split) in enumerate(zip(pending, splits, strict=True)):
                ids = ids_of[i]
                if ids is None:
                    ids = cache[seq]
                row = dict(row)
                row.update(
                    epoch=epoch,
                    fim=split.mode if split else None,
                    fim_a=split.a if split else None,
                    fim_b=split.b if split else None,
                    tokens=len(ids),
                )
                seqs, rows = by_group.setdefault(group, ([], []))
                seqs.append(ids)
                rows.append(row)
                n = len(ids)
                lang = row["language"] or "unknown"
                for key, value in (("group", group), ("source", row["source"]), ("language", lang)):
                    self._counts[key][value] += n
                    self._docs[key][value] += 1
                self._fim.setdefault(group, Counter())[split.mode if split else "none"] += 1
            for group in sorted(by_group):
                if group not in outs:
                    outs[group] = _GroupShards(
                        self.folder,
                        group,
                        rank,
                        tok.dtype,
                        self.shards.max_tokens_per_shard,
                        self.shards.parquet,
                    )
                outs[group].add(*by_group[group])
        for group, (seqs, _) in by_group.items():
            tokens = sum(len(s) for s in seqs)
            self.stat_update(f"tokens:{group}", value=tokens)
            self.stat_update(f"documents:{group}", value=len(seqs))
            self.stat_update("tokens", value=tokens)
            self.stat_update("documents_out", value=len(seqs))
            self.stat_update("bytes_out", value=tokens * np.dtype(tok.dtype).itemsize)
