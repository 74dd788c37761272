"""The `dedup` section of a recipe.

Defaults follow the public reference points (REFERENCE.md §1): word 5-grams, Jaccard threshold
0.7, 256 permutations, BigCode's keep order (most stars, then newest, then lowest id). Bands and
rows are derived from the threshold and the permutation budget unless both are given.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from corpus.core.strict import StrictModel

KeyName = Literal["most_stars", "fewest_stars", "newest", "oldest", "lowest_id", "longest", "shortest"]

#: languages whose GitHub documents are repository-level samples (DeepSeek-Coder §2.2)
REPOSITORY_LEVEL_LANGUAGES = ("Python", "Java", "C#", "C", "C++")


class DedupConfig(StrictModel):
    exact: bool = Field(True, description="drop documents whose whitespace-normalised text is identical")
    near: bool = Field(True, description="MinHash near-duplicate detection")
    threshold: float = Field(0.7, gt=0, lt=1, description="Jaccard similarity of word n-gram sets")
    num_perm: int = Field(256, ge=8, le=4096, description="MinHash permutations (signature length)")
    ngram: int = Field(5, ge=1, le=32, description="words per shingle")
    scheme: Literal["oph", "classic"] = Field(
        "classic",
        description="classic: num_perm independent hashes (rensa kernel); oph: one-permutation hashing "
        "with densification (numpy only)",
    )
    bands: int | None = Field(None, ge=1, description="LSH bands; derived from threshold when unset")
    rows: int | None = Field(None, ge=1, description="LSH rows per band; derived when unset")
    verify: Literal["exact", "estimated", "none"] = Field(
        "exact",
        description="check LSH candidates: exact Jaccard on shingle sets, the signature estimate, or not at all",
    )
    keep: list[KeyName] = Field(
        default_factory=lambda: ["most_stars", "newest", "lowest_id"],
        description="which copy of a cluster survives: keys tried in order",
    )
    per_language: bool = Field(True, description="compare documents only within one language")
    repository_languages: list[str] = Field(default_factory=lambda: list(REPOSITORY_LEVEL_LANGUAGES))
    stars_key: str = Field("stars", description="metadata key holding repository stars")
    created_key: str = Field("created_at", description="metadata key holding the creation date")
    key_shards: int = Field(1, ge=1, le=4096, description="splits of each band's key range across tasks")
    max_representatives: int = Field(
        16, ge=1, description="distinct sub-clusters compared against inside one LSH bucket"
    )
    batch_documents: int = Field(512, ge=1, description="most documents hashed together in one numpy batch")
    batch_bytes: int = Field(
        256_000, ge=1, description="text bytes per numpy batch (small batches stay in CPU cache: faster)"
    )
    cluster_shards: int = Field(
        1,
        ge=1,
        le=4096,
        description="clustering tasks; 1 holds the whole duplicate graph in one process. Above 1, exact "
        "dedup (whose copies cross partitions) runs as a first pass of its own whose tasks each take "
        "the content digests hashed to them, then near dedup's tasks each take the partitions "
        "(level, language) hashed to them: a task holds at most its partitions' graphs. With "
        "cluster_rounds, the tasks of every component round, of the labels stage and of the "
        "keep-policy stage",
    )
    cluster_rounds: int = Field(
        0,
        ge=0,
        le=1000,
        description="0: each clustering task finds the components of its graph alone. Above 0: the "
        "components are found by at most this many rounds of large-star/small-star, each a stage of "
        "cluster_shards tasks in which a task holds only the edge ends of the documents hashed to it "
        "(a star centre holds its star); rounds stop when two in a row change nothing, and later ones "
        "are skipped. Then a labels stage sends every document and pair to the task its component's "
        "smallest document hashes to, and the keep-policy task holds only those components. No "
        "exact-first pass is needed. 32 rounds settle a chain of 10,000 documents",
    )
    seed: int = 1
    report_examples: int = Field(20, ge=0)
    together: bool = Field(
        True,
        description="one run over all sources (exact duplicates found across sources; output in "
        "OUTPUT/all/dedup/) instead of one run per source (OUTPUT/<source>/dedup/)",
    )
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="source -> name of the stage whose output is deduplicated (default: documents)",
    )

    @model_validator(mode="after")
    def _bands_rows(self) -> DedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they are derived from threshold)")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if not (self.exact or self.near):
            raise ValueError("enable exact, near, or both")
        return self

    @model_serializer(mode="wrap")
    def _omit_when_off(self, handler: SerializerFunctionWrapHandler) -> dict:
        """Leave `cluster_rounds` out while it is 0, so that recipes, reports and fingerprints from
        before the setting existed stay byte-identical (a finished build resumes, not restarts)."""
        data = handler(self)
        if isinstance(data, dict) and not self.cluster_rounds:
            data.pop("cluster_rounds", None)
        return data
