"""MinHash signatures and LSH band hashes for whole batches of documents.

Shingles are word n-grams of the normalised text. A document with fewer
than n words has one shingle made of all its words; a document with no words
has none and never joins a cluster.

Shingle hashes are 32-bit. Permutation k maps a shingle hash x to
``((a_k * x + b_k) mod 2**64) >> 32``, Dietzfelbinger's multiply-add-shift
family (strongly universal for 32-bit keys). It needs one multiply and one
add per (shingle, permutation), which is what makes pure numpy fast here;
datasketch's ``(a*x + b) mod (2**61 - 1)`` needs 128-bit products.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataprep.errors import DataprepError, named
from dataprep.text.compiled import kernels
from dataprep.text.hashing import BatchHashes, fmix64, window_indices

EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a document without shingles
_GRID = 1001  # points of the Simpson rule per integral: the choices match datasketch's adaptive quadrature


def _simpson(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Integral over [lo, hi] of each row of ``values``, sampled on _GRID even points (composite Simpson)."""
    weights = np.ones(_GRID)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    return values @ weights * (hi - lo) / (3 * (_GRID - 1))


@lru_cache(maxsize=None)
def optimal_bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """The (bands, rows) with bands * rows <= num_perm that minimise false positive + false negative mass.

    A pair at Jaccard s shares a band with probability 1 - (1 - s^r)^b. The false positive mass is that
    probability integrated over s below the threshold; the false negative mass is its complement
    integrated above. Both weigh equally, the rule datasketch's MinHashLSH uses, so an index built
    with datasketch at the same threshold and num_perm bands the same way; ties go to the fewest bands.
    """
    below, above = np.linspace(0.0, threshold, _GRID), np.linspace(threshold, 1.0, _GRID)
    best = (np.inf, 0, 0)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1)[:, None]
        false_positive = _simpson(1.0 - (1.0 - below**r) ** b, 0.0, threshold)
        false_negative = _simpson((1.0 - above**r) ** b, threshold, 1.0)
        error = 0.5 * false_positive + 0.5 * false_negative
        i = int(np.argmin(error))
        if error[i] < best[0]:
            best = (float(error[i]), b, i + 1)
    return best[1], best[2]


@dataclass(frozen=True)
class LSHParams:
    num_perm: int = 128
    threshold: float = 0.7
    ngram: int = 5
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise DataprepError(f"{named('threshold')} must be between 0 and 1, not {self.threshold}")
        if self.num_perm < 2:
            raise DataprepError(f"{named('num_perm')} must be >= 2, not {self.num_perm}")
        if self.ngram < 1:
            raise DataprepError(f"{named('ngram')} must be >= 1, not {self.ngram}")

    @property
    def bands_rows(self) -> tuple[int, int]:
        """datasketch's choice: minimise equal-weight false positive + false negative mass."""
        return optimal_bands_rows(self.threshold, self.num_perm)

    @property
    def implied_threshold(self) -> float:
        """Jaccard at which the detection curve is steepest, about (1/b)**(1/r)."""
        b, r = self.bands_rows
        return (1.0 / b) ** (1.0 / r)

    def detection_probability(self, jaccard: float) -> float:
        """Chance that two documents at this Jaccard share at least one band."""
        b, r = self.bands_rows
        return 1.0 - (1.0 - jaccard**r) ** b


BLOCK = 32768  # shingles (256 KB of uint64): fits a core's L2 cache with its buffer


class MinHasher:
    def __init__(self, params: LSHParams):
        self.params = params
        bands, rows = params.bands_rows
        # Only the permutations the bands use are computed.
        self.num_used = bands * rows
        rng = np.random.default_rng(params.seed)
        self.a = rng.integers(0, 2**64, self.num_used, dtype=np.uint64, endpoint=False) | np.uint64(1)
        self.b = rng.integers(0, 2**64, self.num_used, dtype=np.uint64, endpoint=False)
        self.shingle_mult = rng.integers(0, 2**64, params.ngram, dtype=np.uint64, endpoint=False) | np.uint64(1)
        self.band_mult = rng.integers(0, 2**64, rows, dtype=np.uint64, endpoint=False) | np.uint64(1)

    def shingles(self, h: BatchHashes) -> tuple[np.ndarray, np.ndarray]:
        """32-bit shingle hashes (uint64 holding 32 bits) and per-document offsets into them."""
        n = self.params.ngram
        wh = h.word_hashes
        nwords = np.diff(h.doc_words)
        counts = np.where(nwords >= n, nwords - n + 1, np.minimum(nwords, 1))
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])

        full = nwords >= n
        win = window_indices(h.doc_words[:-1][full], counts[full])
        sh_full = wh[win] * self.shingle_mult[0]
        for t in range(1, n):
            sh_full += wh[win + t] * self.shingle_mult[t]

        short = (nwords > 0) & ~full
        s_start = h.doc_words[:-1][short]
        s_len = nwords[short]
        sh_short = wh[s_start] * self.shingle_mult[0]
        for t in range(1, n - 1):
            has = t < s_len
            sh_short[has] += wh[s_start[has] + t] * self.shingle_mult[t]

        out = np.empty(int(offsets[-1]), dtype=np.uint64)
        out[window_indices(offsets[:-1][full], counts[full])] = sh_full
        out[offsets[:-1][short]] = sh_short
        return fmix64(out) >> np.uint64(32), offsets

    def signatures(self, h: BatchHashes) -> np.ndarray:
        """(n_docs, bands * rows) uint32 MinHash signatures: by the compiled kernel where numba is
        installed (``text/compiled.py``), else in numpy (``signatures_numpy``); the same values either way."""
        k = kernels(8 * len(h.word_hashes))  # about as many bytes of text as 8 per word
        if k is None:
            return self.signatures_numpy(h)
        return k.signatures(h.word_hashes, h.doc_words, self.shingle_mult, self.a, self.b)

    def signatures_numpy(self, h: BatchHashes) -> np.ndarray:
        x, offsets = self.shingles(h)
        n_docs = len(offsets) - 1
        sig = np.full((n_docs, self.num_used), EMPTY, dtype=np.uint32)
        nonempty = np.flatnonzero(np.diff(offsets) > 0)
        if len(nonempty) == 0:
            return sig
        starts = offsets[nonempty]
        # Documents go in blocks of about BLOCK shingles, every permutation over one block before
        # the next: the block stays in the CPU cache across the permutations (twice as fast as
        # streaming the whole batch from memory once per permutation). Same values either way.
        cuts = np.unique(np.append(np.searchsorted(starts, np.arange(0, len(x), BLOCK)), len(starts)))
        for d0, d1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
            lo, hi = int(starts[d0]), int(offsets[nonempty[d1 - 1] + 1])
            block, seg, rows = x[lo:hi], starts[d0:d1] - lo, nonempty[d0:d1]
            buf = np.empty_like(block)
            for k in range(self.num_used):
                np.multiply(block, self.a[k], out=buf)
                buf += self.b[k]
                sig[rows, k] = np.minimum.reduceat(buf, seg) >> np.uint64(32)
        return sig

    def band_hashes(self, sig: np.ndarray) -> np.ndarray:
        """(n_docs, bands) uint64: one hash of each band's rows, salted by band number."""
        bands, rows = self.params.bands_rows
        out = np.empty((sig.shape[0], bands), dtype=np.uint64)
        for j in range(bands):
            acc = np.full(sig.shape[0], j, dtype=np.uint64)
            for t in range(rows):
                acc += sig[:, j * rows + t].astype(np.uint64) * self.band_mult[t]
            out[:, j] = fmix64(acc)
        return out
