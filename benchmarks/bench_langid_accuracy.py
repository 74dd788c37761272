"""Accuracy of our language identifier against enry (linguist's rules, in Go) and magika, side by side.

    python benchmarks/bench_langid_accuracy.py --corpus DIR
    python benchmarks/bench_langid_accuracy.py --sample-programs PATH/TO/sample-programs --corpus DIR
    python benchmarks/bench_langid_accuracy.py --from-git "C++=PATH/TO/leveldb:.h" ... --corpus DIR

DIR is any folder laid out as LABEL/files (a label is a language name or alias: "C++", "cpp",
"perl6"). `--sample-programs` first lays out such a folder from a checkout (or bare git mirror) of
TheRenegadeCoder/sample-programs, whose files nobody here wrote and which the shipped model never
saw; the label of each language folder is the title of its README ("Sample Programs in C++").

`--from-git LABEL=REPO:.ext,.ext` adds the files with those extensions from a git checkout or bare
mirror of one project whose language is known, e.g. the .h files of a C++ project: a way to measure
the ambiguous extensions (.h .m .pl .v .pp .ts) on real projects.

Each file is identified twice: with its name, and with its name stripped (content only). Reported:
overall accuracy, accuracy on files whose true language is one of the 338, on files whose extension
is ambiguous, and per language; enry and magika run on the same files when they are installed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.langid import detect
from classifiers.langid.model import load_model
from classifiers.langid.rules import load_table
from classifiers.langid.training import label_for_folder

SKIP_NAMES = {"README.md", "testinfo.yml", "readme.md"}


def layout_sample_programs(repo: Path, out: Path) -> None:
    """Export archive/<letter>/<language>/* into out/<Language>/ (READMEs and test specs left out)."""
    git_dir = repo / ".git" if (repo / ".git").exists() else repo
    names = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD", "archive"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    titles: dict[str, str] = {}
    for path in names:
        parts = path.split("/")
        if len(parts) == 4 and parts[3] == "README.md":
            text = subprocess.run(
                ["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"], capture_output=True, text=True
            ).stdout
            m = re.search(r"^# Sample Programs in (.+?)\s*$", text, re.M)
            if m:
                titles[parts[2]] = m.group(1).replace("\\", "").strip()
    for path in names:
        parts = path.split("/")
        if len(parts) != 4 or parts[3] in SKIP_NAMES:
            continue
        label = titles.get(parts[2], parts[2]).replace("/", "-")
        dest = out / label / parts[3]
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        blob = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"], capture_output=True, check=True
        ).stdout
        dest.write_bytes(blob)


def layout_from_git(spec: str, out: Path, limit: int) -> None:
    """LABEL=REPO:.ext,.ext -> out/LABEL/<path with slashes as __> for up to `limit` files."""
    label, _, rest = spec.partition("=")
    repo, _, exts = rest.rpartition(":")
    wanted = tuple(e.strip().lower() for e in exts.split(",") if e.strip())
    git_dir = Path(repo) / ".git" if (Path(repo) / ".git").exists() else Path(repo)
    names = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    chosen = [n for n in names if n.lower().endswith(wanted)][:limit]
    for path in chosen:
        dest = out / label / path.replace("/", "__")
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        blob = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"], capture_output=True, check=True
        ).stdout
        dest.write_bytes(blob)


def true_label(table, folder: str) -> str:
    label = label_for_folder(table, folder)
    if label is None:
        label = label_for_folder(table, folder.replace("#", " sharp").replace("++", "pp"))
    return label or folder


class Enry:
    def __init__(self, table) -> None:
        import enry

        self.enry = enry
        self.by_linguist = {ln: label for label, e in table.labels.items() for ln in e["linguist"]}

    def __call__(self, name: str, content: bytes) -> str | None:
        # with no name, enry's classifier has no candidates to rank and it answers ""
        lang = self.enry.get_language(name, content)
        return self.by_linguist.get(lang, lang) if lang else None


class Magika:
    def __init__(self, table) -> None:
        from magika import Magika as _Magika

        self.m = _Magika()
        self.table = table

    def __call__(self, name: str, content: bytes) -> str | None:
        res = self.m.identify_bytes(content)
        label = str(res.output.label)
        return self.table.by_alias.get(label.lower(), label)


def evaluate(corpus: Path, limit_per_label: int) -> None:
    table = load_table()
    model = load_model()
    files: list[tuple[str, Path]] = []
    for label_dir in sorted(p for p in corpus.iterdir() if p.is_dir()):
        truth = true_label(table, label_dir.name)
        chosen = sorted(p for p in label_dir.rglob("*") if p.is_file())[:limit_per_label]
        files.extend((truth, p) for p in chosen)
    systems: dict[str, object] = {}
    try:
        systems["enry"] = Enry(table)
    except ImportError:
        print("enry not installed (pip install enry-python): its columns are left out")
    try:
        systems["magika"] = Magika(table)
    except ImportError:
        print("magika not installed: its columns are left out")

    cols = ["ours", "ours-noname"] + [f"{s}" for s in systems if s != "magika"]
    cols += [f"{s}-noname" for s in systems]
    right: dict[str, Counter[str]] = {c: Counter() for c in cols}
    seen: Counter[str] = Counter()
    timing: dict[str, float] = defaultdict(float)
    how_counts: Counter[str] = Counter()

    for truth, path in files:
        content = path.read_bytes()
        name = path.name
        ext_cands = table.by_name(name)[0]
        groups = ["all"]
        if table.in_list(truth):
            groups.append("338")
        if sum(1 for c in ext_cands if table.in_list(c)) > 1:
            groups.append("ambiguous")
        groups.append(f"lang:{truth}")
        answers: dict[str, str | None] = {}
        t = time.perf_counter()
        d = detect(name, content, model=model)
        timing["ours"] += time.perf_counter() - t
        answers["ours"] = d.label if d.how != "unknown" else None
        how_counts[d.how] += 1
        t = time.perf_counter()
        d2 = detect("", content, model=model)
        timing["ours-noname"] += time.perf_counter() - t
        answers["ours-noname"] = d2.label if d2.how != "unknown" else None
        for sname, system in systems.items():
            if sname != "magika":
                t = time.perf_counter()
                answers[sname] = system(name, content)
                timing[sname] += time.perf_counter() - t
            t = time.perf_counter()
            answers[f"{sname}-noname"] = system("", content)
            timing[f"{sname}-noname"] += time.perf_counter() - t
        for g in groups:
            seen[g] += 1
            for c in cols:
                if answers.get(c) == truth:
                    right[c][g] += 1

    def pct(c: str, g: str) -> str:
        return f"{100 * right[c][g] / seen[g]:5.1f}%" if seen[g] else "    -"

    print(f"\ncorpus {corpus}: {len(files)} files, {len({t for t, _ in files})} labels")
    print(f"ours decided by: {dict(how_counts.most_common())}")
    header = f"{'group':<34}{'files':>6}  " + "".join(f"{c:>14}" for c in cols)
    print(header)
    for g in ("all", "338", "ambiguous"):
        print(f"{g:<34}{seen[g]:>6}  " + "".join(f"{pct(c, g):>14}" for c in cols))
    for c in cols:
        if c.startswith("ours"):
            continue
        ours = "ours-noname" if c.endswith("noname") else "ours"
        if right[c]["all"]:
            print(
                f"ratio {ours}/{c}: all {right[ours]['all'] / right[c]['all']:.2f}x, "
                f"338 {right[ours]['338'] / max(1, right[c]['338']):.2f}x, "
                f"ambiguous {right[ours]['ambiguous'] / max(1, right[c]['ambiguous']):.2f}x"
            )
    print("\nper language:")
    print(header)
    for g in sorted(k for k in seen if k.startswith("lang:")):
        print(f"{g[5:][:33]:<34}{seen[g]:>6}  " + "".join(f"{pct(c, g):>14}" for c in cols))
    print("\nseconds per 1000 files: " + ", ".join(f"{c} {1000 * timing[c] / len(files):.2f}" for c in cols))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder laid out as LABEL/files")
    ap.add_argument(
        "--sample-programs", type=Path, help="lay out --corpus from this sample-programs checkout"
    )
    ap.add_argument("--from-git", action="append", default=[], help="LABEL=REPO:.ext,.ext (repeatable)")
    ap.add_argument("--limit-per-label", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.sample_programs:
        layout_sample_programs(args.sample_programs, args.corpus)
    for spec in args.from_git:
        layout_from_git(spec, args.corpus, args.limit_per_label)
    if not args.corpus.is_dir():
        print(f"error: {args.corpus}: not a folder", file=sys.stderr)
        return 2
    evaluate(args.corpus, args.limit_per_label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
