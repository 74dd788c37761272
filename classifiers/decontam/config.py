"""The recipe section `decontam:`: which benchmark sets, and what counts as a shared n-gram."""

from __future__ import annotations

from pydantic import Field

from corpus.core.strict import StrictModel

BUILTIN = ("humaneval",)


class BenchmarkSet(StrictModel):
    name: str
    paths: list[str] = Field(min_length=1, description="JSONL(.gz/.zst) or Parquet files")
    fields: list[str] = Field(min_length=1, description="record keys holding test text, joined per record")
    id_key: str | None = None


class DecontamConfig(StrictModel):
    """The recipe's `decontam:` section."""

    builtin: list[str] = Field(default_factory=lambda: ["humaneval"], description=f"any of {list(BUILTIN)}")
    sets: list[BenchmarkSet] = Field(default_factory=list)
    n: int = Field(10, ge=2, description="shared n-gram length that marks contamination (the paper: 10)")
    short_min: int = Field(3, ge=1, description="test strings of short_min..n-1 tokens are matched exactly")
    min_distinct: int = Field(
        4,
        ge=1,
        description="benchmark n-grams and short strings with fewer distinct informative tokens (2+ characters,"
        " a letter, not a number or number word) are ignored",
    )
    min_short_chars: int = Field(20, ge=0, description="shorter exact-match strings are too generic to use")
    humaneval_fields: list[str] = Field(default_factory=lambda: ["prompt", "canonical_solution"])
    warn_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description="the build warns when decontamination removes more than this share of the bytes",
    )
