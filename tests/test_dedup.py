import numpy as np

from dataprep.dedup.decide import BandsInMemory, Documents, Rules, decide
from dataprep.dedup.components import cluster_keep, connected_components, exact_duplicates, lsh_edges

from reference import union_find_labels


def test_exact_duplicates_point_at_first_occurrence():
    d = np.array([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4], [1, 2]], dtype=np.uint64)
    assert exact_duplicates(d).tolist() == [0, 1, 0, 3, 1, 0]


def test_components_match_union_find_on_random_graphs():
    rng = np.random.default_rng(0)
    for n, m in [(10, 0), (50, 30), (500, 400), (2000, 2500)]:
        u = rng.integers(0, n, m)
        v = rng.integers(0, n, m)
        got = connected_components(n, u, v)
        assert got.tolist() == union_find_labels(n, zip(u.tolist(), v.tolist())).tolist()


def test_long_chain_is_one_component():
    n = 10000
    u = np.arange(n - 1)[::-1].copy()
    got = connected_components(n, u, u + 1)
    assert (got == 0).all()


def test_lsh_edges_join_each_bucket_to_its_smallest_member():
    bands = np.array([[7, 1], [8, 2], [7, 3], [9, 2], [7, 4]], dtype=np.uint64)
    u, v = lsh_edges(bands, np.arange(5))
    assert sorted(zip(u.tolist(), v.tolist())) == [(0, 2), (0, 4), (1, 3)]


def test_keep_rule_highest_score_then_first():
    labels = np.array([0, 0, 0, 3, 3, 5])
    score = np.array([2.0, 4.0, 4.0, np.nan, 1.0, np.nan])
    assert cluster_keep(labels, score).tolist() == [False, True, False, False, True, True]


def test_decide_separates_exact_and_near():
    digests = np.array([[1, 1], [1, 1], [2, 2], [3, 3], [4, 4]], dtype=np.uint64)
    bands = np.array([[10], [10], [10], [11], [12]], dtype=np.uint64)
    n = len(digests)
    docs = Documents(
        digests=digests, has_shingles=np.array([True, True, True, True, False]), token_counts=np.full(n, 5),
        score=np.array([1.0, 1.0, 3.0, 0.0, 0.0]), int_score=np.full(n, -1), language_score=np.full(n, np.nan),
        val_key=np.full(n, 0.5), is_val_source=np.zeros(n, dtype=bool),
    )
    d = decide(docs, Rules(min_score=None, val_fraction=0), BandsInMemory(bands))
    assert d.reason.tolist() == ["near-dup", "exact-dup", None, None, None]  # doc 2 outranks doc 0
    assert d.kept.tolist() == [False, False, True, True, True]
    assert d.representative.tolist() == [2, 2, 2, 3, 4]
    assert d.cluster_sizes().tolist() == [2]