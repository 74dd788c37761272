r"""Files per second on one core: ours vs enry (Go) vs magika (ONNX), on the same files in memory.

    python benchmarks/bench_langid_throughput.py --corpus DIR
    python benchmarks/bench_langid_throughput.py --real-code [--tree PATH]

DIR is any folder of files (for example the LABEL/files folder that bench_langid_accuracy.py lays
out). Reported: all files with names; the subset our rules decide by name alone; and all files
with names stripped (content only). Everything runs in this one process, so the figures are per
core. The goal: 20,000 files/s per core for every file of a real tree, names and contents given.

``--real-code`` reads every file of the pinned real-code archives (``make real-code``; 15 PyPI and
npm releases, 2,109 files, nothing skipped) into memory, and ``--tree PATH`` adds every file under
PATH (a venv's site-packages, say; files over ``--max-bytes`` are left out); it then times
``identify(path, content)`` per file side by side with ``enry.get_language`` on the same (path,
content) pairs, with ``OMP_NUM_THREADS=1``, over ``--repeats`` interleaved passes (ours, enry,
ours, ...), and reports the best pass of each in files per second of this process's CPU time,
which is what one core did, with the wall-clock rate beside it. It also times the files decided
by name alone; ``--breakdown`` adds where the time goes, by how files were decided.

Real-code corpus, one core of a 2-core machine shared with other work (load average 2.5-5):
three runs, each interleaving the previous commit's ``classifiers/langid`` (imported under another
name), the current one and enry in one process; the range over the runs and the ratio to enry
within each run. The wall clock moved by 2x between runs (other processes took turns on the
core); CPU time by 15% at most.

=============================================  =================  ===============  ===========
                                               ours, files/s      enry, files/s    ours / enry
=============================================  =================  ===============  ===========
all 2,109 files, before, CPU time              15,500 - 16,100    7,200 - 8,200    2.0 - 2.2x
all 2,109 files, after, CPU time               28,800 - 31,100    7,200 - 8,200    3.5 - 4.3x
all 2,109 files, after, wall clock             14,800 - 30,900    3,900 - 7,100    3.8 - 4.3x
1,307 decided by name (both), before, CPU      60,000 - 63,500    25,600 - 30,900  2.0 - 2.4x
1,307 decided by name (both), after, CPU       78,500 - 80,800    25,600 - 30,900  2.6 - 3.2x
=============================================  =================  ===============  ===========

Where the time went and what changed (every change but the name rules below gives the same
answer on every file; ``tests/langid/test_fast_paths.py`` checks each against its plain version):

- files whose name does not decide (notes, licences, files without an extension, ``.rst``,
  ``.html``, ``.cs`` with its second candidate outside the list): the line statistics of
  ``not_code`` ran on every nameless file before any check needed them, and the operator test,
  one regular expression whose ``\w`` and ``\s`` branches were tried at every position, cost
  1.5 us a line. Now the statistics are computed only when a check reads them (``not_code.Scan``),
  are one ``map`` per statistic, two code characters no address or comment marker can remove
  decide a code line at once, and the operator test searches each part only where a character
  it needs is present. Licence phrases are looked for only where one of their rare words is.
  Private key and certificate probes share one search for ``BEGIN``.
- linguist's ``.h`` heuristic for C++ is one alternation of eight ``^\s*...`` branches; each
  alternative is now searched alone, and only where its own required strings are present
  (``rules.top_level_branches``): 2.5x faster on C/C++ headers.
- the content model's tokens: one ``findall`` with line breaks as tokens and a table of
  converted tokens instead of a Python step per token (20% faster; the model itself, ~200 us
  a file, is unchanged).
- ``PKG-INFO`` (24 files, ~1 ms each: line statistics and the model) is now decided by its name
  and its ``Description-Content-Type`` header, and ``.js.flow`` by the extension table
  (``classifiers/langid/extensions.py``); these 26 answers changed, deliberately.

A file decided by name costs ~6 us now (a NUL probe over 8,000 bytes, the modeline probe over the
first and last five lines, the name lookups, a cached answer). What is left (``--breakdown``):
linguist's heuristics on ``.h``/``.cs``/``.html`` (about a third of the time), the byte probes
and line statistics of the files no name decides (another third), and ~25 content-model calls
(source maps, ``.cfg``, ``.py,cover``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.langid import detect
from classifiers.langid.model import load_model


def rate(fn, items: list[tuple[str, bytes]], min_seconds: float = 2.0) -> float:
    """Files per second of `fn(name, content)` over `items`, repeated until `min_seconds` pass."""
    done = 0
    start = time.perf_counter()
    while True:
        for name, content in items:
            fn(name, content)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def real_code_files() -> list[tuple[str, bytes]] | None:
    """(path, content) of every file of the pinned real-code archives; None when they are missing."""
    from tests.realdata import fetch
    from tests.realdata.packages import PACKAGES, cache_dir

    items: list[tuple[str, bytes]] = []
    for pkg in PACKAGES:
        hit = fetch.cached(cache_dir(), pkg)
        if hit is None:
            return None
        with tarfile.open(hit.path) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    items.append((member.name, handle.read()))
    return items


def tree_files(root: Path, max_bytes: int) -> list[tuple[str, bytes]]:
    """(path relative to `root`, content) of every regular file under `root` up to `max_bytes`."""
    items = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= max_bytes:
            items.append((str(path.relative_to(root)), path.read_bytes()))
    return items


def interleaved(
    fns: dict[str, Callable[[str, bytes], object]], items: list[tuple[str, bytes]], repeats: int
) -> dict[str, tuple[float, float]]:
    """{name: (best CPU seconds, best wall seconds)} of one full pass of each function over
    `items`; the passes alternate between the functions, so a busy spell of the machine slows
    all of them alike, and the CPU time of this process is what one core spent."""
    best = {key: [float("inf"), float("inf")] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for name, content in items:
                fn(name, content)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            best[key] = [min(best[key][0], cpu), min(best[key][1], wall)]
    return {key: (cpu, wall) for key, (cpu, wall) in best.items()}


def breakdown(items: list[tuple[str, bytes]], repeats: int = 3) -> list[tuple[str, int, float]]:
    """(how the file was decided, files, CPU seconds) with each file's best of `repeats` runs,
    most time first."""
    spent: dict[str, list[float]] = {}
    for name, content in items:
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            found = detect(name, content)
            best = min(best, time.process_time() - start)
        cell = spent.setdefault(found.how, [0, 0.0])
        cell[0] += 1
        cell[1] += best
    return sorted(((how, int(n), secs) for how, (n, secs) in spent.items()), key=lambda r: -r[2])


def real_tree(args: argparse.Namespace) -> int:
    """The --real-code / --tree mode: identify(path, content) against enry on the same pairs."""
    import enry

    from classifiers.langid import identify

    sets: dict[str, list[tuple[str, bytes]]] = {}
    if args.real_code:
        files = real_code_files()
        if files is None:
            print("error: the real-code corpus is missing or stale: run `make real-code`", file=sys.stderr)
            return 2
        sets["real-code"] = files
    if args.tree:
        if not args.tree.is_dir():
            print(f"error: {args.tree}: not a folder", file=sys.stderr)
            return 2
        sets[str(args.tree)] = tree_files(args.tree, args.max_bytes)
    fns = {"ours": identify, "enry": enry.get_language}
    print(
        f"one core (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}), best of {args.repeats} "
        "interleaved passes; files per second of this process's CPU time (wall clock in brackets)"
    )
    print(f"{'set':<36}{'files':>7}{'ours':>20}{'enry':>20}   ours/enry")
    for label, items in sets.items():
        identify(*items[0])  # load the table and the model outside the timing
        by_name = [(n, c) for n, c in items if detect(n, c).how in {"filename", "extension"}]
        for key, subset in ((label, items), (f"{label}, decided by name", by_name)):
            best = interleaved(fns, subset, args.repeats)
            rates = {k: (len(subset) / cpu, len(subset) / wall) for k, (cpu, wall) in best.items()}
            cells = "".join(f"{f'{cpu:,.0f} ({wall:,.0f})':>20}" for cpu, wall in rates.values())
            ratio = rates["ours"][0] / rates["enry"][0]
            print(f"{key[-36:]:<36}{len(subset):>7}{cells}   {ratio:.2f}x")
        if args.breakdown:
            print(f"  where the time of {label} goes (CPU time, each file's best of three):")
            for how, n, secs in breakdown(items):
                print(f"    {how:<14}{n:>6} files {secs * 1e3:8.1f} ms {secs / n * 1e6:8.0f} us/file")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, help="a folder of files (names-only and content-only sets)")
    ap.add_argument("--real-code", action="store_true", help="every file of the real-code archives")
    ap.add_argument("--tree", type=Path, help="every file under this folder, with its path")
    ap.add_argument("--max-bytes", type=int, default=2_000_000, help="--tree: skip larger files")
    ap.add_argument("--repeats", type=int, default=5, help="--real-code/--tree: best of this many passes")
    ap.add_argument(
        "--breakdown", action="store_true", help="--real-code/--tree: time by how files are decided"
    )
    ap.add_argument("--magika-files", type=int, default=300, help="magika is slow; time it on this many")
    args = ap.parse_args()
    if args.real_code or args.tree:
        return real_tree(args)
    if args.corpus is None:
        ap.error("give --corpus DIR, --real-code or --tree PATH")
    if not args.corpus.is_dir():
        print(f"error: {args.corpus}: not a folder", file=sys.stderr)
        return 2
    items = [(p.name, p.read_bytes()) for p in sorted(args.corpus.rglob("*")) if p.is_file()]
    model = load_model()

    def ours(name: str, content: bytes) -> object:
        return detect(name, content, model=model)

    by_name = [(n, c) for n, c in items if ours(n, c).how in {"filename", "extension"}]
    stripped = [("", c) for _, c in items]
    results: dict[str, dict[str, float]] = {
        "decided by name": {},
        "all, with names": {},
        "all, names stripped": {},
    }
    results["decided by name"]["ours"] = rate(ours, by_name)
    results["all, with names"]["ours"] = rate(ours, items)
    results["all, names stripped"]["ours"] = rate(ours, stripped)
    try:
        import enry

        def enry_fn(name: str, content: bytes) -> object:
            return enry.get_language(name, content)

        results["decided by name"]["enry"] = rate(enry_fn, by_name)
        results["all, with names"]["enry"] = rate(enry_fn, items)
    except ImportError:
        print("enry not installed (pip install enry-python): its column is left out")
    try:
        from magika import Magika

        m = Magika()
        sample = stripped[: args.magika_files]
        results["all, names stripped"]["magika"] = rate(lambda _n, c: m.identify_bytes(c), sample, 5.0)
    except ImportError:
        print("magika not installed: its column is left out")
    print(f"{len(items)} files under {args.corpus}; {len(by_name)} decided by name; one core, files/s")
    print(f"{'set':<24}{'files':>7}{'ours':>12}{'enry':>12}{'magika':>12}   ratios")
    sizes = {
        "decided by name": len(by_name),
        "all, with names": len(items),
        "all, names stripped": len(items),
    }
    for key, res in results.items():
        cells = "".join(f"{res[s]:>12,.0f}" if s in res else f"{'-':>12}" for s in ("ours", "enry", "magika"))
        ratios = ", ".join(f"ours/{s} {res['ours'] / res[s]:.1f}x" for s in ("enry", "magika") if s in res)
        print(f"{key:<24}{sizes[key]:>7}{cells}   {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
