"""Training the content model from any corpus, with labels that the names give for free.

A file whose name (or linguist's heuristics, a shebang, a modeline) decides its language without
the model is a labelled example; everything else is skipped. A folder laid out as LABEL/files (such
as linguist's ``samples/``) can instead give its labels by folder name. Examples are windows of a
file's text, the head first, so the model learns from snippets as well as whole files; rare labels
get extra windows so that a language with three sample files still has a voice. Training runs on one
thread with a fixed seed so the same corpus gives the same model.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fasttext

from classifiers.langid.families import family_labels
from classifiers.langid.features import family_line
from classifiers.langid.identify import detect
from classifiers.langid.model import label_token
from classifiers.langid.rules import LanguageTable, load_table
from classifiers.langid.sniff import decode, is_binary
from classifiers.langid.tokens import MODEL_BYTES, model_line
from corpus.core.fresh_process import in_fresh_process
from corpus.core.user_files import read_head

RULE_DECIDED = {"filename", "extension", "heuristic", "shebang", "modeline"}
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__"}


@dataclass
class CorpusStats:
    files_seen: int = 0
    labelled: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    per_label: Counter[str] = field(default_factory=Counter)


@dataclass
class TrainConfig:
    dim: int = 64
    epoch: int = 20
    lr: float = 0.5
    word_ngrams: int = 2
    bucket: int = 400_000
    min_count: int = 2
    max_files_per_label: int = 300
    min_examples_per_label: int = 24
    windows_per_file: int = 3
    max_file_bytes: int = 1_000_000
    seed: int = 0
    quantize: bool = True
    cutoff: int = 100_000
    #: the second-stage family model (``family_model``): family members only, keyword-keeping
    #: tokens and trait tokens (``features.family_line``), character n-grams minn..maxn
    family: bool = False
    minn: int = 0
    maxn: int = 0
    #: a family member with fewer files is left out of the family model, which then leaves its
    #: share to the first stage (``FamilyModel.decide``) rather than learn it from a sample or two
    min_family_files: int = 15


def family_config(**overrides: object) -> TrainConfig:
    """The settings of the shipped family model."""
    base: dict[str, object] = {"family": True, "minn": 2, "maxn": 4, "epoch": 25, "dim": 48}
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


def label_for_folder(table: LanguageTable, folder: str) -> str | None:
    """A folder name as a label: an exact label, a linguist name, or an alias ('cpp', 'perl6')."""
    if folder in table.labels:
        return folder
    low = folder.lower()
    return (
        table.by_alias.get(low)
        or table.by_alias.get(low.replace("-", " "))
        or table.by_alias.get(low.replace("_", " "))
    )


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _starts_with_shebang(path: Path) -> bool:
    """Two bytes of a regular file; a FIFO or device in a training folder is never opened."""
    try:
        return read_head(path, 2) == b"#!"
    except OSError:
        return False


def labelled_files(
    roots: Iterable[str | Path], folder_labels: bool, cfg: TrainConfig, stats: CorpusStats
) -> dict[str, list[tuple[str, bytes]]]:
    """label -> [(path, content)], deduplicated by content, at most `max_files_per_label` each."""
    table = load_table()
    seen: set[bytes] = set()
    by_label: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for root in roots:
        root = Path(root)
        for path in _walk(root):
            stats.files_seen += 1
            folder_label = None
            if folder_labels:
                rel = path.relative_to(root).parts
                if len(rel) > 1:
                    folder_label = label_for_folder(table, rel[0])
                if folder_label is None:
                    # a label folder that names no known language: its files' names are no help
                    # either (test data is often called sample.txt)
                    stats.skipped["folder names no language"] += 1
                    continue
            if folder_label is None:
                # cheap checks before reading: a name that decides a full label, or no name rule
                cands, _how, _key = table.by_name(path.name)
                if len(cands) == 1 and len(by_label.get(cands[0], ())) >= cfg.max_files_per_label:
                    stats.skipped["label full"] += 1
                    continue
                if not cands and not _starts_with_shebang(path):
                    stats.skipped["name does not decide"] += 1
                    continue
            try:
                if path.is_symlink() or not path.is_file():
                    stats.skipped["not a regular file"] += 1
                    continue
                if path.stat().st_size > cfg.max_file_bytes:
                    stats.skipped["too large"] += 1
                    continue
                content = read_head(path, cfg.max_file_bytes + 1)  # a file that grew is still capped
                if len(content) > cfg.max_file_bytes:
                    stats.skipped["too large"] += 1
                    continue
            except OSError:
                stats.skipped["unreadable"] += 1
                continue
            if not content.strip() or is_binary(content):
                stats.skipped["empty or binary"] += 1
                continue
            label = folder_label
            if label is None:
                d = detect(path.name, content, model=None, table=table)
                if d.how not in RULE_DECIDED or d.label is None:
                    stats.skipped["name does not decide"] += 1
                    continue
                label = d.label
            digest = hashlib.blake2b(content, digest_size=16).digest()
            if digest in seen:
                stats.skipped["duplicate content"] += 1
                continue
            seen.add(digest)
            bucket = by_label[label]
            if len(bucket) >= cfg.max_files_per_label:
                stats.skipped["label full"] += 1
                continue
            bucket.append((str(path), content))
            stats.labelled += 1
    return by_label


def _windows(text: str, count: int, rng: random.Random) -> list[str]:
    """The head, then windows starting at random line breaks (snippets as well as file heads)."""
    out = [text[:MODEL_BYTES]]
    lines = text.splitlines(keepends=True)
    if len(lines) < 8:
        return out
    for _ in range(count):
        start = rng.randrange(0, max(1, len(lines) - 4))
        size = rng.choice((8, 20, 60, 200))
        out.append("".join(lines[start : start + size])[:MODEL_BYTES])
    return out


def training_lines(
    by_label: dict[str, list[tuple[str, bytes]]], cfg: TrainConfig, stats: CorpusStats
) -> list[str]:
    rng = random.Random(cfg.seed)
    lines: list[str] = []
    line_of = family_line if cfg.family else model_line
    wanted = family_labels() if cfg.family else None
    for label in sorted(by_label):
        if wanted is not None and (label not in wanted or len(by_label[label]) < cfg.min_family_files):
            continue
        files = by_label[label]
        examples: list[str] = []
        for _path, content in files:
            text = decode(content[: 4 * 1024 * 1024])
            extra = cfg.windows_per_file if len(files) < cfg.max_files_per_label // 3 else 1
            examples.extend(_windows(text, extra, rng))
        # rare labels: more windows until they have a minimum number of examples
        tries = 0
        while len(examples) < cfg.min_examples_per_label and tries < 4:
            tries += 1
            for _path, content in files:
                examples.extend(_windows(decode(content[: 1024 * 1024]), 2, rng)[1:])
        tag = label_token(label)
        for ex in examples:
            toks = line_of(ex)
            if toks:
                lines.append(f"{tag} {toks}")
                stats.per_label[label] += 1
    rng.shuffle(lines)
    return lines


def _train(fasttext, train_file: Path, cfg: TrainConfig, lr: float):
    return fasttext.train_supervised(
        input=str(train_file),
        dim=cfg.dim,
        epoch=cfg.epoch,
        lr=lr,
        wordNgrams=cfg.word_ngrams,
        bucket=cfg.bucket,
        minCount=cfg.min_count,
        minn=cfg.minn,
        maxn=cfg.maxn,
        loss="softmax",
        thread=1,
        seed=cfg.seed,
        verbose=0,
    )


def _train_and_save(train_file: str, out_file: str, cfg: TrainConfig) -> float:
    """Runs in a fresh interpreter (see `train_model`); returns the learning rate that converged."""

    lr = cfg.lr
    for _attempt in range(4):
        try:
            model = _train(fasttext, Path(train_file), cfg, lr)
            break
        except RuntimeError as e:  # fastText diverges ("Encountered NaN") on small corpora
            if "NaN" not in str(e):
                raise
            lr /= 2
    else:
        raise RuntimeError(f"fastText training diverged even at lr={lr * 2:g}")
    if cfg.quantize:
        model.quantize(input=train_file, qnorm=True, retrain=False, cutoff=cfg.cutoff, thread=1)
    model.save_model(out_file)
    return lr


def train_model(lines: list[str], out_path: str | Path, cfg: TrainConfig) -> Path:
    """Train (and quantize) a fastText model on `lines`; the file is written atomically.

    Training runs in a fresh interpreter (`corpus.core.fresh_process`), so the same corpus and
    seed always give a byte-identical model.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp_out = out_path.with_name(f".{out_path.name}.tmp")
        in_fresh_process(_train_and_save, str(train_file), str(tmp_out), cfg)
        os.replace(tmp_out, out_path)
    return out_path
