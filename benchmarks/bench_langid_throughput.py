"""Files per second on one core: ours vs enry (Go) vs magika (ONNX), on the same files in memory.

    python benchmarks/bench_langid_throughput.py --corpus DIR

DIR is any folder of files (for example the LABEL/files folder that bench_langid_accuracy.py lays
out). Reported: all files with names; the subset our rules decide by name alone (the goal there is
20,000 files/s per core); and all files with names stripped (content only). Everything runs in this
one process, so the figures are per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--magika-files", type=int, default=300, help="magika is slow; time it on this many")
    args = ap.parse_args()
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
