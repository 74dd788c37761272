"""The secrets stage: every document scanned, credentials and personal data replaced by
placeholder tokens, key and certificate files dropped.

A document goes one of three ways. A file that is nothing but private keys or certificates is
dropped (reason `private_key` or `certificate`; `drop_key_files: false` redacts it instead). A
document with findings is rewritten with each finding replaced by its placeholder (`<KEY>`,
`<PASSWORD>`, `<PRIVATE_KEY>`, `<EMAIL>`, `<IP_ADDRESS>`, see `corpus.core.redaction`), its
metadata gaining `redacted: {kind: count}`. Everything else passes untouched.

A GitHub repository sample (many files joined, with `files` offsets) is handled file by file, as
decontamination does: each file's text is scanned on its own (a key file is recognised as one even
when it sits in a sample), a key file's stretch (its path comment, text and the newline the sample
added) is cut out, and the offsets of the files after a change are shifted so the sample still
splits back into its files.

Every redaction is recorded (see `report.py`) with its kind, detector and offsets, never the
value; every drop through the story, with the kind and detector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from loguru import logger

from classifiers.secrets.config import SecretsConfig
from classifiers.secrets.findings import PII_KINDS, Finding
from classifiers.secrets.keys import file_kind
from classifiers.secrets.redact import redact
from classifiers.secrets.report import Redaction, SecretCounts, write_task_report
from classifiers.secrets.scanner import Detectors, scan
from corpus.core.story import StoryStep


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def sample_files(doc: Document) -> list[dict[str, Any]] | None:
    """The `files` of a repository sample when their offsets describe its text; None otherwise."""
    files = doc.metadata.get("files")
    if doc.metadata.get("kind") != "sample" or not isinstance(files, list) or not files:
        return None
    pos = 0
    for f in files:
        if not isinstance(f, dict):
            return None
        start, end = f.get("start"), f.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and pos <= start <= end <= len(doc.text)):
            return None
        pos = end
    return files


class SecretsFilter(StoryStep):
    name = "secrets"

    def __init__(self, config: SecretsConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = SecretsConfig()
        self.config = config if isinstance(config, SecretsConfig) else SecretsConfig.model_validate(config)
        self.detectors = Detectors(True, self.config.pii.emails, self.config.pii.ips)
        self._counts = SecretCounts()
        self._rows: list[Redaction] = []

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        self._counts, self._rows = SecretCounts(), []
        for doc in data or ():
            self.stat_update("documents_in")
            size = utf8_size(doc.text)
            self._counts.documents += 1
            self._counts.bytes_scanned += size
            self.stat_update("bytes_scanned", value=size, unit="doc")
            with self.track_time():
                files = sample_files(doc)
                kept = self._clean_document(doc) if files is None else self._clean_sample(doc, files)
            if kept is not None:
                yield kept
        if self.stage_folder:
            write_task_report(self.stage_folder, rank, self._counts, self._rows)
        if self._counts.share > self.config.warn_share:
            logger.warning(
                f"secrets: {self._counts.share:.1%} of this task's documents held a credential "
                f"(warn_share {self.config.warn_share:.1%}); detectors: {dict(self._counts.detectors.most_common(5))}"
            )

    # one text (a document, or one file of a sample) -------------------------------------------

    def _key_file(self, text: str) -> str | None:
        return file_kind(text) if self.config.drop_key_files else None

    def _record(self, item_id: str, document: str, findings: list[Finding]) -> Counter[str]:
        kinds: Counter[str] = Counter()
        for f in findings:
            kinds[f.kind] += 1
            self._counts.kinds[f.kind] += 1
            self._counts.detectors[f.detector] += 1
            self.stat_update(f"redacted:{f.kind}")
            self._rows.append(Redaction(item_id, document, f.kind, f.detector, f.placeholder, f.start, f.end))
        return kinds

    def _dropped(self, item_id: str, reason: str, detail: str) -> None:
        self._counts.dropped[reason] += 1
        self._counts.detectors["keys:file"] += 1
        self.drop(item_id, reason, detail)

    @staticmethod
    def _note(doc: Document, kinds: Counter[str]) -> None:
        merged = Counter(doc.metadata.get("redacted") or {})
        merged.update(kinds)
        doc.metadata["redacted"] = dict(sorted(merged.items()))

    def _count_changed(self, kinds: Counter[str]) -> None:
        if kinds:
            self._counts.redacted_documents += 1
            if any(k not in PII_KINDS for k in kinds):
                self._counts.with_credentials += 1

    def _clean_document(self, doc: Document) -> Document | None:
        path = str(doc.metadata.get("path") or "")
        reason = self._key_file(doc.text)
        if reason is not None:
            self._counts.with_credentials += 1
            self._dropped(doc.id, reason, f"the file is a {reason.replace('_', ' ')} (keys:file)")
            return None
        findings = scan(doc.text, path, self.detectors)
        if not findings:
            return doc
        kinds = self._record(doc.id, doc.id, findings)
        self._count_changed(kinds)
        doc.text = redact(doc.text, findings)
        self._note(doc, kinds)
        return doc

    def _clean_sample(self, doc: Document, files: list[dict[str, Any]]) -> Document | None:
        text = doc.text
        parts: list[str] = []
        kept: list[dict[str, Any]] = []
        kinds: Counter[str] = Counter()
        removed: list[str] = []
        pos, length, strip_newline = 0, 0, False
        for f in files:
            start, end = f["start"], f["end"]
            gap, body = text[pos:start], text[start:end]
            pos = end
            if strip_newline and gap.startswith("\n"):
                gap = gap[1:]
            file_id = str(f.get("id") or f"{doc.id}/{f.get('path')}")
            reason = self._key_file(body)
            if reason is not None:
                what = reason.replace("_", " ")
                self._dropped(file_id, reason, f"file {f.get('path')} of {doc.id} is a {what} (keys:file)")
                removed.append(str(f.get("path")))
                kinds[reason] += 1
                strip_newline = not body.endswith("\n")
                continue
            strip_newline = False
            findings = scan(body, str(f.get("path") or ""), self.detectors)
            if findings:
                kinds.update(self._record(file_id, doc.id, findings))
                body = redact(body, findings)
            parts += (gap, body)
            length += len(gap)
            kept.append({**f, "start": length, "end": length + len(body)})
            length += len(body)
        tail = text[pos:]
        parts.append(tail[1:] if strip_newline and tail.startswith("\n") else tail)
        if not kinds:
            return doc
        self._count_changed(kinds)
        if not kept:
            self.drop(doc.id, "private_key", f"every file of the sample was a key file ({len(removed)})")
            return None
        doc.text = "".join(parts)
        doc.metadata["files"] = kept
        doc.metadata["path"] = kept[0]["path"]
        doc.metadata["size"] = sum(f["end"] - f["start"] for f in kept)
        if removed:
            doc.metadata["secret_files_removed"] = [*doc.metadata.get("secret_files_removed", []), *removed]
        self._note(doc, kinds)
        return doc
