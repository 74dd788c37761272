"""MiB per second on one core: the secrets step vs detect-secrets alone, on the same real files.

    OMP_NUM_THREADS=1 python benchmarks/bench_secrets.py [--mib 80] [--ds-mib 8]

The files are the pinned installs in the venv (torch==2.13.0: C/C++ headers, Python, YAML, JSON;
megatron-core==0.16.1: Python), sorted by path and taken evenly until `--mib` MiB are read. Ours is
the datatrove step (`SecretsFilter`: every detector, e-mails and IPs included, redaction and
records) over in-memory documents; detect-secrets is its Python API with its default plugins and
filters (`SecretsCollection.scan_file` under `default_settings()`), on `--ds-mib` MiB spread over the
same list (it is slow enough that the full set would take minutes), with ours timed again on that
subset for the ratio. Everything runs in this one process.

Measured on the shared 2-core CPU machine (Python 3.11, detect-secrets 1.5.0, load average ~1.5
from other work, so per-core figures move by about ±20% from run to run), 81 MiB / 10 MiB, three runs:

    ours (SecretsFilter, secrets + e-mails + IPs):   38-43 MiB/s per core   (target: 20)
    ours, secrets only (scanner, no PII):            54-60 MiB/s per core
    detect-secrets 1.5.0 (default plugins, filters):  0.2 MiB/s per core
    ratio on the same 10 MiB:                        ~190-270x
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datatrove.data import Document
from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

from classifiers.secrets.config import SecretsConfig
from classifiers.secrets.scanner import Detectors, scan
from classifiers.secrets.step import SecretsFilter

SITE = Path(__file__).resolve().parents[1] / ".venv" / "lib" / "python3.11" / "site-packages"
SUFFIXES = (".h", ".hpp", ".cuh", ".cpp", ".py", ".yaml", ".yml", ".json")


def pinned_files(mib: float) -> list[tuple[Path, str]]:
    found = sorted(
        p for root in (SITE / "torch", SITE / "megatron") for p in root.rglob("*") if p.suffix in SUFFIXES
    )
    files = [p for p in found if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    keep = min(1.0, mib * 2**20 / max(total, 1))
    picked = (
        [files[i] for i in range(len(files)) if int(i * keep) != int((i + 1) * keep)] if keep < 1 else files
    )
    return [(p, p.read_text(encoding="utf-8", errors="replace")) for p in picked]


def mib_of(items: list[tuple[Path, str]]) -> float:
    return sum(len(t.encode()) for _, t in items) / 2**20


def ours_step(items: list[tuple[Path, str]]) -> float:
    step = SecretsFilter(SecretsConfig(warn_share=1.0))
    docs = [Document(text=t, id=str(i), metadata={"path": str(p)}) for i, (p, t) in enumerate(items)]
    start = time.perf_counter()
    for _ in step.process(iter(docs), 0, 1):
        pass
    return mib_of(items) / (time.perf_counter() - start)


def ours_secrets_only(items: list[tuple[Path, str]]) -> float:
    detectors = Detectors(secrets=True, emails=False, ips=False)
    start = time.perf_counter()
    for p, t in items:
        scan(t, str(p), detectors)
    return mib_of(items) / (time.perf_counter() - start)


def detect_secrets_alone(items: list[tuple[Path, str]]) -> float:
    with default_settings():
        collection = SecretsCollection()
        start = time.perf_counter()
        for p, _ in items:
            collection.scan_file(str(p))
        return mib_of(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=float, default=80, help="MiB of real files for ours")
    parser.add_argument("--ds-mib", type=float, default=8, help="MiB of the same files for detect-secrets")
    args = parser.parse_args()
    items = pinned_files(args.mib)
    print(f"{len(items)} files, {mib_of(items):.1f} MiB (torch 2.13.0, megatron-core 0.16.1)")
    step = ours_step(items)
    print(f"ours (SecretsFilter, secrets + e-mails + IPs): {step:6.1f} MiB/s per core")
    only = ours_secrets_only(items)
    print(f"ours, secrets only (scanner):                  {only:6.1f} MiB/s per core")
    subset = pinned_files(args.ds_mib)  # spread over the same sorted list
    ds = detect_secrets_alone(subset)
    same = ours_step(subset)
    print(
        f"on {mib_of(subset):.1f} MiB of the same files: detect-secrets {ds:.2f} MiB/s, ours {same:.1f} MiB/s"
    )
    print(f"ratio (ours step / detect-secrets):            {same / ds:6.1f}x")


if __name__ == "__main__":
    main()
