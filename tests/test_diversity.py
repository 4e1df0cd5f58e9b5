import numpy as np
import pytest
from datasketch import HyperLogLogPlusPlus

from dataprep.dedup.diversity import NgramDiversity


def test_registers_equal_datasketch_fed_the_same_hashes():
    rng = np.random.default_rng(0)
    edge = np.array([0, 1, 2**14 - 1, 2**14, 2**40, 2**63, 2**64 - 1], dtype=np.uint64)
    h = np.concatenate([rng.integers(0, 2**64, 20000, dtype=np.uint64), edge])
    ours = NgramDiversity(p=12)
    ours.add_hashes(h[:7000])
    ours.add_hashes(h[7000:])
    ref = HyperLogLogPlusPlus(p=12, hashfunc=lambda x: x)
    for x in h.tolist():
        ref.update(x)
    assert np.array_equal(ours.registers, ref.reg)
    assert ours.distinct() == ref.count()


def test_ngrams_stay_inside_documents_and_repeats_count_once():
    d = NgramDiversity(n=3)
    tokens = np.array([1, 2, 3, 4, 1, 2, 3, 4, 9, 9], dtype=np.uint32)
    lengths = np.array([4, 4, 2])  # the third document is too short for a 3-gram
    h = d.ngram_hashes(tokens, lengths)
    assert len(h) == 4 and h[0] == h[2] and h[1] == h[3] and h[0] != h[1]
    d.update(tokens, lengths)
    assert d.total == 4
    assert d.distinct() == pytest.approx(2, abs=0.01)
    assert d.fraction() == pytest.approx(0.5, abs=0.01)
    assert NgramDiversity().fraction() is None


def test_large_counts_equal_datasketch_without_importing_it():
    # Above 5 registers' worth every register is set and HLL++ is its raw estimate, computed locally.
    rng = np.random.default_rng(1)
    d = NgramDiversity(p=14)
    d.add_hashes(rng.integers(0, 2**64, 400_000, dtype=np.uint64))
    assert np.count_nonzero(d.registers) == len(d.registers)
    assert d.distinct() == HyperLogLogPlusPlus(reg=d.registers.copy()).count()
    assert d.distinct() == pytest.approx(400_000, rel=0.03)
