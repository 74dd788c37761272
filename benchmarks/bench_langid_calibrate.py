"""Calibrate the confidence a model-only answer needs (``identify.MIN_CONFIDENCE``) on held-out files.

    python benchmarks/bench_langid_calibrate.py --git PATH/TO/repo ... [--folder DIR ...] \
        [--not-code DIR ...] [--per-label 150] [--target 0.95]

A model-only answer is the one `detect` gives when no name rule, shebang or modeline decides: the
content model names a language from the file's text alone. To measure how often it is right, each
held-out file whose *name* decides one of the 338 languages (a `.java`, a `.c`, a `Makefile`) is
identified again with its name stripped, and the answer compared with the name's. Files named as
non-code (licence names, output extensions) and every file under `--not-code` are negatives: any
language answer for them is wrong. Files of the git repositories (`--git`, a checkout or bare
mirror; HEAD) and of `--folder` must be ones the shipped model was not trained on (see
data/prepare_training_corpus.sh for what it was).

Reported, for each threshold: how many files are answered, and the precision of those answers,
over all files and per label (each label capped at `--per-label` files so that one large language
does not decide the figure); and the lowest threshold whose capped precision reaches `--target`.
Also reported: how many code files the code-likeness test lets through, and how many non-code
files it stops (the test runs before the model, see ``not_code.LineStats``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.langid.model import load_model
from classifiers.langid.not_code import is_license_name
from classifiers.langid.rules import load_table

#: (truth, answer) pairs where the answer's language is a superset of the truth's, or the truth's
#: files are mostly written in the answer's (a .pyx file that is plain Python, a .cu file that is
#: C++ with kernel launches): reported as "lenient" precision next to the strict one
RELATIVES = frozenset(
    {("Cython", "Python"), ("CUDA", "C++"), ("C", "C++"), ("C++", "C"), ("Objective-C", "C")}
)
THRESHOLDS = (0.0, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)
MAX_BYTES = 256 * 1024
#: the module (the package exports a function of the same name)
ident = importlib.import_module("classifiers.langid.identify")


def git_files(repo: Path) -> list[tuple[str, bytes]]:
    git_dir = repo / ".git" if (repo / ".git").exists() else repo
    names = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "-z", "--name-only", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    out = []
    for raw in names:
        if not raw:
            continue
        blob = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", b"HEAD:" + raw], capture_output=True
        ).stdout
        if len(blob) <= MAX_BYTES:
            out.append((raw.decode("utf-8", "replace"), blob))
    return out


def folder_files(root: Path) -> list[tuple[str, bytes]]:
    out = []
    for p in sorted(root.rglob("*")):
        if (
            p.is_file()
            and not p.is_symlink()
            and "__pycache__" not in p.parts
            and p.stat().st_size <= MAX_BYTES
        ):
            out.append((str(p.relative_to(root)), p.read_bytes()))
    return out


def truth_of(table, name: str) -> str | None:
    """The language the name decides, 'NOT CODE' for licence and output names, else None (skipped)."""
    base = name.rsplit("/", 1)[-1]
    if is_license_name(base) or base.lower().endswith((".out", ".output", ".log", ".expected")):
        return "NOT CODE"
    cands, how, _ = table.by_name(base)
    if len(cands) == 1 and table.in_list(cands[0]) and how in {"extension", "filename"}:
        return cands[0]
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--git", type=Path, action="append", default=[])
    ap.add_argument("--folder", type=Path, action="append", default=[])
    ap.add_argument("--not-code", type=Path, action="append", default=[])
    ap.add_argument("--per-label", type=int, default=150)
    ap.add_argument("--target", type=float, default=0.95)
    args = ap.parse_args()
    table = load_table()
    model = load_model()
    items: list[tuple[str, str, bytes]] = []
    for repo in args.git:
        items += [(t, n, c) for n, c in git_files(repo) if (t := truth_of(table, n))]
    for folder in args.folder:
        items += [(t, n, c) for n, c in folder_files(folder) if (t := truth_of(table, n))]
    for folder in args.not_code:
        items += [("NOT CODE", n, c) for n, c in folder_files(folder)]
    seen: Counter[str] = Counter()
    capped = []
    for t, n, c in items:
        if b"\0" in c[:8000] or not c.strip():
            continue
        seen[t] += 1
        if seen[t] <= args.per_label:
            capped.append((t, n, c))

    ident.MIN_CONFIDENCE = 0.0  # every model answer is kept, with its confidence, for the sweep
    answers: list[tuple[str, str | None, float, str]] = []  # truth, answer, confidence, how
    for truth, _name, content in capped:
        d = ident.detect("", content, model=model, table=table)
        answers.append((truth, d.language, d.confidence, d.how))

    code = [a for a in answers if a[0] != "NOT CODE"]
    negatives = [a for a in answers if a[0] == "NOT CODE"]
    stopped_code = Counter(a[3] for a in code)
    print(f"{len(items)} held-out files; {len(capped)} after capping each label at {args.per_label}")
    print(f"labels: {len(seen)}; code files {len(code)}, non-code files {len(negatives)}")
    print(f"code files, names stripped, decided by: {dict(stopped_code.most_common())}")
    print(
        f"non-code files, names stripped, decided by: {dict(Counter(a[3] for a in negatives).most_common())}"
    )
    print(
        f"\n{'threshold':>9}{'answered':>10}{'right':>8}{'precision':>11}{'coverage':>10}{'macro-prec':>12}{'lenient':>9}"
    )
    chosen = chosen_lenient = None
    for th in THRESHOLDS:
        kept = [a for a in answers if a[3] == "model" and a[1] is not None and a[2] >= th]
        right = sum(1 for a in kept if a[1] == a[0])
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for a in kept:
            per[a[1]][0] += a[1] == a[0]
            per[a[1]][1] += 1
        macro = sum(r / n for r, n in per.values()) / len(per) if per else 0.0
        prec = right / len(kept) if kept else 0.0
        near = sum(1 for a in kept if a[1] == a[0] or (a[0], a[1]) in RELATIVES)
        lenient = near / len(kept) if kept else 0.0
        print(
            f"{th:>9.2f}{len(kept):>10}{right:>8}{prec:>10.1%}{len(kept) / len(code):>10.1%}"
            f"{macro:>11.1%}{lenient:>9.1%}"
        )
        if chosen is None and prec >= args.target:
            chosen = th
        if chosen_lenient is None and lenient >= args.target:
            chosen_lenient = th
    print(f"\nlowest threshold with precision >= {args.target:.0%}: {chosen}; lenient: {chosen_lenient}")
    flagged = Counter((a[0], a[1]) for a in code if a[3] == "content-kind")
    print(f"code files taken for non-code with names stripped: {dict(flagged.most_common(8))}")
    wrong = Counter(
        (a[0], a[1]) for a in answers if a[3] == "model" and a[1] and a[1] != a[0] and a[2] >= (chosen or 0)
    )
    print("most common mistakes at that threshold (truth -> answer):")
    for (t, a), n in wrong.most_common(12):
        print(f"  {t} -> {a}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
