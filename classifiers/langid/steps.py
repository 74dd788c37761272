"""Datatrove steps: tag each document's language, keep the languages a recipe lists.

``LanguageTagger`` writes ``language`` (one of the 338 names, or None) and a ``langid`` record
(``how``, ``confidence``, ``label``, ``reason``) into the document's metadata, so later stages and
``coderforge inspect`` can see why a file got its language. ``LanguageFilter`` keeps the listed
languages and records every other document as a drop with the language (or the reason it has none).
"""

from __future__ import annotations

from collections.abc import Iterator

from datatrove.data import Document, DocumentsPipeline

from classifiers.langid.config import LangidConfig
from classifiers.langid.identify import detect
from classifiers.langid.model import load_model
from classifiers.langid.rules import load_table
from classifiers.langid.sniff import HEAD_BYTES
from corpus.core.errors import UserError
from corpus.core.story import StoryStep


class LanguageTagger(StoryStep):
    """Decide each document's language from its path (metadata `path_key`) and text."""

    name = "langid tagger"

    def __init__(
        self,
        path_key: str = "path",
        model_path: str | None = None,
        use_model: bool = True,
        retag: bool = False,
    ) -> None:
        """`retag=False` keeps a language an earlier step already set (the GitHub reader tags files
        as it reads them), so a build does not pay for identification twice."""
        super().__init__()
        self.path_key = path_key
        self.model_path = model_path
        self.use_model = use_model
        self.retag = retag

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:

        model = load_model(self.model_path) if self.use_model else None
        if self.use_model and self.model_path and model is None:
            raise UserError(f"langid.model {self.model_path}: no such model file")
        for doc in data:
            self.stat_update("documents")
            tagged = doc.metadata.get("language") is not None or bool(doc.metadata.get("language_label"))
            if not self.retag and tagged and "langid" not in doc.metadata:
                self.stat_update("already tagged")
                yield doc
                continue
            with self.track_time():
                name = str(doc.metadata.get(self.path_key) or "")
                # the rules read at most HEAD_BYTES; a longer text is only encoded as far as needed
                content = doc.text[:HEAD_BYTES].encode("utf-8", errors="surrogatepass")
                if not content and doc.text:
                    content = doc.text.encode("utf-8", errors="surrogatepass")
                d = detect(name, content, model=model)
            doc.metadata["language"] = d.language
            doc.metadata["langid"] = {
                "how": d.how,
                "confidence": round(d.confidence, 4),
                "label": d.label,
                "reason": d.reason,
            }
            self.stat_update(f"how:{d.how}")
            self.stat_update("unknown" if d.language is None else "identified")
            yield doc


class LanguageFilter(StoryStep):
    """Keep documents whose language is listed (default: all 338); record a drop for the rest."""

    name = "langid filter"

    def __init__(
        self, languages: list[str] | None = None, keep_unknown: bool = False, groups: list[str] | None = None
    ) -> None:
        """`groups`: filter only documents of these mix groups (e.g. ["code"]), so that the
        code-related text a GitHub source also yields (READMEs, docs) passes untouched."""
        super().__init__()
        self.groups = set(groups) if groups is not None else None

        table = load_table()
        names = table.names
        if languages is None:
            self.keep = set(names)
        else:
            known = set(names)
            lower = {n.lower(): n for n in names}
            keep: set[str] = set()
            for lang in languages:
                alias = table.by_alias.get(lang.lower())
                if lang in known:
                    keep.add(lang)
                elif lang.lower() in lower:
                    keep.add(lower[lang.lower()])
                elif alias in known:  # 'cpp', 'perl6', 'golang'
                    keep.add(alias)
                else:
                    raise UserError(f"langid.languages: {lang!r} is not one of the 338 language names")
            self.keep = keep
        self.keep_unknown = keep_unknown

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        for doc in data:
            if self.groups is not None and doc.metadata.get("group") not in self.groups:
                self.stat_update("other group")
                yield doc
                continue
            if doc.metadata.get("kind") == "text":  # code-related text (READMEs, docs) is kept as text
                self.stat_update("code-related text")
                yield doc
                continue
            lang = doc.metadata.get("language")
            if lang in self.keep or (lang is None and self.keep_unknown):
                self.stat_update("kept")
                yield doc
                continue
            if lang is None:
                info = doc.metadata.get("langid") or {}
                detail = info.get("reason", "") if isinstance(info, dict) else ""
                if not detail and doc.metadata.get("language_label"):
                    detail = f"{doc.metadata['language_label']} is not one of the 338 languages"
                self.drop(doc.id, "unknown-language", detail)
            else:
                self.drop(doc.id, "language-not-listed", lang)


def langid_steps(cfg: LangidConfig) -> list[StoryStep]:
    return [
        LanguageTagger(path_key=cfg.path_key, model_path=cfg.model, use_model=cfg.use_model, retag=cfg.retag),
        LanguageFilter(cfg.languages, keep_unknown=cfg.keep_unknown, groups=cfg.groups),
    ]
