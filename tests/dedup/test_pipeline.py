"""The four dedup stages on real datatrove executors over real Parquet stage folders."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.core.errors import BuildError
from dedup.config import DedupConfig
from dedup.evaluation import plant_variant, real_texts
from dedup.layout import read_json
from dedup.report import cluster_report, format_report
from tests.dedup.helpers import doc, drops, kept_ids, run_dedup, write_input


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return real_texts(30, seed=1)


def test_all_identical_corpus(tmp_path: Path, texts):
    docs = [doc(f"copy{i:02d}", texts[0]) for i in range(40)]
    write_input(tmp_path, docs)
    _, layout = run_dedup(tmp_path)
    assert kept_ids(tmp_path) == ["copy00"]  # lowest id wins when stars and dates tie
    dropped = drops(tmp_path)
    assert len(dropped) == 39
    assert {r for r, _ in dropped.values()} == {"exact_duplicate"}
    assert {d["duplicate_of"] for _, d in dropped.values()} == {"copy00"}
    report = read_json(layout.report())
    assert report["clusters"] == 1 and report["duplicates"] == 39
    assert report["largest_clusters"][0] == {"kept_id": "copy00", "size": 40}


def test_one_giant_cluster_of_near_duplicates(tmp_path: Path, texts):
    rng = random.Random(5)
    docs = [doc("base", texts[1])]
    sims = []
    for i in range(150):
        variant, sim = plant_variant(texts[1], 0.9, rng)
        sims.append(sim)
        docs.append(doc(f"v{i:03d}", variant))
    docs += [doc(f"other{i}", t) for i, t in enumerate(texts[2:12])]
    write_input(tmp_path, docs)
    _, layout = run_dedup(tmp_path)
    kept = kept_ids(tmp_path)
    assert "base" in kept and not any(k.startswith("v") for k in kept)
    assert sum(k.startswith("other") for k in kept) == 10
    dropped = drops(tmp_path)
    assert len(dropped) == 150
    assert all(d["duplicate_of"] == "base" and d["jaccard"] >= 0.7 for _, d in dropped.values())
    assert all(reason == "near_duplicate" for reason, _ in dropped.values())
    report = read_json(layout.report())
    assert report["largest_clusters"][0]["size"] == 151
    assert report["near_duplicates"] == 150


def test_empty_and_short_documents(tmp_path: Path, texts):
    docs = [
        doc("empty-a", ""),
        doc("empty-b", "   \n"),
        doc("short-a", "Hello, World!"),
        doc("short-b", "hello world"),
        doc("short-c", "world hello"),
        doc("long", texts[3]),
    ]
    write_input(tmp_path, docs)
    _, layout = run_dedup(tmp_path)
    # empty documents are not anyone's duplicates here (emptiness is a filter's business)
    assert kept_ids(tmp_path) == ["empty-a", "empty-b", "long", "short-a", "short-c"]
    assert drops(tmp_path)["short-b"] == ("near_duplicate", {"duplicate_of": "short-a", "jaccard": 1.0})
    assert read_json(layout.report())["documents_without_shingles"] == 2


def test_keep_policy_prefers_stars_then_newest(tmp_path: Path, texts):
    docs = [
        doc("github:a/x/f.go", texts[4], source="github", language="Go", stars=10, created_at="2020-01-01"),
        doc("github:b/x/f.go", texts[4], source="github", language="Go", stars=50, created_at="2019-01-01"),
        doc("github:c/x/f.go", texts[4], source="github", language="Go", stars=50, created_at="2021-06-01"),
        doc("github:d/x/f.go", texts[4], source="github", language="Go"),
    ]
    write_input(tmp_path / "a", docs, source="github")
    run_dedup(tmp_path / "a", source="github")
    assert kept_ids(tmp_path / "a", "github") == ["github:c/x/f.go"]
    write_input(tmp_path / "b", docs, source="github")
    run_dedup(tmp_path / "b", DedupConfig(keep=["oldest"]), source="github")
    assert kept_ids(tmp_path / "b", "github") == ["github:d/x/f.go"]  # no date sorts as oldest


def test_levels_partition_near_dedup_but_not_exact(tmp_path: Path, texts):
    rng = random.Random(2)
    variant, _ = plant_variant(texts[5], 0.9, rng)
    other, _ = plant_variant(texts[5], 0.9, rng)
    docs = [
        doc("github:o/r/a.py", texts[5], source="github", language="Python"),
        doc("cc:page", other, source="commoncrawl"),  # near-duplicate, but a web page: not compared
        doc("github:o/r/b.rb", variant, source="github", language="Ruby"),  # other language: not compared
        doc("text:same", texts[5]),  # exact copy from another source: dropped
    ]
    write_input(tmp_path, docs)
    run_dedup(tmp_path)
    assert drops(tmp_path) == {
        "text:same": ("exact_duplicate", {"duplicate_of": "github:o/r/a.py", "jaccard": 1.0})
    }
    write_input(tmp_path / "x", docs)
    run_dedup(tmp_path / "x", DedupConfig(per_language=False, repository_languages=[]))
    assert "github:o/r/b.rb" in drops(tmp_path / "x")  # now both are file-level GitHub documents
    assert "cc:page" not in drops(tmp_path / "x")


def test_same_input_gives_identical_bytes(tmp_path: Path, texts):
    rng = random.Random(3)
    docs = [doc(f"d{i}", t) for i, t in enumerate(texts[:20])]
    docs += [doc(f"n{i}", plant_variant(t, 0.8, rng)[0]) for i, t in enumerate(texts[:10])]
    for name in ("one", "two"):
        write_input(tmp_path / name, docs)
        run_dedup(tmp_path / name, tasks=3)
    for sub in ("dedup/data", "dedup/drops/dedup", "dedup-clusters/assign"):
        a = sorted((tmp_path / "one" / "text" / sub).glob("*.parquet"))
        b = sorted((tmp_path / "two" / "text" / sub).glob("*.parquet"))
        assert a and [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_cluster_report_for_notebooks(tmp_path: Path, texts):
    rng = random.Random(4)
    docs = [doc(f"d{i}", t) for i, t in enumerate(texts[:12])]
    docs += [doc(f"d{i}~{s}", plant_variant(texts[i], s, rng)[0]) for i in range(6) for s in (0.75, 0.95)]
    write_input(tmp_path, docs)
    run_dedup(tmp_path)
    report = cluster_report(str(tmp_path / "text"))
    assert report["duplicates"] == 12
    assert report["examples"][0]["similarity"] < report["examples"][-1]["similarity"]
    assert sum(report["kept_similarity_histogram"]) == 12
    text = format_report(report)
    assert "clusters" in text and "LSH" in text
    assert pq.read_table(next((tmp_path / "text" / "dedup" / "drops").rglob("*.parquet"))).num_rows > 0


def test_changed_input_is_refused_by_the_filter(tmp_path: Path, texts):
    docs = [doc(f"d{i}", texts[0]) for i in range(4)]
    write_input(tmp_path, docs)
    stages, _ = run_dedup(tmp_path)
    write_input(tmp_path, [doc(f"e{i}", texts[0]) for i in range(4)])
    shutil.rmtree(stages[-1].folder)
    with pytest.raises(BuildError, match="input changed since the signature stage"):
        run_dedup(tmp_path)


@pytest.mark.parametrize(
    "config",
    [
        DedupConfig(key_shards=3),
        DedupConfig(scheme="oph"),
        DedupConfig(verify="estimated"),
        DedupConfig(num_perm=64, threshold=0.8),
    ],
    ids=["key-shards", "oph", "estimated", "64-perm-0.8"],
)
def test_settings_find_the_same_clear_duplicates(tmp_path: Path, texts, config):
    rng = random.Random(8)
    docs = [doc(f"d{i:02d}", t) for i, t in enumerate(texts[:16])]
    docs += [doc(f"d{i:02d}~95", plant_variant(t, 0.95, rng)[0]) for i, t in enumerate(texts[:6])]
    docs += [doc(f"d{i:02d}~30", plant_variant(t, 0.3, rng)[0]) for i, t in enumerate(texts[6:10], start=6)]
    write_input(tmp_path, docs)
    run_dedup(tmp_path, config, tasks=3)
    dropped = drops(tmp_path)
    # the originals sort first ("d00" < "d00~95"), so each variant at 0.95 goes; those at 0.3 stay
    assert {d: v[1]["duplicate_of"] for d, v in dropped.items()} == {
        f"d{i:02d}~95": f"d{i:02d}" for i in range(6)
    }


def test_exact_only(tmp_path: Path, texts):
    rng = random.Random(2)
    docs = [
        doc("a", texts[0]),
        doc("b", texts[0].replace("\n", "\n\n")),
        doc("c", plant_variant(texts[0], 0.95, rng)[0]),
    ]
    write_input(tmp_path, docs)
    _, layout = run_dedup(tmp_path, DedupConfig(near=False))
    assert drops(tmp_path) == {"b": ("exact_duplicate", {"duplicate_of": "a", "jaccard": 1.0})}
    assert read_json(layout.report())["params"]["bands_in_effect"] == 0


def test_sharded_clustering_matches_one_task(tmp_path: Path, texts):
    """Near-only runs cluster each partition (level, language) in its own task: same drops."""
    rng = random.Random(12)
    languages = ["Go", "Rust", "Ruby", "Lua", "Perl"]
    docs = []
    for i, t in enumerate(texts[:20]):
        meta = {"source": "github", "language": languages[i % 5]}
        docs.append(doc(f"github:o/r{i:02d}/f", t, **meta))
        if i % 2 == 0:
            docs.append(doc(f"github:o/r{i:02d}/g", plant_variant(t, 0.9, rng)[0], **meta))
            docs.append(doc(f"github:o/r{i:02d}/h", plant_variant(t, 0.8, rng)[0], **meta))
    for name, shards in (("one", 1), ("four", 4)):
        write_input(tmp_path / name, docs, source="github")
        run_dedup(tmp_path / name, DedupConfig(exact=False, cluster_shards=shards), source="github")
    assert drops(tmp_path / "four", "github") == drops(tmp_path / "one", "github")
    assert len(drops(tmp_path / "one", "github")) == 20
    assert len(list((tmp_path / "four" / "github" / "dedup-clusters" / "completions").glob("*"))) == 4
    merged = cluster_report(str(tmp_path / "four" / "github"))
    single = cluster_report(str(tmp_path / "one" / "github"))
    for key in (
        "documents",
        "clusters",
        "duplicates",
        "near_duplicates",
        "cluster_sizes",
        "candidates_compared",
    ):
        assert merged[key] == single[key], key


def test_sharded_clustering_with_exact_runs_two_passes(tmp_path: Path, texts):
    rng = random.Random(13)
    docs = []
    for i, t in enumerate(texts[:12]):
        meta = {"source": "github", "language": ["Go", "Rust", "Lua"][i % 3]}
        docs.append(doc(f"github:o/r{i:02d}/f", t, **meta))
        docs.append(doc(f"github:o/r{i:02d}/copy", t, **meta))
        if i % 3 == 0:
            docs.append(doc(f"github:o/r{i:02d}/near", plant_variant(t, 0.9, rng)[0], **meta))
    write_input(tmp_path / "one", docs, source="github")
    run_dedup(tmp_path / "one", DedupConfig(), source="github")
    write_input(tmp_path / "two", docs, source="github")
    stages, _ = run_dedup(tmp_path / "two", DedupConfig(cluster_shards=3), source="github")
    assert [s.name for s in stages][3:5] == ["dedup-exact", "dedup-signatures"]
    assert stages[2].name == "dedup-exact-clusters" and stages[2].tasks == 3  # digests split too
    assert kept_ids(tmp_path / "two", "github") == kept_ids(tmp_path / "one", "github")
    exact = drops(tmp_path / "two", "github", stage="dedup-exact")
    near = drops(tmp_path / "two", "github")
    assert len(exact) == 12 and {r for r, _ in exact.values()} == {"exact_duplicate"}
    assert len(near) == 4 and {r for r, _ in near.values()} == {"near_duplicate"}


def test_sharded_exact_pass_splits_digests_over_tasks(tmp_path: Path, texts):
    """Exact copies across partitions: the exact pass's clustering tasks split by content digest."""
    languages = ["Go", "Rust", "Lua", "Ruby"]
    docs = []
    for i, t in enumerate(texts[:16]):
        for k in range(1 + i % 3):  # groups of one to three copies, each copy in another language
            meta = {"source": "github", "language": languages[(i + k) % 4]}
            docs.append(doc(f"github:o/r{i:02d}/c{k}", t, **meta))
    for name, shards in (("one", 1), ("three", 3)):
        write_input(tmp_path / name, docs, source="github")
        run_dedup(tmp_path / name, DedupConfig(near=False, cluster_shards=shards), source="github")
    assert drops(tmp_path / "three", "github") == drops(tmp_path / "one", "github")
    assert len(drops(tmp_path / "one", "github")) == sum(i % 3 for i in range(16))
    assignments = [
        len(list((tmp_path / "three" / "github" / "dedup-clusters" / "assign").glob(f"*.s{c:03d}.parquet")))
        for c in (1, 2)
    ]
    assert all(assignments)  # shards 1 and 2 hold clusters of their own (shard 0 writes unsuffixed)
    assert kept_ids(tmp_path / "three", "github") == kept_ids(tmp_path / "one", "github")
