"""Decontamination as a datatrove step, and the stages that apply it to every source.

Each task builds the index itself (benchmarks are small: HumanEval is ~25k 10-grams, MATH and
GSM8K together well under a million), so no index file has to be shipped to Ray workers. Every
dropped document is recorded with the benchmark, the item and the matched n-gram.
"""

from __future__ import annotations

from collections.abc import Iterator

from datatrove.data import Document, DocumentsPipeline

from classifiers.decontam.benchmarks import DecontamConfig, all_items
from classifiers.decontam.ngrams import NgramIndex
from corpus.core.story import StoryStep


def build_index(cfg: DecontamConfig) -> NgramIndex:
    index = NgramIndex(cfg.n, cfg.short_min, cfg.min_distinct, cfg.min_short_chars)
    index.add(all_items(cfg))
    return index


class Decontaminator(StoryStep):
    name = "decontaminate"

    def __init__(self, config: DecontamConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = DecontamConfig()
        self.config = config if isinstance(config, DecontamConfig) else DecontamConfig.model_validate(config)

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        index = build_index(self.config)
        self.stat_update("benchmark_ngrams", value=len(index))
        for doc in data or ():
            self.stat_update("documents_in")
            with self.track_time():
                match = index.find(doc.text)
            if match is None:
                yield doc
                continue
            self.stat_update(f"contaminated:{match.benchmark}")
            self.drop(
                doc.id, "contamination", f"{match.benchmark} {match.item_id} {match.rule}: {match.ngram}"
            )
