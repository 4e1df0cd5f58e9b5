"""The compiled kernels (numba) give exactly the numpy code's values, and numba stays optional."""

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataprep.dedup.diversity import NgramDiversity
from dataprep.dedup.minhash import LSHParams, MinHasher
from dataprep.pipeline.estimate import EstimateOptions, estimate
from dataprep.text.compiled import SWITCH, kernels
from dataprep.text.hashing import hash_batch, hash_batch_numpy
from dataprep.text.normalize import normalize_batch

from test_normalize_hashing import TEXT

pytestmark = pytest.mark.skipif(kernels() is None, reason="numba is not installed (or DATAPREP_NUMBA=0)")

# Words of every length around the kernel's branches (8 and 16 bytes), multi-byte characters, separators only.
WORDS = ["a", "bb", "x" * 7, "y" * 8, "z" * 9, "q" * 15, "w" * 16, "v" * 17, "u" * 40, "Straße", "naïve", "中文字",
         "2024", "--", "", " ", "\t"]


def _documents(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = lambda: " ".join(rng.choice(WORDS, rng.integers(0, 25)))  # noqa: E731
    return ["\n".join(lines() for _ in range(rng.integers(0, 6))) for _ in range(n)]


def _same_hashes(texts: list[str]) -> None:
    nb = normalize_batch(pa.array(texts, type=pa.large_string()))
    got, want = hash_batch(nb), hash_batch_numpy(nb)
    for name in ("word_hashes", "doc_words", "line_words", "line_hashes"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_word_and_line_hashes_equal_numpy_on_generated_documents():
    _same_hashes(_documents(0, 2000))


def test_word_and_line_hashes_equal_numpy_at_the_edges():
    _same_hashes([""])
    _same_hashes(["", "\n\n", "   ", "!!!"])
    _same_hashes(["a" * 100_000, "x\ny", "\nlead", "trail\n"])


@settings(max_examples=80, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_word_and_line_hashes_equal_numpy_on_any_text(texts):
    _same_hashes(texts)


@pytest.mark.parametrize("params", [LSHParams(), LSHParams(num_perm=16, ngram=1), LSHParams(num_perm=64, ngram=2,
                                                                                            threshold=0.5, seed=9)])
def test_signatures_equal_numpy(params):
    h = hash_batch_numpy(normalize_batch(pa.array(_documents(1, 1500) + ["", "one", "two words", "!!"])))
    m = MinHasher(params)
    got, want = m.signatures(h), m.signatures_numpy(h)
    assert got.dtype == want.dtype == np.uint32 and np.array_equal(got, want)


def test_signatures_of_an_empty_batch():
    h = hash_batch_numpy(normalize_batch(pa.array([], type=pa.large_string())))
    m = MinHasher(LSHParams())
    assert m.signatures(h).shape == m.signatures_numpy(h).shape == (0, m.num_used)


def _estimate_in_a_process(shard, switch: str) -> tuple[dict, bool]:
    """estimate's report of ``shard`` in a fresh process with DATAPREP_NUMBA=``switch``, and whether it imported numba."""
    code = ("import json, sys; from dataprep.pipeline.estimate import EstimateOptions, estimate; "
            "r = estimate([sys.argv[1]], EstimateOptions(), progress=False); "
            "print(json.dumps({'report': r, 'numba': 'numba' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code, str(shard)], capture_output=True, text=True, check=True,
                         env={**os.environ, SWITCH: switch})
    result = json.loads(out.stdout)
    return result["report"], result["numba"]


def test_a_small_input_and_the_switch_leave_numba_unloaded(edu_shard):
    for switch in ("0", "1"):  # 1: a shard too small to pay for loading the kernels
        assert not _estimate_in_a_process(edu_shard[0], switch)[1]


def test_estimate_with_the_kernels_loaded_reports_what_numpy_reports(edu_shard):
    assert kernels() is not None  # loaded here, so every call in this process uses them
    got = estimate([str(edu_shard[0])], EstimateOptions(), progress=False)
    want, _ = _estimate_in_a_process(edu_shard[0], "0")
    assert json.loads(json.dumps(got)) == want


@pytest.mark.parametrize("n", [1, 3, 13])
def test_ngram_registers_equal_numpy(n):
    rng = np.random.default_rng(n)
    lengths = rng.integers(0, 60, 400)
    lengths[:5] = [0, n - 1, n, n + 1, 0]
    tokens = rng.integers(0, 50257, int(lengths.sum())).astype(np.uint32)
    got, want = NgramDiversity(n=n, p=10), NgramDiversity(n=n, p=10)
    got.update(tokens, lengths)
    want.add_hashes(want.ngram_hashes(tokens, lengths))
    assert got.total == want.total and np.array_equal(got.registers, want.registers)
