"""The recall loop as parallel recipe stages, for pools too large for one task (`tasks: N`).

The single-task `RecallLoopStep` holds every page's text in one process. Here the loop is planned
up front for `iterations` rounds and only numbers and short strings ever meet in one task:

    recall-tokenizer     1 task     BPE trained on a seeded hash sample of the pool (unless the
                                    recipe names a tokenizer or splits on whitespace)
    recall-train-<i>     1 task per target: seed pages + the pages earlier iterations added, against
                                    a negative sample (the pages of smallest seeded hash of their
                                    id), streamed from the pool files
    recall-score-<i>     N tasks    each scores its own pool files with this iteration's models and
                                    writes `scores/<rank>.parquet`: file, row, id, domain, path, url,
                                    tokens, one score column per target (no text); iteration 1 also
                                    keeps the split lines (`lines/<rank>.parquet`), which later
                                    iterations score instead of reading and splitting pages again
    recall-rank-<i>      1 task     reads only those score files, orders pages by file then row,
                                    drops repeated URLs and runs the loop's own budget / domain /
                                    prefix logic (`loop.rank_iteration`), writing the same iteration
                                    files and `loop.json` as the single task; a target that stops
                                    gets `<target>/stop.json`, and later stages skip it
    recall               N tasks    each keeps (or relabels) its own files' documents from the
                                    per-task decision file the last rank stage wrote: no global join

The decision file of filter task r (`iterations/decisions/<r>.parquet`) lists the pages of task r's
files in reading order: id, repeated URL or not, group, and each target's score of its last
iteration. It carries groups rather than a score threshold per target because the budget rule
skips a page that would overflow the budget while smaller pages below it still fit, so a cutoff
alone would not give back the recalled set. Score and filter stages have the same N tasks, hence
the same files per task.

Each iteration's `train.json` (model, seed counts) and `<target>/stop.json` are the loop's state
between stages; the rank stage rebuilds "recalled before" and "already added" from the earlier
iterations' `scores.parquet` and `seed_additions.parquet`. Like the single task, the loop's files
live on a file system every task can reach (a local disk, or a shared one under Ray).

Every file is written under a temporary name and renamed, and every stage has datatrove
completion markers, so a killed build resumes stage by stage; the same recipe and seed give the
same bytes whatever the executor (fastText trains in a fresh process with one thread).

Differences from the single task, by design: the negative sample is a hash sample rather than a
permutation of the pool (the same pages whatever the file layout), may include a page whose URL
repeats another's (repeats are only found by the rank stage), and the BPE is trained on at most
`tokenizer_pages` pages.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from loguru import logger

from classifiers.recall.config import RecallConfig, TargetConfig
from classifiers.recall.loop import (
    Pool,
    TargetResult,
    assign_groups,
    build_pool,
    iteration_line,
    locate,
    rank_iteration,
)
from classifiers.recall.model import RecallModel
from classifiers.recall.seeds import read_texts_and_groups
from classifiers.recall.split import BpeSplitter, Splitter, WhitespaceSplitter, fasttext_lines, train_bpe
from classifiers.recall.steps import settle_page
from classifiers.recall.tuning import Choice, fit_recall_model
from corpus.commoncrawl.urls import url_key
from corpus.core.atomic import atomic_open, atomic_write_text, split_url
from corpus.core.errors import UserError
from corpus.core.parquet_io import data_files
from corpus.core.stage import Stage, StageStep, document_stage, stage_folder
from corpus.core.story import StoryStep

#: score files: one row per pool page of the task's files, in file-then-row order, then one
#: float32 column per target scored in that iteration
PAGE_SCHEMA = pa.schema(
    [
        ("file", pa.int32()),
        ("row", pa.int64()),
        ("id", pa.string()),
        ("domain", pa.string()),
        ("path", pa.string()),
        ("url", pa.string()),
        ("url_key", pa.binary()),
        ("tokens", pa.int64()),
    ]
)
SCORE_COLUMNS = PAGE_SCHEMA.names
#: the split pages of iteration 1, one fastText line per page, in the score file's row order
LINES_SCHEMA = pa.schema([("line", pa.string())])


def page_hash(seed: int, doc_id: str) -> int:
    """A page's place in the seeded sample order: the same whatever task or file layout reads it."""
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def score_column(target: str) -> str:
    return f"score:{target}"


def _iter_rows(path: str, columns: list[str], batch_rows: int = 2_000) -> Iterator[dict]:
    fs, p = split_url(path)
    with fs.open(p, "rb") as fh:
        for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=columns):
            yield from batch.to_pylist()


def _metadata(row: dict) -> dict:
    raw = row.get("metadata")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def pool_pages(folder: str) -> int:
    """Pages in a stage's data files, from the Parquet footers (an empty crawl gives an empty loop)."""
    total = 0
    for path in data_files(folder):
        fs, p = split_url(path)
        with fs.open(p, "rb") as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total


def _write_table(table: pa.Table, path: str) -> None:
    with atomic_open(path, "wb") as f:
        pq.write_table(table, f, compression="zstd")


class LoopFiles:
    """Where the staged loop keeps its state: the recall stage's `iterations/` folder."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def tokenizer(self) -> Path:
        return self.out / "tokenizer.json"

    def iteration(self, target: str, it: int) -> Path:
        return self.out / target / f"iter_{it}"

    def stop(self, target: str) -> Path:
        return self.out / target / "stop.json"

    def decisions(self, rank: int) -> Path:
        return self.out / "decisions" / f"{rank:05d}.parquet"

    def stopped_at(self, target: str) -> int | None:
        path = self.stop(target)
        return int(json.loads(path.read_text())["iteration"]) if path.is_file() else None

    def active(self, target: str, it: int) -> bool:
        """Whether `target` still runs at iteration `it` (a rerun of the stopping iteration does)."""
        stopped = self.stopped_at(target)
        return stopped is None or stopped >= it


def loop_splitter(cfg: RecallConfig, files: LoopFiles) -> Splitter:
    if cfg.split == "whitespace":
        return WhitespaceSplitter(cfg.max_chars)
    return BpeSplitter.load(cfg.tokenizer or files.tokenizer(), cfg.max_chars)


class _LoopStage(StageStep):
    """Shared configuration of the staged loop's steps."""

    type = "🔢 - RECALL"

    def __init__(self, config: RecallConfig | dict, out: str, pool: str, base: str = ".") -> None:
        super().__init__()
        self.config = config if isinstance(config, RecallConfig) else RecallConfig.model_validate(config)
        self.out = out
        self.pool = pool
        self.base = base

    @property
    def files(self) -> LoopFiles:
        return LoopFiles(self.out)

    def _resolve(self, p: str) -> str:
        return p if "://" in p or Path(p).is_absolute() else str(Path(self.base) / p)

    def idle(self) -> bool:
        """For the build: an iteration's stage after every target stopped is skipped unstarted."""
        it = getattr(self, "iteration", None)
        return it is not None and not any(self.files.active(t.name, it) for t in self.config.targets)


class RecallTokenizerStep(_LoopStage):
    """Train the loop's BPE on up to `tokenizer_pages` pool pages of smallest seeded hash."""

    name = "recall tokenizer"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        if pool_pages(self.pool) == 0:
            return
        limit = cfg.tokenizer_pages
        heap: list[tuple[int, int, int, str]] = []  # (-hash, -file, -row, head of text): a max-heap
        for fi, path in enumerate(data_files(self.pool)):
            for row, rec in enumerate(_iter_rows(path, ["id", "text"])):
                key = (-page_hash(cfg.seed, str(rec["id"])), -fi, -row, rec["text"][: cfg.max_chars])
                if len(heap) < limit:
                    heapq.heappush(heap, key)
                elif key > heap[0]:
                    heapq.heapreplace(heap, key)
        texts = [text for _, _, _, text in sorted(heap, key=lambda k: (-k[1], -k[2]))]
        self.stat_update("tokenizer_pages", value=len(texts))
        splitter = train_bpe(texts, cfg.tokenizer_vocab, cfg.max_chars)
        target = self.files.tokenizer()
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(str(target), "w", encoding="utf-8") as f:
            f.write(splitter.tokenizer.to_str(pretty=True))
        return
        yield


class RecallTrainStep(_LoopStage):
    """Task `rank` trains target `rank`'s model of iteration `iteration`."""

    name = "recall train"

    def __init__(
        self, config: RecallConfig | dict, out: str, pool: str, iteration: int, base: str = "."
    ) -> None:
        super().__init__(config, out, pool, base)
        self.iteration = iteration

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:

        cfg, it, files = self.config, self.iteration, self.files
        if world_size != len(cfg.targets):
            raise UserError(f"recall train: runs one task per target ({len(cfg.targets)}, got {world_size})")
        target: TargetConfig = cfg.targets[rank]
        if not files.active(target.name, it) or pool_pages(self.pool) == 0:
            return
        splitter = loop_splitter(cfg, files)
        pos_texts, pos_groups = read_texts_and_groups(
            [self._resolve(p) for p in target.positives], target.text_key
        )
        positives = fasttext_lines(splitter, pos_texts)
        extra, extra_groups = [], []
        if target.negatives:
            neg_texts, extra_groups = read_texts_and_groups(
                [self._resolve(p) for p in target.negatives], target.text_key
            )
            extra = fasttext_lines(splitter, neg_texts)
        added: set[str] = set()
        for j in range(1, it):
            table = pq.read_table(files.iteration(target.name, j) / "seed_additions.parquet", columns=["id"])
            added.update(table.column("id").to_pylist())
        n_neg = max(1, math.ceil(cfg.negatives_per_positive * len(positives)) - len(extra))
        heap: list[tuple[int, int, int, str, str, str]] = []  # max-heap of the n_neg smallest hashes
        joined: list[tuple[int, int, str, str]] = []
        for fi, path in enumerate(data_files(self.pool)):
            for row, rec in enumerate(_iter_rows(path, ["id", "text", "metadata"])):
                doc_id, head = str(rec["id"]), rec["text"][: cfg.max_chars]
                domain = locate(cfg.unit, _metadata(rec))[0]
                if doc_id in added:
                    joined.append((fi, row, head, domain))
                key = (-page_hash(cfg.seed, doc_id), -fi, -row, doc_id, head, domain)
                if len(heap) < n_neg:
                    heapq.heappush(heap, key)
                elif key > heap[0]:
                    heapq.heapreplace(heap, key)
        sample = sorted(heap, key=lambda k: (-k[1], -k[2]))
        joined.sort(key=lambda k: (k[0], k[1]))
        pos_lines = positives + fasttext_lines(splitter, [k[2] for k in joined])
        kept = [k for k in sample if k[3] not in added]
        neg_lines = extra + fasttext_lines(splitter, [k[4] for k in kept])
        folder = files.iteration(target.name, it)
        params = cfg.fasttext.model_copy(update={"seed": cfg.fasttext.seed + it})
        model_path, choice = fit_recall_model(
            pos_lines,
            neg_lines,
            folder / "model",
            params,
            given=set(cfg.fasttext.model_fields_set),
            tuning=cfg.tuning,
            positive_groups=pos_groups + [k[3] for k in joined],
            negative_groups=extra_groups + [k[5] for k in kept],
            report=logger.info,
        )
        self.stat_update("seed_positives", value=len(pos_lines))
        self.stat_update("seed_negatives", value=len(neg_lines))
        atomic_write_text(
            str(folder / "train.json"),
            json.dumps(
                {
                    "model_path": str(model_path),
                    "seed_positives": len(pos_lines),
                    "seed_negatives": len(neg_lines),
                    "training": choice.as_dict(),
                },
                indent=2,
                sort_keys=True,
            ),
        )
        return
        yield


class RecallScoreStep(_LoopStage):
    """Task `rank` scores pool files rank, rank + N, ... with the iteration's models.

    Iteration 1 reads the pages, splits them and keeps the split lines in `lines/<rank>.parquet`
    beside its scores; later iterations score those lines and copy the page columns from
    iteration 1's score file, so a page is read and split once per loop, as in the single task
    (splitting costs more than scoring with two models).
    """

    name = "recall score"

    def __init__(
        self,
        config: RecallConfig | dict,
        out: str,
        pool: str,
        iteration: int,
        scores: str,
        first: str,
        base: str = ".",
        batch: int = 1024,
    ) -> None:
        super().__init__(config, out, pool, base)
        self.iteration = iteration
        self.scores = scores.rstrip("/")
        self.first = first.rstrip("/")
        self.batch = batch

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:

        cfg, it, files = self.config, self.iteration, self.files
        active = [t.name for t in cfg.targets if files.active(t.name, it)]
        if not active or pool_pages(self.pool) == 0:
            return
        models = {}
        for name in active:
            info = json.loads((files.iteration(name, it) / "train.json").read_text())
            models[name] = RecallModel(info["model_path"])
        scored: dict[str, list[float]] = {name: [] for name in models}

        def score(lines: list[str]) -> None:
            with self.track_time("batch"):
                for name, model in models.items():
                    scored[name].extend(float(x) for x in model.scores(lines))
            self.stat_update("documents_in", value=len(lines))

        name = f"{rank:05d}.parquet"
        if it == 1:
            pages = self._split_pages(rank, world_size, score)
        else:
            pages = pq.read_table(f"{self.first}/scores/{name}", columns=SCORE_COLUMNS)
            fs, p = split_url(f"{self.first}/lines/{name}")
            with fs.open(p, "rb") as fh:
                for batch in pq.ParquetFile(fh).iter_batches(batch_size=self.batch, columns=["line"]):
                    score(batch.column("line").to_pylist())
        for target, values in scored.items():
            pages = pages.append_column(score_column(target), pa.array(values, type=pa.float32()))
        _write_table(pages, f"{self.scores}/scores/{name}")
        return
        yield

    def _split_pages(self, rank: int, world_size: int, score) -> pa.Table:
        """Read and split the task's pages once; write their lines; return their page columns."""

        cfg = self.config
        splitter = loop_splitter(cfg, self.files)
        cols: dict[str, list] = {c: [] for c in SCORE_COLUMNS}
        batch: list[tuple[int, int, dict]] = []
        path = f"{self.scores}/lines/{rank:05d}.parquet"
        with atomic_open(path, "wb") as f, pq.ParquetWriter(f, LINES_SCHEMA, compression="zstd") as writer:

            def flush() -> None:
                metas = [_metadata(rec) for _, _, rec in batch]
                ids = [str(rec["id"]) for _, _, rec in batch]
                pool = build_pool(ids, [rec["text"] for _, _, rec in batch], metas, cfg.unit, splitter)
                writer.write_table(pa.table({"line": pool.lines}, schema=LINES_SCHEMA))
                score(pool.lines)
                for j, (fi, row, _) in enumerate(batch):
                    cols["file"].append(fi)
                    cols["row"].append(row)
                    cols["id"].append(pool.ids[j])
                    cols["domain"].append(pool.domains[j])
                    cols["path"].append(pool.paths[j])
                    cols["url"].append(pool.urls[j])
                    cols["url_key"].append(_url_key(cfg.unit, metas[j], pool.ids[j]))
                    cols["tokens"].append(int(pool.tokens[j]))
                batch.clear()

            for fi, src in list(enumerate(data_files(self.pool)))[rank::world_size]:
                for row, rec in enumerate(_iter_rows(src, ["id", "text", "metadata"])):
                    batch.append((fi, row, rec))
                    if len(batch) >= self.batch:
                        flush()
            if batch:
                flush()
        return pa.table(cols, schema=PAGE_SCHEMA)


def _url_key(unit: str, metadata: dict, doc_id: str) -> bytes | None:
    if unit != "web":
        return None

    return url_key(str(metadata.get("url") or doc_id))


class RecallRankStep(_LoopStage):
    """One task: the loop's decisions for every active target from the score files alone."""

    name = "recall rank"

    def __init__(
        self, config: RecallConfig | dict, out: str, pool: str, iteration: int, scores: str, base: str = "."
    ) -> None:
        super().__init__(config, out, pool, base)
        self.iteration = iteration
        self.scores = scores.rstrip("/")

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:

        if world_size != 1:
            raise UserError(
                f"recall rank: ranks the whole pool at once, so it runs as 1 task (got {world_size})"
            )
        cfg, it, files = self.config, self.iteration, self.files
        active = [t for t in cfg.targets if files.active(t.name, it)]
        if not active or pool_pages(self.pool) == 0:
            return
        fs, root = split_url(f"{self.scores}/scores")
        parts = sorted(fs.glob(f"{root}/*.parquet"))
        tables = [pq.read_table(p) for p in parts if not p.rsplit("/", 1)[-1].startswith(".")]
        table = pa.concat_tables(tables) if tables else None
        if table is None or table.num_rows == 0:
            raise UserError(f"recall rank: no scored pages in {self.scores}/scores")
        order = np.lexsort((table.column("row").to_numpy(), table.column("file").to_numpy()))
        table = table.take(pa.array(order))
        keep = np.ones(table.num_rows, dtype=bool)
        if cfg.unit == "web":
            seen: set[bytes] = set()
            for i, key in enumerate(table.column("url_key").to_pylist()):
                if key in seen:
                    keep[i] = False
                seen.add(key)
        kept = table.filter(pa.array(keep))
        pool = Pool(
            kept.column("id").to_pylist(),
            kept.column("domain").to_pylist(),
            kept.column("path").to_pylist(),
            [],
            kept.column("tokens").to_numpy().astype(np.int64),
            kept.column("url").to_pylist(),
        )
        total = int(pool.tokens.sum())
        for target in active:
            ever = np.zeros(len(pool), dtype=bool)
            added = np.zeros(len(pool), dtype=bool)
            for j in range(1, it):
                prev = files.iteration(target.name, j)
                before = pq.read_table(prev / "scores.parquet", columns=["recalled"]).column("recalled")
                ever |= np.asarray(before.to_pylist(), dtype=bool)
                ids = set(
                    pq.read_table(prev / "seed_additions.parquet", columns=["id"]).column("id").to_pylist()
                )
                added |= np.fromiter((x in ids for x in pool.ids), dtype=bool, count=len(pool))
            scores = kept.column(score_column(target.name)).to_numpy().astype(np.float32)
            budget = target.budget_tokens or max(1, int(target.budget_share * total))
            folder = files.iteration(target.name, it)
            trained = json.loads((folder / "train.json").read_text())
            info, _, _ = rank_iteration(
                cfg,
                target,
                pool,
                scores,
                ever,
                added,
                it,
                budget,
                folder,
                model_path=trained["model_path"],
                seed_positives=trained["seed_positives"],
                seed_negatives=trained["seed_negatives"],
                choice=Choice.from_dict(trained["training"]) if "training" in trained else None,
            )
            self.stat_update(f"recalled:{target.name}", value=info.recalled)
            if info.stop_reason:
                atomic_write_text(
                    str(files.stop(target.name)),
                    json.dumps({"iteration": it, "reason": info.stop_reason}, indent=2, sort_keys=True),
                )
            logger.info(iteration_line(info))
        self._write_loop_json(pool)
        if all(files.stopped_at(t.name) is not None for t in cfg.targets):
            self._write_decisions(table, keep, pool, cfg.tasks or 1)
        return
        yield

    def _write_loop_json(self, pool) -> None:
        cfg, files = self.config, self.files
        targets = {}
        for t in cfg.targets:
            its = []
            for j in range(1, self.iteration + 1):
                summary = files.iteration(t.name, j) / "summary.json"
                if summary.is_file() and (files.stopped_at(t.name) or self.iteration) >= j:
                    its.append(json.loads(summary.read_text()))
            targets[t.name] = {"iterations": its, "recalled": its[-1]["recalled"] if its else 0}
        data = {
            "unit": cfg.unit,
            "split": "whitespace" if cfg.split == "whitespace" else "bpe",
            "pool_pages": len(pool),
            "pool_tokens": int(pool.tokens.sum()),
            "parallel_tasks": cfg.tasks,
            "targets": targets,
        }
        atomic_write_text(str(files.out / "loop.json"), json.dumps(data, indent=2, sort_keys=True))

    def _write_decisions(self, table: pa.Table, keep: np.ndarray, pool, n_ranks: int) -> None:
        """Per score file (= filter task): each page's group and final scores, in the task's order."""

        cfg, files = self.config, self.files
        results = {}
        for t in cfg.targets:
            last = files.iteration(t.name, files.stopped_at(t.name) or self.iteration) / "scores.parquet"
            final = pq.read_table(last, columns=["id", "score", "recalled"])
            if final.column("id").to_pylist() != pool.ids:
                raise UserError(f"recall rank: {last} does not list the same pages as this iteration")
            results[t.name] = TargetResult(
                t.name,
                final.column("score").to_numpy().astype(np.float32),
                np.asarray(final.column("recalled").to_pylist(), dtype=bool),
            )
        groups, scores = assign_groups(results, len(pool))
        n = table.num_rows
        group_all: list[str | None] = [None] * n
        score_all = {name: np.zeros(n, dtype=np.float32) for name in scores}
        kept_pos = np.flatnonzero(keep)
        for k, i in enumerate(kept_pos):
            group_all[i] = groups[k]
        for name, s in scores.items():
            score_all[name][kept_pos] = s
        # the filter task of rank r reads files r, r + N, ...: split the (file, row)-ordered pages so
        files_col = table.column("file").to_numpy()
        ids = table.column("id").to_pylist()
        for r in range(n_ranks):
            rows = np.flatnonzero(files_col % n_ranks == r)
            columns = {
                "id": [ids[i] for i in rows],
                "duplicate": [not bool(keep[i]) for i in rows],
                "group": [group_all[i] for i in rows],
            } | {score_column(name): score_all[name][rows] for name in score_all}
            schema = pa.schema(
                [("id", pa.string()), ("duplicate", pa.bool_()), ("group", pa.string())]
                + [(score_column(name), pa.float32()) for name in score_all]
            )
            path = files.decisions(r)
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_table(pa.table(columns, schema=schema), str(path))


class RecallFilterStep(StoryStep):
    """Keep (or, with `keep_unrecalled`, relabel) the task's own documents from its decision file."""

    name = "recall filter"

    def __init__(self, out: str, keep_unrecalled: bool = False) -> None:
        super().__init__()
        self.out = out
        self.keep_unrecalled = keep_unrecalled

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        path = LoopFiles(self.out).decisions(rank)
        ids: list[str] = []
        i = 0
        for doc in data or ():
            if i == 0:  # an empty pool has no decisions, and nothing to filter
                if not path.is_file():
                    raise UserError(f"recall filter: {path} is missing (the last rank stage did not finish)")
                table = pq.read_table(path)
                names = [c for c in table.column_names if c.startswith("score:")]
                ids = table.column("id").to_pylist()
                dup = table.column("duplicate").to_pylist()
                groups = table.column("group").to_pylist()
                scores = {c.split(":", 1)[1]: table.column(c).to_pylist() for c in names}
            self.stat_update("documents_in")
            if i >= len(ids) or ids[i] != str(doc.id):
                raise UserError(f"recall filter: {path} does not match the documents of task {rank}")
            if dup[i]:
                self.drop(doc.id, "duplicate_url", str(doc.metadata.get("url", "")))
                i += 1
                continue
            page_scores = {name: round(float(s[i]), 6) for name, s in scores.items()}
            group = groups[i]
            i += 1
            if settle_page(self, doc, page_scores, group, self.keep_unrecalled):
                yield doc
        if i == 0 and path.is_file():
            ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
        if i != len(ids):
            raise UserError(f"recall filter: {path} lists {len(ids)} pages, task {rank} read {i}")


def staged_recall_stages(
    cfg: RecallConfig, source: str, output: str, pool: str, base: str = ".", keep_unrecalled: bool = False
) -> list:
    """The planned stages of one source's loop (see the module note); the last one is `recall`."""
    tasks = cfg.tasks or 1
    final = stage_folder(output, source, "recall")
    out = f"{final}/iterations"
    names = ", ".join(t.name for t in cfg.targets)
    stages = []
    if cfg.split == "bpe" and not cfg.tokenizer:
        stages.append(
            Stage(
                source,
                "recall-tokenizer",
                output,
                [RecallTokenizerStep(cfg, out, pool, base)],
                1,
                f"BPE for the recall split, from up to {cfg.tokenizer_pages} pool pages",
            )
        )
    for it in range(1, cfg.iterations + 1):
        scores = stage_folder(output, source, f"recall-score-{it}")
        first = stage_folder(output, source, "recall-score-1")
        stages += [
            Stage(
                source,
                f"recall-train-{it}",
                output,
                [RecallTrainStep(cfg, out, pool, it, base)],
                len(cfg.targets),
                f"iteration {it}: fastText per target ({names}) on seeds + additions vs hash-sampled pages",
            ),
            Stage(
                source,
                f"recall-score-{it}",
                output,
                [RecallScoreStep(cfg, out, pool, it, scores, first, base)],
                tasks,
                f"iteration {it}: score every pool page ({'read and split' if it == 1 else 'its split lines'}); ids and numbers out",
            ),
            Stage(
                source,
                f"recall-rank-{it}",
                output,
                [RecallRankStep(cfg, out, pool, it, scores, base)],
                1,
                f"iteration {it}: budget, domain table, prefixes, seed additions (or nothing once converged)",
            ),
        ]
    stages.append(
        document_stage(
            source,
            "recall",
            output,
            pool,
            [RecallFilterStep(out, keep_unrecalled)],
            tasks,
            f"keep the pages recalled as {names} ({tasks} tasks, from the last rank stage's decisions)",
        )
    )
    return stages
