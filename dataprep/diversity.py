"""Token n-gram diversity: distinct n-grams over all n-grams, by HyperLogLog++.

The n-gram hashes and register updates are vectorised here; the registers
are then handed to datasketch's ``HyperLogLogPlusPlus``, whose estimator and
bias correction give the distinct count. Register layout and rank follow
datasketch exactly (index = low p bits, rank from the remaining bits), so
the same hashes fed one by one to datasketch give the same registers.
"""

from __future__ import annotations

import numpy as np
from datasketch import HyperLogLogPlusPlus

from dataprep.hashing import fmix64, window_indices


class NgramDiversity:
    def __init__(self, n: int = 13, p: int = 14, seed: int = 7):
        self.n = n
        self.p = p
        self.registers = np.zeros(1 << p, dtype=np.int8)
        self.total = 0
        rng = np.random.default_rng(seed)
        self.mult = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False) | np.uint64(1)

    def ngram_hashes(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """64-bit hashes of every n-gram that lies inside one document."""
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        counts = np.maximum(lengths - self.n + 1, 0)
        win = window_indices(starts, counts)
        t = tokens.astype(np.uint64)
        acc = t[win] * self.mult[0]
        for k in range(1, self.n):
            acc += t[win + k] * self.mult[k]
        return fmix64(acc)

    def add_hashes(self, h: np.ndarray) -> None:
        if len(h) == 0:
            return
        m = 1 << self.p
        index = (h & np.uint64(m - 1)).astype(np.int64)
        rest = (h >> np.uint64(self.p)).astype(np.float64)  # < 2**53, so exact
        bit_length = np.frexp(rest)[1].astype(np.int64)  # frexp(0) gives 0, like int.bit_length
        rank = (64 - self.p) - bit_length + 1
        seen = np.bincount(index * 64 + rank, minlength=m * 64).reshape(m, 64) > 0
        top = 63 - np.argmax(seen[:, ::-1], axis=1)
        top[~seen.any(axis=1)] = 0
        np.maximum(self.registers, top.astype(np.int8), out=self.registers)
        self.total += len(h)

    def update(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        self.add_hashes(self.ngram_hashes(tokens, lengths))

    def merge(self, other: "NgramDiversity") -> None:
        np.maximum(self.registers, other.registers, out=self.registers)
        self.total += other.total

    def distinct(self) -> float:
        if self.total == 0:
            return 0.0
        return float(HyperLogLogPlusPlus(reg=self.registers.copy()).count())

    def fraction(self) -> float | None:
        """Estimated distinct n-grams over all n-grams; None when there are none."""
        if self.total == 0:
            return None
        return min(1.0, self.distinct() / self.total)
