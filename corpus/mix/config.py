"""Recipe sections for the tokenizer, the mix plan, fill-in-the-middle and the shards.

Strict like every config section (unknown keys are errors), so a typo in a share or a FIM rate
never falls back to a default silently. The defaults are the paper's: 60% code, 10% math, 30%
natural language by tokens; PSM fill-in-the-middle at rate 0.5 on code only; a byte-level BPE with
BOS/EOS and FIM sentinels. A group's `match` says which documents it takes, so the same plan works
whatever sources a recipe enables.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from corpus.core.strict import StrictModel

#: Special tokens of the released DeepSeek-Coder tokenizer that the shards rely on.
DEEPSEEK_BOS = "<｜begin▁of▁sentence｜>"
DEEPSEEK_EOS = "<｜end▁of▁sentence｜>"
DEEPSEEK_FIM_HOLE = "<｜fim▁hole｜>"
DEEPSEEK_FIM_BEGIN = "<｜fim▁begin｜>"
DEEPSEEK_FIM_END = "<｜fim▁end｜>"


class SpecialTokens(StrictModel):
    """Names of the special tokens the shards need; a loaded tokenizer must contain all of them."""

    bos: str = DEEPSEEK_BOS
    eos: str = DEEPSEEK_EOS
    fim_begin: str = Field(DEEPSEEK_FIM_BEGIN, description="marks the prefix (PSM) / opens SPM")
    fim_hole: str = Field(DEEPSEEK_FIM_HOLE, description="marks the suffix")
    fim_end: str = Field(DEEPSEEK_FIM_END, description="marks the middle")
    pad: str = "<｜pad｜>"
    extra: list[str] = Field(
        default_factory=lambda: (
            ["<|EOT|>", "<｜User｜>", "<｜Assistant｜>"] + [f"<｜reserved▁{i}｜>" for i in range(6)]
        ),
        description="more special tokens to reserve (the paper's tokenizer has 15 in all)",
    )

    def required(self) -> dict[str, str]:
        return {
            "bos": self.bos,
            "eos": self.eos,
            "fim_begin": self.fim_begin,
            "fim_hole": self.fim_hole,
            "fim_end": self.fim_end,
        }

    def all_tokens(self) -> list[str]:
        seen: list[str] = []
        for tok in [*self.required().values(), self.pad, *self.extra]:
            if tok not in seen:
                seen.append(tok)
        return seen


class TokenizerSettings(StrictModel):
    """Train a byte-level BPE from a sample of the corpus, or load a `tokenizer.json`."""

    path: str | None = Field(None, description="a tokenizer.json to load; None = train one")
    vocab_size: int = Field(
        32_000, ge=300, description="ordinary (BPE) tokens; special tokens come on top (the paper: 100,000)"
    )
    pad_to_multiple_of: int = Field(128, ge=1, description="embedding rows are padded to a multiple")
    sample_documents: int = Field(20_000, ge=1, description="documents drawn (seeded) to train the BPE")
    sample_max_chars: int = Field(20_000, ge=100, description="characters kept of each sampled document")
    min_frequency: int = Field(2, ge=1)
    special_tokens: SpecialTokens = Field(default_factory=SpecialTokens)


class FimSettings(StrictModel):
    """Fill-in-the-middle per document before packing (the paper: PSM, rate 0.5, 16B model)."""

    rate: float = Field(0.5, ge=0, le=1, description="share of documents turned into FIM samples")
    mode: Literal["psm", "spm"] = "psm"
    spm_rate: float = Field(
        0.0, ge=0, le=1, description="with mode psm: share of FIM samples written in SPM order instead"
    )
    min_chars: int = Field(2, ge=0, description="documents shorter than this are never split")


class GroupMatch(StrictModel):
    """Which documents a mix group takes; every given list must match (empty = any)."""

    groups: list[str] = Field(default_factory=list, description="document `group` values")
    sources: list[str] = Field(default_factory=list, description="document `source` values")
    languages: list[str] = Field(default_factory=list, description="document `language` values")

    def matches(self, group: str | None, source: str | None, language: str | None) -> bool:
        return (
            (not self.groups or group in self.groups)
            and (not self.sources or source in self.sources)
            and (not self.languages or language in self.languages)
        )


class MixGroup(StrictModel):
    share: float = Field(ge=0, le=1, description="target share of all tokens")
    match: GroupMatch | None = Field(None, description="None = documents whose `group` is this name")
    fim: FimSettings | None = Field(None, description="None = no fill-in-the-middle for this group")

    def matcher(self, name: str) -> GroupMatch:
        return self.match if self.match is not None else GroupMatch(groups=[name])


def _default_groups() -> dict[str, MixGroup]:
    return {
        "code": MixGroup(share=0.6, fim=FimSettings()),
        "math": MixGroup(share=0.1),
        "text": MixGroup(share=0.3),
    }


class MixSettings(StrictModel):
    """The plan: token shares per group and a total budget met by down-sampling or repeating.

    Without a budget, the group with the fewest tokens for its share fixes the total and every
    other group is down-sampled to match; one small source can so throw away almost all of a
    large one while the realised shares still look perfect. `min_used_share` makes that a stop
    instead of a silent shrink; `allow_shrink` (or a `total_tokens`) says it is wanted.
    """

    groups: dict[str, MixGroup] = Field(default_factory=_default_groups)
    total_tokens: int | None = Field(
        None, ge=1, description="token budget; None = the most the data gives without repeating any group"
    )
    seed: int | None = Field(None, description="sampling and FIM seed; None = the recipe's seed")
    missing_groups: Literal["error", "renormalize"] = Field(
        "error", description="a group with a share but no documents: stop, or share its part among the rest"
    )
    min_used_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "without total_tokens: stop before writing shards when the plan would use less than this "
            "share of the groups' tokens (0 = never stop)"
        ),
    )
    allow_shrink: bool = Field(
        False,
        description="without total_tokens: accept a plan that uses less than min_used_share of the tokens",
    )

    @model_validator(mode="before")
    @classmethod
    def _targets_shorthand(cls, data: Any) -> Any:
        """`targets: {code: 0.6, math: 0.1, text: 0.3}` is short for groups with those shares
        (each taking the documents of its own name; code with the paper's FIM)."""
        if isinstance(data, dict) and "targets" in data:
            data = dict(data)
            targets = data.pop("targets")
            if "groups" in data:
                raise ValueError("give either targets or groups, not both")
            if not isinstance(targets, dict):
                raise ValueError("targets must map group names to shares")
            data["groups"] = {
                name: {"share": share, **({"fim": {}} if name == "code" else {})}
                for name, share in targets.items()
            }
        return data

    @field_validator("groups")
    @classmethod
    def _shares(cls, v: dict[str, MixGroup]) -> dict[str, MixGroup]:
        if not v:
            raise ValueError("give at least one group")
        total = sum(g.share for g in v.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"group shares must add up to 1.0 (they add up to {total:g})")
        for name in v:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"group name {name!r} must be a plain folder name")
        return v


class ShardSettings(StrictModel):
    max_tokens_per_shard: int = Field(100_000_000, ge=1, description="a shard is closed once it reaches this")
    parquet: bool = Field(True, description="write a Parquet twin (text + metadata) beside each .bin/.idx")
    batch_documents: int = Field(2_000, ge=1, description="documents tokenized per batch")


class MixRecipe(StrictModel):
    """Everything after the sources: tokenizer, plan, FIM, shards."""

    tokenizer: TokenizerSettings = Field(default_factory=TokenizerSettings)
    mix: MixSettings = Field(default_factory=MixSettings)
    shards: ShardSettings = Field(default_factory=ShardSettings)
