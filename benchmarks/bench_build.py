"""The whole build on real code: per-stage throughput, fixed cost and peak memory of `coderforge build`.

Input: the pinned real-code corpus (tests/realdata/packages.py; `make real-code` fills
~/.cache/coderforge/real-code with 15 PyPI/npm releases, 34.8 MB unpacked) and
recipes/real-code.yaml (GitHub source through langid, file rules, samples, secrets, near-dedup,
decontamination, tokenizer, token counts, plan, shards). In one run:

1. anchor: every archive read plainly (tarfile, every member's bytes), MiB/s per core;
2. `coderforge build` of the real-code recipe as a subprocess, fresh output in a temporary folder,
   `--workers N` (default 1, so per-core figures are clean) and OMP_NUM_THREADS=1, while the whole
   process tree's RSS (sum over processes) and CPU time are sampled every 50 ms (psutil; the code
   is corpus/app/measure.py, shared with `coderforge estimate`). Each stage's window is
   [end - seconds_this_run, end]: seconds from manifest.json, end = the newest of the stage's
   completions/* and stats.json. Samples in a window give the stage's peak RSS and
   CPU seconds; before the first stage is start-up (imports, recipe, plan), after the last the
   manifest (sha256 of every file) and exit;
3. the same recipe on the smallest package only (16 KB unpacked): each stage's seconds there are
   its fixed cost, whatever the input;
4. with `--scale K [K ...]`, builds of K copies of every archive (copy j under `<repo>-cj`, every
   snake_case/camelCase/PascalCase identifier of every text file suffixed `_cj`; one appended line
   per file would still leave the copies near duplicates at Jaccard 0.7 on word 5-grams). Copies
   with few such identifiers (prose, licences, data, short C names) stay near duplicates and dedup
   removes them, as it would across real repositories, so the stages after dedup see less than K
   times the documents (the table says how many), to show how peak RSS grows with input.

Per stage: MiB/s per core = bytes_in / seconds / workers ("net": without the stage's fixed cost);
for the build, raw input (the archives' unpacked bytes) / seconds / workers, over the GitHub
stages (github/*) and over the whole process wall time. "per CPU-s" divides by the stage's CPU seconds
instead (the build's own count, `cpu_seconds_this_run` in its manifest): steadier on a shared
machine. RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false by default: BPE training in
mix/tokenizer runs in its calling thread (a Rayon pool of one thread cost it 2-3x the CPU inside a
build); --rayon-threads 0 leaves the tokenizers library its own pool of every CPU.

    .venv/bin/python benchmarks/bench_build.py                      # K=1 + tiny build, < 1 min
    .venv/bin/python benchmarks/bench_build.py --scale 3 10 --json /tmp/build.json   # ~4 min more

Measured on a shared 2-core CPU machine, --workers 1, other jobs running (load 0.0-1.4; the same
build moves by about 20% between runs), K=1: 33.2 MiB unpacked, 2,109 files -> 641 documents,
3.0M tokens.
  plain read (anchor)          190-232 MiB/s per core
  GitHub path, raw input       9.4-10.7 MiB/s per core at K=1, 14-16 at K=3 to 30
  whole build, raw input       K=1: 3.1-4.2 MiB/s per core (8.0-10.6 s; was 2.1, 16.1 s, before
                               the shard path's ids went through tiktoken's encoder); --fuse
                               3.6-4.5 (7.4-9.2 s), its GitHub path 13.3-15.5 against 11.2-14.5
                               apart in the same runs
                               K=3 / 10 / 30 (102 / 341 / 1,031 MiB): 4.9-5.6 / 5.6-6.4 / 6.3:
                               the fixed costs (process start-up 1.4-2.0 s, BPE training, which
                               grows only until tokenizer.sample_documents) weigh less as the
                               input grows
  per stage, MiB/s per core    K=1: documents 19 (net 25-28), langid 30-36, files 27-43,
                               samples 28-34, secrets 20-21, dedup-signatures 34-49, dedup
                               96-120, decontam 19.5-21 (net 24-26; 15-17 before one
                               Aho-Corasick pass and the index kept on disk), tokens 6.5-9.6
                               K=10: documents 35-42, langid 50-56, files 37-48, samples 30-32,
                               secrets 18-22, dedup-signatures 42-44, decontam 19-21, tokens
                               8.1-10.2
  fixed cost per stage         median 0.02-0.03 s; github/documents 0.39-0.56 s (once per
                               process: pyarrow's first list conversion imports pandas, 0.2-0.3 s,
                               and the licence classifier loads its data, 0.1-0.3 s),
                               all/decontam 0.09-0.10 s (the benchmark index, loaded
                               from disk; 0.20-0.25 s when each process built it), the rest <= 0.06 s; + 1.4-2.0 s process start-up
  peak RSS of the tree         K=1/3/10/30: 454/560/702/864 MiB and, in another run, 463/573/704
                               at K=1/3/10: under 1 GiB at 1 GiB of input, one process
                               (--workers 1) holding every stage in turn. The mix stages stream
                               (texts read 32 rows and tokenized 4 Mi characters at a time, the
                               plan and the shard writer holding numbers) and add at most 32-63
                               MiB to what the process holds when they start; the growth is the
                               earlier stages' (all/decontam 403/493/704 MiB, all/dedup
                               383/464/628) and BPE training's sample
Where the time goes (py-spy and cProfile, K=1): mix/tokenizer is BPE training on the sample;
mix/tokens is tiktoken's encoder (corpus/mix/rank_encoder.py, the same ids as HF tokenizers' at
about 6x its speed) and FIM's second encoding of a document whole; github/documents is gzip
reading plus Parquet writing of kept and dropped files; all/decontam is the Aho-Corasick pass
over each document's joined tokens (about 0.12 s of its 0.4 s) and joining them (0.13 s).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.app.measure import MIB, Build, analyse, run_measured
from tests.realdata import fetch
from tests.realdata.packages import PACKAGES, cache_dir

ROOT = Path(__file__).resolve().parents[1]
SLOW = 20.0  # MiB/s per core: the bar a stage should clear
# programmatic identifiers only: snake_case (an inner underscore), camelCase, PascalCase; never a
# prose word, a keyword or an all-caps marker such as BEGIN/PRIVATE/KEY or a "generated" banner
IDENT = re.compile(
    rb"\b(?:[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+|[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*)\b"
)


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class Repo:
    name: str
    archive: Path
    license: str
    unpacked: int  # bytes of its regular files


def real_repos(cache: Path) -> list[Repo]:
    recipe = yaml.safe_load(fetch.RECIPE.read_text())
    licenses = {r["name"]: r.get("license") for r in recipe["sources"]["github"]["repos"]}
    repos, missing = [], []
    for pkg in PACKAGES:
        hit = fetch.cached(cache, pkg)
        if hit is None:
            missing.append(pkg.repo)
        elif pkg.repo in licenses:
            repos.append(Repo(pkg.repo, hit.path, licenses[pkg.repo], unpacked_bytes(hit.path)))
    if missing:
        sys.exit(
            f"the real-code corpus is missing or stale in {cache} ({', '.join(missing)}): run `make real-code`"
        )
    return repos


def unpacked_bytes(path: Path) -> int:
    with tarfile.open(path, "r:*") as tar:
        return sum(m.size for m in tar if m.isfile())


def write_recipe(path: Path, output: Path, repos: list[Repo]) -> Path:
    recipe = yaml.safe_load(fetch.RECIPE.read_text())
    recipe["sources"]["github"]["repos"] = [
        {"name": r.name, "archive": str(r.archive), "license": r.license} for r in repos
    ]
    recipe["output"] = str(output)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def plain_read(paths: list[Path], repeat: int) -> dict:
    """The anchor: decompress every archive and read every member's bytes, one core."""
    best_cpu = best_wall = float("inf")
    total = 0
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        total = 0
        for p in paths:
            with tarfile.open(p, "r:*") as tar:
                for m in tar:
                    if m.isfile():
                        total += len(tar.extractfile(m).read())
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return {
        "bytes": total,
        "cpu_s": best_cpu,
        "wall_s": best_wall,
        "mib_s_per_core": total / MIB / best_cpu,
        "mib_s_wall": total / MIB / best_wall,
    }


def vary(data: bytes, tag: bytes) -> bytes:
    if b"\0" in data[:8192]:
        return data  # binary: dropped by the reader whatever it holds
    return IDENT.sub(lambda m: m.group(0) + tag, data)


def scaled_copy(repo: Repo, j: int, dest: Path) -> Repo:
    """Copy j of `repo`: its top folder and name suffixed -cj, every identifier suffixed _cj."""
    tag = f"_c{j}".encode()
    out = dest / f"{repo.archive.name.removesuffix('.tar.gz')}-c{j}.tar.gz"
    total = 0
    with (
        tarfile.open(repo.archive, "r:*") as src,
        tarfile.open(out, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT) as dst,
    ):
        for m in src:
            top, _, rest = m.name.partition("/")
            info = tarfile.TarInfo(f"{top}-c{j}/{rest}" if rest else f"{top}-c{j}")
            info.type, info.mode, info.mtime = m.type, m.mode, m.mtime
            if m.isfile():
                data = vary(src.extractfile(m).read(), tag)
                info.size = len(data)
                total += len(data)
                dst.addfile(info, io.BytesIO(data))
            elif m.isdir():
                dst.addfile(info)
    return Repo(f"{repo.name}-c{j}", out, repo.license, total)


# ---------------------------------------------------------------- the build and its samples


def coderforge() -> list[str]:
    exe = Path(sys.executable).parent / "coderforge"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("coderforge")
    return [found] if found else [sys.executable, "-c", "from corpus.app.cli import run; run()"]


def run_build(
    recipe: Path, output: Path, workers: int, interval: float, log: Path, rayon: int, fuse: bool = False
) -> Build:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if rayon > 0:
        env["RAYON_NUM_THREADS"] = str(rayon)
    if rayon == 1:  # one core per stage, as `coderforge estimate` measures (corpus.app.estimate)
        env["TOKENIZERS_PARALLELISM"] = "false"
    cmd = [*coderforge(), "build", str(recipe), "--workers", str(workers), "--fuse" if fuse else "--no-fuse"]
    b, rc = run_measured(cmd, output, workers, log=log, env=env, cwd=ROOT, interval=interval)
    if rc != 0:
        sys.exit(f"coderforge build {recipe} failed ({rc}):\n{log.read_text()[-3000:]}")
    return b


def totals(a: dict, raw: int, workers: int) -> dict:
    gh = [r for r in a["stages"] if r["stage"].startswith("github/")]
    gh_s = sum(r["seconds"] for r in gh)
    gh_cpu = sum(r["cpu_s"] for r in gh)
    docs = a["stages"][0]["documents_in"] if a["stages"] else 0
    return {
        "raw_bytes": raw,
        "github_seconds": gh_s,
        "github_mib_s_per_core": raw / MIB / gh_s / workers if gh_s else None,
        "github_mib_s_per_cpu_s": raw / MIB / gh_cpu if gh_cpu else None,
        "github_peak_rss_mib": max((r["peak_rss_mib"] for r in gh), default=0),
        "build_mib_s_per_core": raw / MIB / a["wall_s"] / workers,
        "build_mib_s_per_cpu_s": raw / MIB / a["cpu_s"] if a["cpu_s"] else None,
        "build_docs_s": docs / a["wall_s"],
    }


# ---------------------------------------------------------------- report


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain columns
        print(title)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for r in [header, *rows]:
            print(
                "  ".join(
                    c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        return
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    Console(width=200).print(table)


def report_stages(a: dict, t: dict, anchor: dict, workers: int) -> None:
    header = [
        "stage",
        "docs in",
        "MiB in",
        "s",
        "fixed s",
        "MiB/s/core",
        "net",
        "per CPU-s",
        "docs/s",
        "peak RSS MiB",
    ]
    rows = [
        [
            "start-up (imports, plan)",
            "",
            "",
            f"{a['startup_s']:.2f}",
            "",
            "",
            "",
            "",
            "",
            f"{a['startup_peak_rss_mib']:.0f}",
        ]
    ]
    for r in a["stages"]:
        slow = r["mib_s_per_core"] is not None and r["mib_s_per_core"] < SLOW
        rows.append(
            [
                r["stage"] + (" *" if slow else ""),
                str(r["documents_in"]),
                f"{r['bytes_in'] / MIB:.1f}",
                f"{r['seconds']:.2f}",
                fmt(r.get("fixed_s"), ".2f"),
                fmt(r["mib_s_per_core"]),
                fmt(r.get("mib_s_per_core_net")),
                fmt(r["mib_s_per_cpu_s"]),
                fmt(r["docs_s"], ".0f"),
                f"{r['peak_rss_mib']:.0f}",
            ]
        )
    rows.append(
        [
            "manifest + exit",
            "",
            "",
            f"{a['manifest_exit_s']:.2f}",
            "",
            "",
            "",
            "",
            "",
            f"{a['manifest_exit_peak_rss_mib']:.0f}",
        ]
    )
    rows.append(
        [
            "GitHub path (raw input)",
            str(a["stages"][0]["documents_in"]),
            f"{t['raw_bytes'] / MIB:.1f}",
            f"{t['github_seconds']:.2f}",
            "",
            fmt(t["github_mib_s_per_core"]),
            "",
            fmt(t["github_mib_s_per_cpu_s"]),
            "",
            f"{t['github_peak_rss_mib']:.0f}",
        ]
    )
    rows.append(
        [
            "whole build (raw input)",
            str(a["stages"][0]["documents_in"]),
            f"{t['raw_bytes'] / MIB:.1f}",
            f"{a['wall_s']:.2f}",
            "",
            fmt(t["build_mib_s_per_core"]),
            "",
            fmt(t["build_mib_s_per_cpu_s"]),
            fmt(t["build_docs_s"], ".0f"),
            f"{a['peak_rss_mib']:.0f}",
        ]
    )
    rows.append(
        [
            "plain read (anchor)",
            "",
            f"{anchor['bytes'] / MIB:.1f}",
            f"{anchor['cpu_s']:.2f}",
            "",
            fmt(anchor["mib_s_per_core"]),
            "",
            "",
            "",
            "",
        ]
    )
    print_table(
        f"coderforge build, real-code recipe, --workers {workers} (* below {SLOW:.0f} MiB/s per core; "
        "net = without the stage's fixed cost)",
        header,
        rows,
    )


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="tasks running at once (default 1)")
    parser.add_argument(
        "--scale", type=int, nargs="*", default=[], metavar="K", help="also build K copies of the input"
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--fuse",
        action="store_true",
        help="build with executor.fuse: each source's chain of document stages in one task per rank "
        "(the chain's stages share its time by its clock)",
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="real-code cache (default: make real-code's)"
    )
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, seconds")
    parser.add_argument("--keep", type=Path, help="keep outputs and logs in this folder")
    parser.add_argument(
        "--rayon-threads",
        type=int,
        default=1,
        help="RAYON_NUM_THREADS of the build: the tokenizers library's thread pool (0 = its default, every CPU)",
    )
    args = parser.parse_args()

    repos = real_repos(cache_dir(args.cache))
    raw = sum(r.unpacked for r in repos)
    print(
        f"real-code: {len(repos)} archives, {raw / 1e6:.1f} MB unpacked; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; --workers {args.workers}{' --fuse' if args.fuse else ''}"
    )

    anchor = plain_read([r.archive for r in repos], repeat=3)
    print(
        f"plain read: {anchor['mib_s_per_core']:.1f} MiB/s per core ({anchor['cpu_s']:.2f} CPU s, best of 3)"
    )

    work = Path(tempfile.mkdtemp(prefix="bench-build-", dir=args.keep))
    result: dict = {
        "workers": args.workers,
        "rayon_threads": args.rayon_threads,
        "cpus": os.cpu_count(),
        "raw_bytes": raw,
        "plain_read": anchor,
    }
    try:
        smallest = min(repos, key=lambda r: r.unpacked)
        tiny = work / "tiny"
        b = run_build(
            write_recipe(work / "tiny.yaml", tiny, [smallest]),
            tiny,
            args.workers,
            args.interval,
            work / "tiny.log",
            args.rayon_threads,
            args.fuse,
        )
        tiny_a = analyse(b, None, args.interval)
        fixed = {r["stage"]: r["seconds"] for r in tiny_a["stages"]}
        result["tiny"] = {"repo": smallest.name, "raw_bytes": smallest.unpacked, **tiny_a}
        print(
            f"tiny build ({smallest.name}, {smallest.unpacked / 1e3:.0f} KB): {tiny_a['wall_s']:.1f} s wall, "
            f"stages {sum(fixed.values()):.1f} s, start-up {tiny_a['startup_s']:.1f} s, "
            f"peak RSS {tiny_a['peak_rss_mib']:.0f} MiB"
        )

        out = work / "k1"
        b = run_build(
            write_recipe(work / "k1.yaml", out, repos),
            out,
            args.workers,
            args.interval,
            work / "k1.log",
            args.rayon_threads,
            args.fuse,
        )
        a = analyse(b, fixed, args.interval)
        t = totals(a, raw, args.workers)
        result["build"] = {**a, **t}
        report_stages(a, t, anchor, args.workers)
        slow = [
            r["stage"] for r in a["stages"] if r["mib_s_per_core"] is not None and r["mib_s_per_core"] < SLOW
        ]
        print(f"below {SLOW:.0f} MiB/s per core: {', '.join(slow) or 'none'}")
        print(
            f"fixed cost per stage (tiny build): median {sorted(fixed.values())[len(fixed) // 2]:.2f} s, "
            f"max {max(fixed.values()):.2f} s ({max(fixed, key=fixed.get)}), all stages {sum(fixed.values()):.2f} s; "
            f"process start-up {tiny_a['startup_s']:.2f} s"
        )
        print(
            f"CPU {a['cpu_s']:.1f} s for {a['wall_s']:.1f} s wall; peak RSS of the tree {a['peak_rss_mib']:.0f} MiB "
            f"(largest process {a['peak_process_rss_mib']:.0f} MiB, up to {a['max_processes']} processes)"
        )

        scales = sorted({k for k in args.scale if k > 1})
        if scales:
            copies_dir = work / "copies"
            copies_dir.mkdir()
            copies: list[list[Repo]] = [repos]
            runs = [{"k": 1, "raw_bytes": raw, **a, **t}]
            for k in scales:
                t_copy = time.perf_counter()
                while len(copies) < k:
                    j = len(copies)
                    copies.append([scaled_copy(r, j, copies_dir) for r in repos])
                chosen = [r for group in copies[:k] for r in group]
                k_raw = sum(r.unpacked for r in chosen)
                print(
                    f"K={k}: {len(chosen)} archives, {k_raw / 1e6:.0f} MB unpacked "
                    f"(copies written in {time.perf_counter() - t_copy:.0f} s); building ...",
                    flush=True,
                )
                out = work / f"k{k}"
                b = run_build(
                    write_recipe(work / f"k{k}.yaml", out, chosen),
                    out,
                    args.workers,
                    args.interval,
                    work / f"k{k}.log",
                    args.rayon_threads,
                    args.fuse,
                )
                ka = analyse(b, fixed, args.interval)
                runs.append({"k": k, "raw_bytes": k_raw, **ka, **totals(ka, k_raw, args.workers)})
                shutil.rmtree(out, ignore_errors=True)
            result["scale"] = runs
            report_scale(runs)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"outputs and logs kept in {work}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float) + "\n")
        print(f"wrote {args.json}")
    return 0


def report_scale(runs: list[dict]) -> None:
    def stage(run: dict, label: str) -> dict:
        return next((r for r in run["stages"] if r["stage"] == label), {})

    top = sorted(runs[-1]["stages"], key=lambda r: -r["peak_rss_mib"])[:4]
    header = [
        "K",
        "MiB raw",
        "docs in",
        "after dedup",
        "wall s",
        "MiB/s/core",
        "GitHub MiB/s/core",
        "peak RSS MiB",
    ]
    header += [f"{r['stage']} RSS" for r in top]
    rows = []
    for run in runs:
        dedup = stage(run, "all/dedup")
        rows.append(
            [
                str(run["k"]),
                f"{run['raw_bytes'] / MIB:.0f}",
                str(run["stages"][0]["documents_in"]),
                str(dedup.get("documents_out", "-")),
                f"{run['wall_s']:.0f}",
                fmt(run["build_mib_s_per_core"]),
                fmt(run["github_mib_s_per_core"]),
                f"{run['peak_rss_mib']:.0f}",
                *[f"{stage(run, r['stage']).get('peak_rss_mib', 0):.0f}" for r in top],
            ]
        )
    print_table("peak RSS of the process tree as the input grows (K copies of every archive)", header, rows)


if __name__ == "__main__":
    sys.exit(main())
