import numpy as np
import pyarrow as pa
import pytest

from dataprep.text.hashing import hash_batch
from dataprep.dedup.minhash import EMPTY, LSHParams, MinHasher
from dataprep.text.normalize import normalize_batch
from dataprep.synth import SynthConfig, _edit, _render, _Writer

from reference import jaccard, shingle_set, signature


def _sigs(mh: MinHasher, texts: list[str]) -> np.ndarray:
    return mh.signatures(hash_batch(normalize_batch(pa.array(texts, type=pa.large_string()))))


def test_signatures_equal_reference_implementation():
    mh = MinHasher(LSHParams(num_perm=16, threshold=0.5, ngram=3))
    texts = [
        "The cat sat on the mat, and the dog sat on the log.",
        "two words",
        "",
        "!!! ...",
        "Ünïcode wörds, ünïcode WÖRDS, 1999 and 2024 — again and again and again",
        "one two three",
    ]
    got = _sigs(mh, texts)
    mult = [int(x) for x in mh.shingle_mult]
    a, b = [int(x) for x in mh.a], [int(x) for x in mh.b]
    for row, text in zip(got, texts):
        assert row.tolist() == signature(text, 3, mult, a, b)
    assert (got[2] == EMPTY).all() and (got[3] == EMPTY).all()


def test_jaccard_estimate_within_minhash_error():
    w = _Writer(SynthConfig(), np.random.default_rng(3))
    base = [w.document() for _ in range(12)]
    params = LSHParams(num_perm=256, threshold=0.5)
    mh = MinHasher(params)
    k = mh.num_used
    worst = 0.0
    for i, paras in enumerate(base):
        rate = [0.0, 0.02, 0.05, 0.1, 0.2, 0.4][i % 6]
        a_text, b_text = _render(paras), _render(_edit(paras, rate, w) if rate else paras)
        exact = jaccard(shingle_set(a_text, 5), shingle_set(b_text, 5))
        sig = _sigs(mh, [a_text, b_text])
        est = float((sig[0] == sig[1]).mean())
        sd = np.sqrt(max(exact * (1 - exact), 1e-4) / k)
        worst = max(worst, abs(est - exact) / sd)
        assert abs(est - exact) <= 4 * sd + 0.01, (rate, exact, est)
    assert worst > 0  # the estimates are not trivially exact


def test_unrelated_documents_share_almost_nothing():
    w = _Writer(SynthConfig(), np.random.default_rng(4))
    texts = [_render(w.document()) for _ in range(40)]
    mh = MinHasher(LSHParams())
    bands = mh.band_hashes(_sigs(mh, texts))
    for j in range(bands.shape[1]):
        assert len(np.unique(bands[:, j])) == len(texts)


# (threshold, num_perm) -> (bands, rows) as datasketch 2.0's MinHashLSH chooses them (weights 0.5, 0.5)
DATASKETCH_BANDS_ROWS = [
    (0.5, 16, (5, 3)), (0.7, 16, (3, 5)), (0.8, 16, (2, 8)), (0.9, 16, (1, 15)),
    (0.5, 64, (14, 4)), (0.7, 64, (8, 8)), (0.8, 64, (5, 11)), (0.9, 64, (3, 21)),
    (0.5, 128, (25, 5)), (0.7, 128, (14, 9)), (0.8, 128, (9, 13)), (0.9, 128, (5, 25)),
    (0.5, 256, (42, 6)), (0.7, 256, (25, 10)), (0.8, 256, (17, 15)), (0.9, 256, (9, 28)),
]


@pytest.mark.parametrize("threshold,num_perm,expected", DATASKETCH_BANDS_ROWS)
def test_bands_rows_follow_datasketch(threshold, num_perm, expected):
    p = LSHParams(num_perm=num_perm, threshold=threshold)
    b, r = p.bands_rows
    assert (b, r) == expected
    assert MinHasher(p).num_used == b * r
    assert p.detection_probability(0.9) == pytest.approx(1 - (1 - 0.9**r) ** b)
    assert p.implied_threshold == pytest.approx((1 / b) ** (1 / r))


def test_identical_shingle_sets_give_identical_bands_in_any_batch():
    mh = MinHasher(LSHParams())
    doc = "Alpha beta gamma delta epsilon zeta eta theta iota kappa."
    one = mh.band_hashes(_sigs(mh, [doc]))
    other = mh.band_hashes(_sigs(mh, ["filler text here", doc.upper(), "more"]))
    assert (one[0] == other[1]).all()
