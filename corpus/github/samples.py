"""Repository-level samples (DeepSeek-Coder V1 §2.2): the files of one repository in dependency
order, one sample per connected component, each file preceded by a comment with its path. No file
comes before a file it imports unless both are in one import cycle (see `dependencies`);
`forward_imports` checks that on built samples.

By default only Python, Java, C#, C and C++ files are joined (the paper's five; C and C++ share
one graph, since they share headers); JavaScript/TypeScript (relative module specifiers) and Go
(import paths resolved to package folders) can be added in the recipe. Every other file, and
code-related text, passes through unchanged as one document per file. Each document leaves with `dedup_level` in its metadata — `repository` for
samples, `file` for the rest — which is what the MinHash stage keys on.

A component longer than the recipe's cut (`samples.max_sample_tokens`, 32,768 tokens by default,
see `SamplesConfig`) is cut between files into consecutive samples, numbered in order, so the
dependency order holds across them too.

A sample keeps `files`: for each file its path, original document id and `[start, end)` character
offsets of its text, so `split_sample` gives the files back exactly. Documents are expected grouped
by repository (the reader emits them so, and the stages between keep the order); a repository that
shows up again after another one started is counted in the `repo_split` stat and its later files
form their own samples.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from datatrove.data import Document, DocumentsPipeline

from corpus.core.schema import make_document
from corpus.core.story import StoryStep
from corpus.github.dependencies import (
    COMMENT_PREFIX,
    FAMILY,
    SAMPLE_LANGUAGES,
    components,
    dependencies,
    forward_edges,
    is_python_config,
    order_component,
    sample_language,
)

#: metadata carried from the first file of a sample onto the sample
_REPO_KEYS = ("repo", "commit", "license", "stars", "created_at")


def path_comment(family: str, path: str) -> str:
    return f"{COMMENT_PREFIX[family]} {path}\n"


def build_sample(
    repo: str, family: str, ordered: list[Document], index: int, group: str, metadata: dict[str, Any]
) -> Document:
    parts: list[str] = []
    files: list[dict[str, Any]] = []
    offset = 0
    for doc in ordered:
        path = str(doc.metadata["path"])
        header = path_comment(family, path)
        parts.append(header)
        offset += len(header)
        files.append({"path": path, "id": doc.id, "start": offset, "end": offset + len(doc.text)})
        parts.append(doc.text)
        offset += len(doc.text)
        if not doc.text.endswith("\n"):
            parts.append("\n")
            offset += 1
    languages = Counter(sample_language(str(d.metadata["path"]), d.metadata.get("language")) for d in ordered)
    known = tuple(FAMILY)
    language = max(known, key=lambda lang: (languages.get(lang, 0), -known.index(lang)))
    return make_document(
        f"github:{repo}#sample-{index}",
        "".join(parts),
        source="github",
        group=group,
        language=language,
        kind="sample",
        dedup_level="repository",
        path=files[0]["path"],
        files=files,
        size=sum(f["end"] - f["start"] for f in files),
        **metadata,
    )


def split_sample(doc: Document) -> list[tuple[str, str]]:
    """The (path, text) of every file of a sample, in sample order."""
    return [(f["path"], doc.text[f["start"] : f["end"]]) for f in doc.metadata["files"]]


def _sample_number(doc_id: str) -> int:
    tail = doc_id.rpartition("#sample-")[2]
    return int(tail) if tail.isdigit() else 0


def forward_imports(docs: Iterable[Document]) -> tuple[int, list[tuple[str, str, str]]]:
    """Check the order of built samples: the number of samples seen, and (sample id, file, the
    file it imports that comes later) for every import that points forward outside a cycle.

    The dependencies are found again from the samples' own files (and the pyproject.toml /
    setup.cfg passing next to them), with the same rules as the build; the files of one
    repository and language family are taken in sample order, so a component cut into several
    samples is checked as a whole."""
    samples: dict[tuple[str, str], list[Document]] = defaultdict(list)
    configs: dict[str, dict[str, str]] = defaultdict(dict)
    for doc in docs:
        repo = str(doc.metadata.get("repo") or "")
        path = str(doc.metadata.get("path") or "")
        if "files" in doc.metadata:
            family = FAMILY.get(str(doc.metadata.get("language")))
            if family:
                samples[(repo, family)].append(doc)
        elif is_python_config(path):
            configs[repo][path] = doc.text
    found: list[tuple[str, str, str]] = []
    for (repo, family), group in sorted(samples.items()):
        group.sort(key=lambda d: _sample_number(d.id))
        owner: dict[str, str] = {}
        texts: dict[str, str] = {}
        for doc in group:
            for path, text in split_sample(doc):
                owner[path] = doc.id
                texts[path] = text
        deps = dependencies(family, texts, configs.get(repo))
        found += [(owner[a], a, b) for a, b in forward_edges(list(texts), deps)]
    return sum(len(g) for g in samples.values()), found


class RepositorySamples(StoryStep):
    """Join each repository's Python/Java/C#/C/C++ files into dependency-ordered samples."""

    name = "repository samples"

    def __init__(
        self,
        seed: int = 0,
        languages: tuple[str, ...] = SAMPLE_LANGUAGES,
        max_sample_chars: int | None = None,
    ) -> None:
        super().__init__()
        self.seed = seed
        self.languages = tuple(languages)
        self.max_sample_chars = max_sample_chars
        self._numbered: dict[str, int] = {}

    def process(self, data: DocumentsPipeline, rank: int, world_size: int) -> Iterator[Document]:
        current: str | None = None
        pending: list[Document] = []
        configs: dict[str, str] = {}  # pyproject.toml / setup.cfg: where the Python packages live
        finished: set[str] = set()
        self._numbered = {}  # samples numbered so far per repository, in this task
        for doc in data or ():
            repo = str(doc.metadata.get("repo") or "")
            if repo != current:
                yield from self._flush(current, pending, configs)
                if current is not None:
                    finished.add(current)
                if repo in finished:
                    self.stat_update("repo_split")
                current, pending, configs = repo, [], {}
            path = str(doc.metadata.get("path") or "")
            language = sample_language(path, doc.metadata.get("language"))
            if repo and doc.metadata.get("kind") == "code" and language in self.languages:
                pending.append(doc)
                continue
            if is_python_config(path):
                configs[path] = doc.text
            doc.metadata["dedup_level"] = "file"
            self.stat_update("single_files")
            yield doc
        yield from self._flush(current, pending, configs)

    def _parts(self, ordered: list[Document]) -> Iterator[list[Document]]:
        """The ordered files of a component, cut into consecutive runs of at most
        `max_sample_chars` (a bigger single file stays whole); one run when there is no limit."""
        if not self.max_sample_chars:
            yield ordered
            return
        run: list[Document] = []
        size = 0
        for doc in ordered:
            if run and size + len(doc.text) > self.max_sample_chars:
                self.stat_update("split_components")
                yield run
                run, size = [], 0
            run.append(doc)
            size += len(doc.text)
        if run:
            yield run

    def _flush(self, repo: str | None, docs: list[Document], configs: dict[str, str]) -> Iterator[Document]:
        if not repo or not docs:
            return
        with self.track_time():
            by_family: dict[str, dict[str, Document]] = {}
            for doc in docs:
                lang = sample_language(str(doc.metadata["path"]), doc.metadata.get("language"))
                by_family.setdefault(FAMILY[str(lang)], {})[str(doc.metadata["path"])] = doc
            samples: list[Document] = []
            first = docs[0].metadata
            metadata = {k: first.get(k) for k in _REPO_KEYS}
            group = str(first.get("group") or "code")
            for family in sorted(by_family):
                files = by_family[family]
                deps = dependencies(family, {p: d.text for p, d in files.items()}, configs)
                self.stat_update("dependency_edges", value=sum(len(v) for v in deps.values()))
                for component in components(files, deps):
                    order = order_component(component, deps, self.seed, repo)
                    for part in self._parts([files[p] for p in order]):
                        samples.append(build_sample(repo, family, part, 0, group, metadata))
        start = self._numbered.get(repo, 0)  # a repository seen again continues its numbering
        self._numbered[repo] = start + len(samples)
        for i, sample in enumerate(samples, start=start):
            sample.id = f"github:{repo}#sample-{i}"
            self.stat_update("samples")
            self.stat_update("files_in_samples", value=len(sample.metadata["files"]))
            yield sample
