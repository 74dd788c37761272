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
        """Leave the parallel-mode keys out while they hold their defaults, so recipes that do not
        use them keep the same resolved recipe, fingerprint and manifest bytes as before."""
        data = handler(self)
        if isinstance(data, dict):
            if data.get("tasks") is None:
                data.pop("tasks", None)
            if data.get("tokenizer_pages") == 100_000:
                data.pop("tokenizer_pages", None)
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
