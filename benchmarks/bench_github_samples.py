"""Repository-level samples: dependency extraction + lowest-in-degree ordering + concatenation,
against the plain concatenation of the same files in path order (what a sample costs at least).

Each top-level package of a real tree (default: the installed site-packages) is one repository
of Python files. Both sides build the same number of characters; ours also finds every import,
resolves it to files, splits the graph into components and orders each one.

    .venv/bin/python benchmarks/bench_github_samples.py
    .venv/bin/python benchmarks/bench_github_samples.py --root PATH --max-mb 50
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_repos(root: Path, max_bytes: int) -> dict[str, dict[str, str]]:
    repos: dict[str, dict[str, str]] = {}
    total = 0
    for top in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", "__pycache__"))
    ):
        files: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                path = Path(dirpath) / name
                try:
                    text = path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                files[path.relative_to(root).as_posix()] = text
                total += len(text)
        if files:
            repos[f"site/{top.name}"] = files
        if total >= max_bytes:
            break
    return repos


def plain(repos: dict[str, dict[str, str]]) -> int:
    n = 0
    for files in repos.values():
        n += len("".join(f"# {p}\n{t}\n" for p, t in sorted(files.items())))
    return n


def ours(repos: dict[str, dict[str, str]], seed: int) -> tuple[int, int, int]:
    from corpus.github.dependencies import components, dependencies, order_component

    chars = samples = edges = 0
    for repo, files in repos.items():
        deps = dependencies("python", files)
        edges += sum(len(v) for v in deps.values())
        for comp in components(files, deps):
            order = order_component(comp, deps, seed, repo)
            chars += len("".join(f"# {p}\n{files[p]}\n" for p in order))
            samples += 1
    return chars, samples, edges


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    parser.add_argument("--max-mb", type=float, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    repos = load_repos(args.root, int(args.max_mb * 1e6))
    n_files = sum(len(f) for f in repos.values())
    mb = sum(len(t) for f in repos.values() for t in f.values()) / 1e6
    print(f"{len(repos)} repositories, {n_files} Python files, {mb:.1f} MB (one core, CPU seconds)")
    t_plain, t_ours = [], []
    result = (0, 0, 0)
    for _ in range(args.repeat):
        start = time.process_time()
        plain(repos)
        t_plain.append(time.process_time() - start)
        start = time.process_time()
        result = ours(repos, seed=0)
        t_ours.append(time.process_time() - start)
    a, b = min(t_plain), min(t_ours)
    print(f"{'':34}{'MB/s/core':>10}{'CPU s':>8}")
    print(f"{'path-order concatenation (floor)':34}{mb / a:>10.1f}{a:>8.2f}")
    print(f"{'dependency-ordered samples':34}{mb / b:>10.1f}{b:>8.2f}")
    print(f"ratio ours / floor: {a / b:.2f}")
    chars, samples, edges = result
    print(f"{samples} samples, {edges} in-repository import edges, {chars / 1e6:.1f} M characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
