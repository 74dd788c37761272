"""The recipe section `langid:`: which sources are tagged, which languages kept, which model used."""

from __future__ import annotations

from pydantic import Field

from corpus.core.strict import StrictModel


class LangidConfig(StrictModel):
    """Recipe section ``langid``."""

    sources: list[str] = Field(["github"], description="sources whose documents are code files to tag")
    languages: list[str] | None = Field(None, description="names to keep (default: all 338)")
    keep_unknown: bool = Field(False, description="keep documents no rule or model could name")
    groups: list[str] | None = Field(["code"], description="mix groups the filter applies to (None: all)")
    model: str | None = Field(None, description="fastText model path (default: the shipped model)")
    use_model: bool = Field(True, description="use the content model for ambiguous or nameless files")
    path_key: str = Field("path", description="metadata key holding the file path")
    retag: bool = Field(False, description="identify again documents an earlier step already tagged")
