"""Walk + file rules throughput on a large real tree, against just reading the same files.

The reference is the cheapest thing any walker must do: `os.walk` the tree and read every regular
file's bytes. Ours walks the same tree as a repository (symlink and size checks), drops binary,
LFS, vendored/generated/minified files (linguist's rules), decodes UTF-8, tags the language
(classifiers.langid, unless --no-langid) and applies the DeepSeek-Coder file rules; linguist's
per-folder and per-name verdicts start unremembered in every run, as for a first repository. Both
run on one core over the same bytes, after one warm-up read so that both see the page cache, and
are timed in CPU seconds of the process (user + system), which is what "per core" means and what a
shared machine distorts least. The goal is at least half the speed of the plain read.

    .venv/bin/python benchmarks/bench_github_walk.py                    # site-packages, first 300 MB
    .venv/bin/python benchmarks/bench_github_walk.py --root PATH --max-mb 0   # a whole tree
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pick_files(root: Path, max_bytes: int, max_file_bytes: int) -> list[Path]:
    """Regular files of the tree in walk order, up to `max_bytes` in total (0 = all)."""
    chosen: list[Path] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            size = p.stat().st_size
            if size > max_file_bytes:
                continue
            chosen.append(p)
            total += size
            if max_bytes and total >= max_bytes:
                return chosen
    return chosen


def link_tree(files: list[Path], root: Path, dest: Path) -> None:
    """The chosen files as hard links (or copies) in a folder of their own: our walker and the
    plain read then see exactly the same files, with no data copied when linking works."""
    import shutil

    for f in files:
        target = dest / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


def plain_read(root: Path) -> tuple[int, int]:
    n = total = 0
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as fh:
                total += len(fh.read())
            n += 1
    return n, total


def ours(root: Path, langid: bool) -> tuple[int, int, dict[str, int]]:
    from collections import Counter

    from corpus.github.file_rules import check
    from corpus.github.linguist import load_rules
    from corpus.github.repo_reader import GithubRepoReader

    load_rules().paths.clear()  # no verdicts remembered from an earlier run over the same tree

    reader = GithubRepoReader(
        [{"name": "bench/tree", "path": str(root)}], max_file_bytes=1 << 40, languages=langid
    )
    kept = kept_bytes = 0
    reasons: Counter[str] = Counter()
    for doc in reader.run(None, 0, 1):
        meta = doc.metadata
        verdict = check(meta["path"], doc.text, meta.get("language") or meta.get("language_label"))
        if verdict:
            reasons[verdict[0]] += 1
        else:
            kept += 1
            kept_bytes += meta["size"]
    for _id, reason, _detail in reader._drops:
        reasons[reason] += 1
    return kept, kept_bytes, dict(reasons)


def main() -> int:
    default_root = Path(sysconfig.get_paths()["purelib"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=default_root)
    parser.add_argument("--max-mb", type=float, default=300, help="bytes of the tree to use (0 = all)")
    parser.add_argument("--max-file-mb", type=float, default=1.0, help="the walker's file-size cap")
    parser.add_argument("--no-langid", action="store_true", help="leave language identification out")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side, interleaved")
    args = parser.parse_args()

    files = pick_files(args.root, int(args.max_mb * 1e6), int(args.max_file_mb * 1e6))
    with tempfile.TemporaryDirectory(prefix="bench-github-walk-") as tmp:
        tree = Path(tmp) / "tree"
        link_tree(files, args.root, tree)
        n, total = plain_read(tree)  # warm-up: both sides then read from the page cache
        mb = total / 1e6
        print(f"tree: {args.root} -> {n} files, {mb:.1f} MB (one core)")
        t_reads: list[float] = []
        t_ours: list[float] = []
        result = None
        for _ in range(args.repeat):  # interleaved, so that both sides see the same machine load
            t_reads.append(_timed(lambda: plain_read(tree)))
            start = time.process_time()
            result = ours(tree, not args.no_langid)
            t_ours.append(time.process_time() - start)
        kept, kept_bytes, reasons = result or (0, 0, {})
        t_read, best = min(t_reads), min(t_ours)
        ratios = sorted(r / o for r, o in zip(t_reads, t_ours, strict=True))
    label = "walk + linguist + rules" + ("" if args.no_langid else " + langid")
    print(f"{'':28}{'MB/s/core':>10}{'CPU s':>9}")
    print(f"{'plain read (reference)':28}{mb / t_read:>10.1f}{t_read:>9.2f}")
    print(f"{label:28}{mb / best:>10.1f}{best:>9.2f}")
    print(
        f"ratio ours / plain read: {t_read / best:.2f} best-to-best, {ratios[len(ratios) // 2]:.2f} median of pairs"
    )
    print("(goal: >= 0.50)")
    print(
        f"kept {kept} files ({kept_bytes / 1e6:.1f} MB); dropped: "
        + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    )
    return 0


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds (user + system) of this process: per-core cost, not wall time, which on a
    shared machine mostly measures the neighbours."""
    start = time.process_time()
    fn()
    return time.process_time() - start


if __name__ == "__main__":
    sys.exit(main())
