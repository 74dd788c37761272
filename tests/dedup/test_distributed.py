"""Components by rounds of parallel tasks (`cluster_rounds`) give exactly the one-task results."""

from __future__ import annotations

import random
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from corpus.core.errors import BuildError
from dedup.components import connected_components
from dedup.config import DedupConfig
from dedup.evaluation import plant_variant, real_texts
from dedup.layout import read_json
from dedup.report import cluster_report
from dedup.rounds import large_star, small_star
from tests.dedup.helpers import doc, drops, kept_ids, run_dedup, write_input

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = DedupConfig(cluster_rounds=40, cluster_shards=3)
SAME_REPORT = (
    "documents",
    "documents_without_shingles",
    "clusters",
    "clustered_documents",
    "duplicates",
    "exact_duplicates",
    "near_duplicates",
    "cluster_sizes",
    "candidates_compared",
    "kept_similarity_histogram",
    "verified_pairs",
)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return real_texts(30, seed=1)


def _stars(a: np.ndarray, b: np.ndarray) -> tuple[int, dict[int, int]]:
    """The rounds in one process: (rounds run, leaf -> smallest ref of its component)."""
    key, other = np.maximum(a, b), np.minimum(a, b)
    previous, r = None, 0
    while True:
        if r % 2 == 0:
            x, y, changes = small_star(key, other)
            key, other = np.concatenate([x, y]), np.concatenate([y, x])
        else:
            key, other, changes = large_star(key, other)
        if changes == 0 and previous == 0:
            leaf = other < key
            return r + 1, dict(zip(key[leaf].tolist(), other[leaf].tolist(), strict=True))
        previous, r = changes, r + 1


def test_star_rounds_find_the_components_of_random_graphs():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n, m = int(rng.integers(2, 200)), int(rng.integers(1, 300))
        a, b = rng.integers(0, n, m).astype(np.uint64), rng.integers(0, n, m).astype(np.uint64)
        a, b = a[a != b], b[a != b]
        nodes, root = connected_components(a, b)
        expected = {x: r for x, r in zip(nodes.tolist(), root.tolist(), strict=True) if x != r}
        assert _stars(a, b)[1] == expected
    chain = rng.permutation(1000).astype(np.uint64)
    rounds, labels = _stars(chain[:-1], chain[1:])
    assert set(labels.values()) == {0} and len(labels) == 999
    assert rounds <= 24  # logarithmic in the diameter, not 999 as plain label propagation


def _compare(tmp_path: Path, docs, source: str = "text", tasks: int = 3, config: DedupConfig = ROUNDS):
    """Run the default and the round mode on the same input; both must agree on everything."""
    write_input(tmp_path / "one", docs, source=source)
    run_dedup(tmp_path / "one", DedupConfig(), tasks=tasks, source=source)
    write_input(tmp_path / "rounds", docs, source=source)
    stages, _ = run_dedup(tmp_path / "rounds", config, tasks=tasks, source=source)
    assert kept_ids(tmp_path / "rounds", source) == kept_ids(tmp_path / "one", source)
    assert drops(tmp_path / "rounds", source) == drops(tmp_path / "one", source)
    merged = cluster_report(str(tmp_path / "rounds" / source))
    single = cluster_report(str(tmp_path / "one" / source))
    for key in SAME_REPORT:
        assert merged[key] == single[key], key
    # shard reports merge ties of equal size by kept id, the one-task report by smallest ref
    assert [c["size"] for c in merged["largest_clusters"]] == [c["size"] for c in single["largest_clusters"]]
    return stages


def _rounds_run(out: Path, source: str = "text") -> int:
    return len(list((out / source).glob("dedup-round*/completions")))


def test_chain_needs_several_rounds(tmp_path: Path, texts):
    """Each document a variant of the one before: its ends are far apart, several hops, one cluster."""
    rng = random.Random(21)
    chain = [texts[2]]
    for _ in range(23):
        chain.append(plant_variant(chain[-1], 0.8, rng)[0])
    docs = [doc(f"c{i:02d}", t) for i, t in enumerate(chain)] + [
        doc(f"o{i}", t) for i, t in enumerate(texts[5:9])
    ]
    _compare(tmp_path, docs)
    assert len(drops(tmp_path / "one")) >= 20
    assert _rounds_run(tmp_path / "rounds") >= 4
    write_input(tmp_path / "few", docs)
    with pytest.raises(BuildError, match="did not settle in cluster_rounds = 2 rounds"):
        run_dedup(tmp_path / "few", DedupConfig(cluster_rounds=2, cluster_shards=3), tasks=3)


def test_giant_cluster_and_copies(tmp_path: Path, texts):
    rng = random.Random(5)
    docs = [doc("base", texts[1])]
    docs += [doc(f"v{i:03d}", plant_variant(texts[1], 0.9, rng)[0]) for i in range(80)]
    docs += [doc(f"other{i}", t) for i, t in enumerate(texts[2:10])]
    docs += [doc(f"copy{i}", t) for i, t in enumerate(texts[2:6])]
    _compare(tmp_path, docs)
    assert read_json(str(tmp_path / "rounds" / "text" / "dedup-clusters" / "report.json"))["documents"] == 93


def test_all_identical_and_empty_documents(tmp_path: Path, texts):
    docs = [doc(f"copy{i:02d}", texts[0]) for i in range(30)] + [doc("empty-a", ""), doc("empty-b", " ")]
    _compare(tmp_path, docs, tasks=2)
    assert kept_ids(tmp_path / "rounds") == ["copy00", "empty-a", "empty-b"]


def test_empty_input(tmp_path: Path):
    _compare(tmp_path, [], tasks=2)
    assert kept_ids(tmp_path / "rounds") == [] and _rounds_run(tmp_path / "rounds") == 2


def test_languages_levels_and_one_shard(tmp_path: Path, texts):
    """Exact copies across partitions and near-duplicates within them, in one pass; any shard count."""
    rng = random.Random(13)
    languages = ["Go", "Rust", "Lua"]
    docs = []
    for i, t in enumerate(texts[:12]):
        meta = {"source": "github", "language": languages[i % 3]}
        docs.append(doc(f"github:o/r{i:02d}/f", t, **meta))
        docs.append(doc(f"github:o/r{i:02d}/copy", t, source="github", language=languages[(i + 1) % 3]))
        if i % 3 == 0:
            docs.append(doc(f"github:o/r{i:02d}/near", plant_variant(t, 0.85, rng)[0], **meta))
    stages = _compare(tmp_path, docs, source="github")
    assert "dedup-exact" not in [s.name for s in stages]  # no exact-first pass
    for name, config in (
        ("single", DedupConfig(cluster_rounds=40)),
        ("five", DedupConfig(cluster_rounds=40, cluster_shards=5)),
    ):
        write_input(tmp_path / name, docs, source="github")
        run_dedup(tmp_path / name, config, tasks=2, source="github")
        assert drops(tmp_path / name, "github") == drops(tmp_path / "one", "github")


def test_same_bytes_on_a_rerun(tmp_path: Path, texts):
    rng = random.Random(3)
    docs = [doc(f"d{i}", t) for i, t in enumerate(texts[:16])]
    docs += [doc(f"n{i}", plant_variant(t, 0.8, rng)[0]) for i, t in enumerate(texts[:10])]
    for name in ("a", "b"):
        write_input(tmp_path / name, docs)
        run_dedup(tmp_path / name, ROUNDS, tasks=3)
    assert _files(tmp_path / "a") == _files(tmp_path / "b") != {}


OUTPUTS = ("dedup/data", "dedup/drops/dedup", "dedup-clusters", "dedup-labels", "dedup-round*")


def _files(out: Path) -> dict[str, bytes]:
    found = {}
    root = out / "text"
    for pattern in OUTPUTS:
        for folder in sorted(root.glob(pattern)):
            for p in sorted(folder.rglob("*")):
                rel = p.relative_to(root).as_posix()
                skip = p.name.startswith(".") or p.name in ("executor.json", "stats.json")  # paths, timings
                if (
                    p.is_file()
                    and not skip
                    and not any(f"/{d}/" in rel for d in ("logs", "stats", "completions"))
                ):
                    found[rel] = p.read_bytes()
    return found


@pytest.mark.slow
def test_resume_after_kill_in_a_round(tmp_path: Path, texts, killer):
    rng = random.Random(9)
    chain = [texts[4]]
    for _ in range(12):
        chain.append(plant_variant(chain[-1], 0.8, rng)[0])
    docs = [doc(f"c{i:02d}", t) for i, t in enumerate(chain)] + [
        doc(f"d{i}", t) for i, t in enumerate(texts[10:20])
    ]
    write_input(tmp_path / "ref", docs)
    run_dedup(tmp_path / "ref", ROUNDS)
    out = tmp_path / "killed"
    write_input(out, docs)
    stage = 3  # signatures, buckets, round000, round001: killed in a large-star round
    run = killer(
        [sys.executable, "-m", "tests.dedup.resume_runner", str(out), str(stage), "rounds"],
        env={"OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == -signal.SIGKILL, run.output
    completions = out / "text" / "dedup-round001" / "completions"
    done_before = sorted(p.name for p in completions.glob("*"))
    assert done_before == ["00000", "00001"]  # the last of three tasks was killed
    finished = out / "text" / "dedup-round001" / "changes" / "00000.json"
    mtime = finished.stat().st_mtime_ns
    run_dedup(out, ROUNDS)  # the same command again
    assert finished.stat().st_mtime_ns == mtime  # the finished task was skipped, not redone
    assert _files(out) == _files(tmp_path / "ref")
    assert drops(out) == drops(tmp_path / "ref")
