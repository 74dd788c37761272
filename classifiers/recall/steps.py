"""The recall loop and the recall scorer as datatrove steps.

`RecallLoopStep` needs every page at once (ranking by a global token budget, domain shares), so it
runs as a single task: it gathers the documents that flow into it, dedups them by normalised URL
across all input files, runs `RecallLoop`, and yields the recalled documents with their group set
to the target that recalled them and every target's score in `metadata.scores`. Pages that are
not recalled are recorded as `not_recalled` drops (with their best score) unless `keep_unrecalled`
is set, as for GitHub, where the loop only re-labels code-related text and drops nothing. A
recipe section with `tasks: N` uses the parallel stages of `classifiers.recall.staged` instead.

`RecallScorer` is the embarrassingly parallel half: it scores documents with trained models in any
number of tasks and writes Dolma-style attribute files (`attributes/<name>/<rank>.parquet`, id and
one score column per model) beside the stage's data, without rewriting the documents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from tqdm import tqdm

from classifiers.recall.config import RecallConfig
from classifiers.recall.loop import RecallLoop, assign_groups, build_pool
from classifiers.recall.model import RecallModel
from classifiers.recall.split import (
    BpeSplitter,
    Splitter,
    WhitespaceSplitter,
    fasttext_lines,
    make_splitter,
    train_bpe,
)
from corpus.commoncrawl.urls import url_key
from corpus.core.atomic import atomic_open
from corpus.core.errors import UserError
from corpus.core.story import StoryStep


def make_loop_splitter(cfg: RecallConfig, texts: list[str], out: Path) -> Splitter:
    """The recipe's splitter: a loaded tokenizer, a BPE trained on the pool, or whitespace."""
    if cfg.split == "whitespace":
        return WhitespaceSplitter(cfg.max_chars)
    if cfg.tokenizer:
        return BpeSplitter.load(cfg.tokenizer, cfg.max_chars)
    splitter = train_bpe(texts, cfg.tokenizer_vocab, cfg.max_chars)
    out.mkdir(parents=True, exist_ok=True)
    splitter.save(out / "tokenizer.json")
    return splitter


class RecallLoopStep(StoryStep):
    name = "recall loop"

    def __init__(
        self, config: RecallConfig | dict, out: str, base: str = ".", keep_unrecalled: bool = False
    ) -> None:
        super().__init__()
        self.config = config if isinstance(config, RecallConfig) else RecallConfig.model_validate(config)
        self.out = out
        self.base = base
        self.keep_unrecalled = keep_unrecalled

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:

        if world_size != 1:
            raise UserError(
                f"recall loop: ranks the whole pool at once, so it runs as 1 task (got {world_size})"
            )
        cfg = self.config
        docs: list[Document] = []
        seen: set[bytes] = set()
        for doc in data or ():
            self.stat_update("documents_in")
            if cfg.unit == "web":
                key = url_key(str(doc.metadata.get("url") or doc.id))
                if key in seen:
                    self.drop(doc.id, "duplicate_url", str(doc.metadata.get("url", "")))
                    continue
                seen.add(key)
            docs.append(doc)
        if not docs:
            return
        out = Path(self.out)
        start = time.perf_counter()
        splitter = make_loop_splitter(cfg, [d.text for d in docs], out)
        # no progress bar of its own: the build's progress display owns the terminal, and a bar
        # drawn from inside a task outlives it there as a stale line
        pool = build_pool(
            [d.id for d in docs], [d.text for d in docs], [d.metadata for d in docs], cfg.unit, splitter
        )
        loop = RecallLoop(cfg, splitter, out, base=self.base, report=lambda msg: tqdm.write(msg))
        results = loop.run(pool)
        groups, scores = assign_groups(results, len(pool))
        for i, doc in enumerate(docs):
            page_scores = {name: round(float(s[i]), 6) for name, s in scores.items()}
            if settle_page(self, doc, page_scores, groups[i], self.keep_unrecalled):
                yield doc
        self.stat_update("loop_seconds", value=round(time.perf_counter() - start))


def settle_page(
    step: StoryStep, doc: Document, page_scores: dict[str, float], group: str | None, keep_unrecalled: bool
) -> bool:
    """Write the loop's verdict into a page: its scores, and its group when a target recalled it.

    Returns whether the page goes on; an unrecalled page that is not kept is recorded as a drop
    with its best score, so the one-task loop and the staged filter leave the same records.
    """
    prior = doc.metadata.get("scores")
    doc.metadata["scores"] = {**(prior if isinstance(prior, dict) else {}), **page_scores}
    if group is not None:
        doc.metadata["group"] = group
        step.stat_update(f"recalled:{group}")
        return True
    if keep_unrecalled:
        return True
    best = max(page_scores.items(), key=lambda kv: kv[1])
    step.drop(doc.id, "not_recalled", f"best score {best[0]}={best[1]:.4f}")
    return False


class RecallScorer(StoryStep):
    """Score documents with trained recall models; write `attributes/<name>/<rank>.parquet`."""

    name = "recall scorer"

    def __init__(
        self,
        models: dict[str, str],
        attributes_folder: str | None = None,
        split: str = "bpe",
        tokenizer: str | None = None,
        max_chars: int = 20_000,
        batch: int = 1024,
    ) -> None:
        super().__init__()
        if split == "bpe" and not tokenizer:
            raise UserError("recall scorer: split bpe needs the tokenizer the models were trained with")
        self.models = dict(models)
        self.attributes_folder = attributes_folder
        self.split = split
        self.tokenizer = tokenizer
        self.max_chars = max_chars
        self.batch = batch

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:

        splitter = make_splitter(self.split, self.tokenizer, self.max_chars)
        models = {name: RecallModel(path) for name, path in self.models.items()}
        columns: dict[str, list] = {"id": [], **{name: [] for name in models}}
        batch: list[Document] = []

        def flush() -> Iterator[Document]:
            lines = fasttext_lines(splitter, [d.text for d in batch])
            per_model = {name: m.scores(lines) for name, m in models.items()}
            for j, doc in enumerate(batch):
                scores = {name: round(float(s[j]), 6) for name, s in per_model.items()}
                prior = doc.metadata.get("scores")
                doc.metadata["scores"] = {**(prior if isinstance(prior, dict) else {}), **scores}
                columns["id"].append(str(doc.id))
                for name, value in scores.items():
                    columns[name].append(value)
                self.stat_update("scored")
                yield doc
            batch.clear()

        for doc in data or ():
            batch.append(doc)
            if len(batch) >= self.batch:
                with self.track_time("batch"):
                    yield from flush()
        if batch:
            yield from flush()
        if self.attributes_folder:
            schema = pa.schema([("id", pa.string())] + [(name, pa.float32()) for name in models])
            table = pa.table(columns, schema=schema)
            with atomic_open(f"{self.attributes_folder.rstrip('/')}/{rank:05d}.parquet", "wb") as f:
                pq.write_table(table, f, compression="zstd")


def score_jsonl(model_paths: dict[str, str], splitter: Splitter, src, dst, text_key: str = "text") -> int:
    """`coderforge recall score`: the same records, each with a `scores` object added."""

    models = {name: RecallModel(path) for name, path in model_paths.items()}
    n = 0
    records: list[dict] = []

    def flush() -> None:
        lines = fasttext_lines(splitter, [r[text_key] for r in records])
        per_model = {name: m.scores(lines) for name, m in models.items()}
        for j, record in enumerate(records):
            record["scores"] = {name: round(float(s[j]), 6) for name, s in per_model.items()}
            dst.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        records.clear()

    for line_no, line in enumerate(src, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"line {line_no}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get(text_key), str):
            raise UserError(f"line {line_no}: expected an object with a string {text_key!r}")
        records.append(record)
        n += 1
        if len(records) >= 1024:
            flush()
    if records:
        flush()
    return n
