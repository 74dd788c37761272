"""Shingles, signatures, LSH bands and components, checked against independent computations."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pydantic import ValidationError

from dedup.components import connected_components
from dedup.config import DedupConfig
from dedup.evaluation import components, jaccard, plant_variant, real_texts, shingle_set
from dedup.lsh import band_keys, bands_rows, choose_bands, detection_probability, format_curve
from dedup.minhash import EMPTY, MinHasher, estimated_jaccard, exact_jaccard
from dedup.shingles import per_document_sets, shingle_hashes


def unique_shingles(texts: list[str], ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Each document's shingle set (hashes sorted and deduplicated), as the signature stage stores
    it for exact verification."""
    return per_document_sets(*shingle_hashes(texts, ngram))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return real_texts(40)


def test_shingle_sets_match_an_independent_implementation(texts):
    sets, offsets = unique_shingles(texts, 5)
    for i, t in enumerate(texts):
        assert offsets[i + 1] - offsets[i] == len(shingle_set(t, 5))
    # a document hashes the same alone as inside any batch
    alone = unique_shingles([texts[3]], 5)[0]
    assert np.array_equal(alone, sets[offsets[3] : offsets[4]])


def test_empty_and_short_documents():
    hashes, offsets = shingle_hashes(["", "   ", "Hello, World!", "hello world", "world hello", "x"], 5)
    counts = np.diff(offsets)
    assert counts.tolist() == [0, 0, 1, 1, 1, 1]  # fewer words than one shingle: one shingle of all
    assert hashes[offsets[2]] == hashes[offsets[3]]  # case and punctuation are normalised away
    assert hashes[offsets[3]] != hashes[offsets[4]]  # word order matters
    for scheme in ("oph", "classic"):
        sig = MinHasher(64, scheme=scheme).signatures(hashes, offsets)
        assert (sig[0] == EMPTY).all() and (sig[1] == EMPTY).all()
        assert not (sig[2] == EMPTY).any()  # densification fills every bin of a one-shingle document
        assert np.array_equal(sig[2], sig[3])
        assert estimated_jaccard(sig[3], sig[4]) < 0.2


def test_non_ascii_words_are_words():
    _, offsets = shingle_hashes(["naïve café résumé déjà vu encore", "наивное кафе резюме уже видел"], 2)
    assert np.diff(offsets).tolist() == [5, 4]  # 6 and 5 words, word 2-grams


@pytest.mark.parametrize("scheme", ["oph", "classic"])
def test_estimates_track_exact_jaccard(texts, scheme):
    rng = random.Random(0)
    hasher = MinHasher(256, seed=3, scheme=scheme)
    errors = []
    for t in texts[:20]:
        target = rng.choice([0.5, 0.7, 0.85, 0.95])
        variant, true_sim = plant_variant(t, target, rng)
        h, o = shingle_hashes([t, variant])
        sig = hasher.signatures(h, o)
        sets, so = unique_shingles([t, variant])
        exact = exact_jaccard(sets[so[0] : so[1]], sets[so[1] : so[2]])
        assert exact == pytest.approx(jaccard(shingle_set(t), shingle_set(variant)), abs=1e-9)
        assert exact == pytest.approx(true_sim, abs=1e-9)
        errors.append(abs(estimated_jaccard(sig[0], sig[1]) - exact))
    assert np.mean(errors) < 0.03
    assert max(errors) < 0.1


def test_signatures_are_deterministic_and_seeded(texts):
    h, o = shingle_hashes(texts[:5])
    a = MinHasher(128, seed=1).signatures(h, o)
    assert np.array_equal(a, MinHasher(128, seed=1).signatures(h, o))
    assert not np.array_equal(a, MinHasher(128, seed=2).signatures(h, o))


def test_bands_follow_the_threshold_and_budget():
    for threshold in (0.5, 0.7, 0.85):
        bands, rows = choose_bands(threshold, 256)
        assert bands * rows <= 256
        assert detection_probability(threshold + 0.15, bands, rows) > 0.95
        assert detection_probability(threshold - 0.3, bands, rows) < 0.3
    curve = format_curve(*choose_bands(0.7, 128), 0.7)
    assert "bands" in curve and "0.70" in curve
    assert bands_rows(DedupConfig(num_perm=128))[0] * bands_rows(DedupConfig(num_perm=128))[1] <= 128


def test_band_keys_separate_partitions():
    sig = np.tile(np.arange(16, dtype=np.uint32), (2, 1))
    keys = band_keys(sig, 4, 4, np.array([1, 2], dtype=np.uint64))
    assert (keys[:, 0] != keys[:, 1]).all()
    same = band_keys(sig, 4, 4, np.array([7, 7], dtype=np.uint64))
    assert (same[:, 0] == same[:, 1]).all()
    assert len(set(same[:, 0].tolist())) == 4  # bands never share keys


def test_config_rejects_inconsistent_settings():
    with pytest.raises(ValidationError, match="both bands and rows"):
        DedupConfig(bands=4)
    with pytest.raises(ValidationError, match="exceeds num_perm"):
        DedupConfig(bands=20, rows=20, num_perm=128)
    with pytest.raises(ValidationError):
        DedupConfig(threshold=1.2)
    with pytest.raises(ValidationError):
        DedupConfig(keep=["most_forks"])


def test_components_match_a_reference_union_find():
    rng = np.random.default_rng(0)
    n = 2_000
    a = rng.integers(0, n, 1_500).astype(np.uint64) * np.uint64(1 << 40)
    b = rng.integers(0, n, 1_500).astype(np.uint64) * np.uint64(1 << 40)
    nodes, root = connected_components(a, b)
    ref = components(
        n, [(int(x >> np.uint64(40)), int(y >> np.uint64(40))) for x, y in zip(a, b, strict=True)]
    )
    for node, r in zip(nodes, root, strict=True):
        assert ref[int(node >> np.uint64(40))] == int(r >> np.uint64(40))
    # a long chain needs many rounds of label propagation
    chain = np.arange(10_000, dtype=np.uint64)
    nodes, root = connected_components(chain[1:], chain[:-1])
    assert (root == 0).all() and nodes.size == 10_000


def test_exact_digests_equal_the_string_normalisation():
    """The batched ASCII path must digest exactly `" ".join(text.split())`, as non-ASCII texts do."""
    import hashlib

    from dedup.documents import exact_digests

    def reference(text: str) -> tuple[int, int]:
        normalised = " ".join(text.split())
        if not normalised:
            return 0, 0
        d = hashlib.blake2b(normalised.encode("utf-8"), digest_size=16).digest()
        return int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little")

    rng = random.Random(7)
    alphabet = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00\x08ab.\u00a0é\u3000"
    for _ in range(2000):
        ascii_only = rng.random() < 0.5
        chars = alphabet[:14] if ascii_only else alphabet
        batch = [
            "".join(rng.choice(chars) for _ in range(rng.randint(0, 10))) for _ in range(rng.randint(1, 6))
        ]
        hi, lo = exact_digests(batch)
        assert [(int(h), int(x)) for h, x in zip(hi, lo, strict=True)] == [reference(t) for t in batch]
