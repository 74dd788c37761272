"""The recipe section of the recall loop (`recall:`), strict like the rest of the recipe."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from corpus.core.strict import StrictModel


class FastTextParams(StrictModel):
    """fastText's training settings (the paper's by default)."""

    dim: int = Field(256, ge=1)
    lr: float = Field(0.1, gt=0)
    word_ngrams: int = Field(3, ge=1)
    min_count: int = Field(3, ge=1)
    epoch: int = Field(3, ge=1)
    bucket: int = Field(200_000, ge=0)
    quantize: bool = False
    quantize_cutoff: int = Field(
        100_000, ge=0, description="keep the rows of the largest norm (0 = all; all is ~4x slower)"
    )
    quantize_dsub: int = Field(2, ge=1, description="product-quantisation sub-vector size")
    seed: int = 0
    threads: int = Field(1, ge=1, description="more than 1 makes training non-deterministic")


#: positives from which the paper's settings are used as given (no grid; see `TuningConfig`)
PAPER_FROM_POSITIVES = 50_000


class TuningConfig(StrictModel):
    """How recall training adapts its fastText settings to the seed set (`classifiers.recall.tuning`).

    The paper's settings (epoch 3, lr 0.1) were made for ~500k seed pages; on a user's first few
    hundred they barely move the model off its initial state. Below `paper_from` positives, part
    of the seeds and negatives is held out (grouped by host or package, so near-identical pages
    stay on one side), every pair of `epochs` x `lrs` is trained on the rest and scored by average
    precision on the held-out part, the best pair is retrained on everything, and the decision
    threshold is the F1-max cut on the held-out scores. At or above `paper_from` the paper's
    settings are used as given, one model is trained on all but a held-out sample of at most
    `max_heldout` pages a side, and that sample only measures AP and places the threshold.

    Why 50,000: the paper's settings were chosen for ~500k seed pages, where three epochs are
    already millions of updates per class; at a tenth of that they are still in that regime, while
    a user's first seed sets (tens to thousands of pages) are orders of magnitude below it. The
    grid costs about (176 + 3 x chosen epochs) / 3, i.e. 60-110 times one training at the paper's
    settings: minutes for a few hundred pages (benchmarks/bench_recall_heldout.py), hours for tens
    of thousands on one core. Set `fasttext.epoch` and `fasttext.lr` (or a lower `paper_from`) to
    skip it on mid-sized seed sets. A setting the user gives (`fasttext.epoch`,
    `fasttext.lr`, or `--epoch` / `--lr`) is used exactly and only the others are tuned.
    """

    enabled: bool = True
    holdout_share: float = Field(0.2, gt=0, lt=1, description="share of seeds and negatives held out")
    epochs: list[int] = Field(default_factory=lambda: [3, 10, 25, 50], min_length=1)
    lrs: list[float] = Field(default_factory=lambda: [0.1, 0.5], min_length=1)
    paper_from: int = Field(
        PAPER_FROM_POSITIVES, ge=1, description="positives from which the paper's settings are used as given"
    )
    max_heldout: int = Field(5_000, ge=2, description="held-out pages per side at or above paper_from")
    calibration_folds: int = Field(
        3, ge=1, description="held-out folds the threshold is placed on (1: the grid's fold only)"
    )
    min_heldout: int = Field(
        3, ge=1, description="fewer held-out pages than this on a side: no tuning, the settings as given"
    )

    @model_validator(mode="after")
    def _positive_grid(self) -> TuningConfig:
        if any(e < 1 for e in self.epochs) or any(lr <= 0 for lr in self.lrs):
            raise ValueError("epochs must be >= 1 and lrs > 0")
        return self


class TargetConfig(StrictModel):
    """One recall target (the paper ran code and math separately)."""

    name: str = Field(description="target name, e.g. code or math; also the mix group of its pages")
    positives: list[str] = Field(min_length=1, description="seed pages: JSONL(.gz/.zst) or Parquet with text")
    negatives: list[str] = Field(default_factory=list, description="extra negative pages (files)")
    text_key: str = "text"
    budget_tokens: int | None = Field(None, ge=1, description="recall at most this many tokens")
    budget_share: float = Field(
        0.25, gt=0, le=1, description="budget as a share of the pool's tokens when budget_tokens is unset"
    )
    min_score: float = Field(0.5, ge=0, le=1, description="never recall a page scored below this")


class DiscoveryConfig(StrictModel):
    """How domains and URL path prefixes are promoted (the paper annotated prefixes by hand).

    A domain is a target domain when more than `domain_threshold` of its pages were recalled and it
    has at least `min_domain_pages` pages. Inside it, a directory prefix (`/questions/`,
    `/docs/api/`) of depth 1..`max_prefix_depth` is discovered when it holds at least
    `min_prefix_pages` pages and at least `min_prefix_share` of them were recalled; a prefix below
    an already discovered one adds nothing and is not listed. The not-recalled pages under the
    discovered prefixes join the seed, at most `max_seed_additions` per iteration (highest score
    first), and leave the negatives.
    """

    domain_threshold: float = Field(0.10, ge=0, le=1)
    min_domain_pages: int = Field(5, ge=1)
    max_prefix_depth: int = Field(2, ge=1)
    min_prefix_pages: int = Field(3, ge=1)
    min_prefix_share: float = Field(0.5, ge=0, le=1)
    max_seed_additions: int | None = Field(None, ge=0)


class RecallConfig(StrictModel):
    """The iterative recall loop over one source's documents (web pages or GitHub files)."""

    unit: Literal["web", "github"] = Field(
        "web",
        description="web: domain = host, prefix = URL path; github: domain = repository, prefix = file path",
    )
    split: Literal["bpe", "whitespace"] = "bpe"
    tokenizer: str | None = Field(None, description="tokenizer.json for the BPE split; None = train one")
    tokenizer_vocab: int = Field(32_000, ge=256)
    max_chars: int = Field(20_000, ge=100, description="characters of a page that the classifier reads")
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    negatives_per_positive: float = Field(
        1.0, gt=0, description="random pool pages drawn as negatives per seed page (the paper: 1:1)"
    )
    iterations: int = Field(3, ge=1, description="the paper: 3 (Coder-V2 web), 4 (Math), 2 (GitHub)")
    min_new_share: float = Field(
        0.02, ge=0, le=1, description="stop when an iteration's recall is less than this share new"
    )
    seed: int = 0
    targets: list[TargetConfig] = Field(min_length=1)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    tasks: int | None = Field(
        None,
        ge=1,
        description="run the loop as parallel stages (train, score in this many tasks, rank, filter); "
        "unset = one task that holds the whole pool",
    )
    tokenizer_pages: int = Field(
        100_000,
        ge=1,
        description="parallel stages: the BPE is trained on at most this many pool pages (a seeded hash sample)",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_parallel(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave the parallel-mode and tuning keys out while they hold their defaults, so recipes
        that do not use them keep the same resolved recipe, fingerprint and manifest bytes as before."""
        data = handler(self)
        if isinstance(data, dict):
            if data.get("tasks") is None:
                data.pop("tasks", None)
            if data.get("tokenizer_pages") == 100_000:
                data.pop("tokenizer_pages", None)
            if data.get("tuning") == TuningConfig().model_dump():
                data.pop("tuning", None)
        return data

    @model_validator(mode="after")
    def _unique_targets(self) -> RecallConfig:
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"targets: names must be unique (got {names})")
        return self


class RecallSection(StrictModel):
    """The recipe's `recall:` section: one loop per source."""

    commoncrawl: RecallConfig | None = None
    github: RecallConfig | None = None
