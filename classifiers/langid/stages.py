"""The language stage of a corpus build, and its recipe section.

``langid_stages`` is a stage builder ``(recipe, output, previous) -> list[Stage]``: for each source
it is configured for (GitHub by default), one stage that reads that source's latest documents, tags
their languages and keeps the listed ones, writing ``OUTPUT/<source>/langid/``. It reads its
settings from ``recipe.langid`` when the recipe schema has that section, and uses the defaults
(all 338 languages, shipped model) otherwise.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from classifiers.langid.steps import LanguageFilter, LanguageTagger


class LangidConfig(BaseModel):
    """Recipe section ``langid``."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(["github"], description="sources whose documents are code files to tag")
    languages: list[str] | None = Field(None, description="names to keep (default: all 338)")
    keep_unknown: bool = Field(False, description="keep documents no rule or model could name")
    groups: list[str] | None = Field(["code"], description="mix groups the filter applies to (None: all)")
    model: str | None = Field(None, description="fastText model path (default: the shipped model)")
    use_model: bool = Field(True, description="use the content model for ambiguous or nameless files")
    path_key: str = Field("path", description="metadata key holding the file path")
    retag: bool = Field(False, description="identify again documents an earlier step already tagged")


def langid_steps(cfg: LangidConfig) -> list:
    return [
        LanguageTagger(path_key=cfg.path_key, model_path=cfg.model, use_model=cfg.use_model, retag=cfg.retag),
        LanguageFilter(cfg.languages, keep_unknown=cfg.keep_unknown, groups=cfg.groups),
    ]


def langid_stages(recipe, output: str, previous: list) -> list:
    from corpus.parquet_io import ParquetDocumentReader, ParquetDocumentWriter
    from corpus.stages import Stage, latest, stage_folder

    cfg = getattr(recipe, "langid", None)
    if cfg is None:
        cfg = LangidConfig()
    elif not isinstance(cfg, LangidConfig):
        cfg = LangidConfig.model_validate(cfg if isinstance(cfg, dict) else cfg.model_dump())
    stages = []
    for source in cfg.sources:
        before = latest(previous, source)
        if before is None:
            continue
        kept = "all 338" if cfg.languages is None else f"{len(cfg.languages)}"
        stages.append(
            Stage(
                source,
                "langid",
                output,
                [
                    ParquetDocumentReader(before.folder),
                    *langid_steps(cfg),
                    ParquetDocumentWriter(stage_folder(output, source, "langid")),
                ],
                recipe.executor.tasks,
                f"language of each file (rules, heuristics, model); keep {kept} languages",
            )
        )
    return stages
