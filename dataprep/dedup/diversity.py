"""Token n-gram diversity: distinct n-grams over all n-grams, by HyperLogLog++.

The n-gram hashes and register updates are vectorised here; the registers
are then handed to datasketch's ``HyperLogLogPlusPlus``, whose estimator and
bias correction give the distinct count. Once every register is set and the raw
estimate is above 5 registers' worth, HLL++ uses neither linear counting nor its
bias table, and the raw estimate is computed here with datasketch's own
expression: importing datasketch (which imports scipy) costs a quarter of a
second, most of estimate's fixed cost on a 50 MB input. Register layout and rank follow
datasketch exactly (index = low p bits, rank from the remaining bits), so
the same hashes fed one by one to datasketch give the same registers.
"""

from __future__ import annotations

import numpy as np

from dataprep.text.compiled import kernels
from dataprep.text.hashing import fmix64, sequence_hashes, window_indices


class NgramDiversity:
    def __init__(self, n: int = 13, p: int = 14):
        self.n = n
        self.p = p
        self.registers = np.zeros(1 << p, dtype=np.int8)
        self.total = 0

    def ngram_hashes(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """64-bit hashes of every n-gram that lies inside one document."""
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        win = window_indices(starts, np.maximum(lengths - self.n, -1) + 1)
        return fmix64(sequence_hashes(tokens, win, win + self.n))

    def add_hashes(self, h: np.ndarray) -> None:
        if len(h) == 0:
            return
        index = (h & np.uint64((1 << self.p) - 1)).astype(np.intp)
        rest = (h >> np.uint64(self.p)).astype(np.float64)  # < 2**53, so exact
        # A double's exponent field is floor(log2(x)) + 1023, i.e. bit_length + 1022; zero has 0.
        bit_length = np.maximum((rest.view(np.int64) >> 52) - 1022, 0)
        rank = ((64 - self.p + 1) - bit_length).astype(np.int8)
        np.maximum.at(self.registers, index, rank)
        self.total += len(h)

    def update(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Add the n-grams of documents of ``lengths`` tokens, back to back in ``tokens`` (uint32): by the
        compiled kernel where numba is installed (``text/compiled.py``), else in numpy; the same registers."""
        k = kernels(4 * len(tokens))  # about 4 bytes of text per token
        if k is None or tokens.dtype != np.uint32:
            self.add_hashes(self.ngram_hashes(tokens, lengths))
        else:
            self.total += k.ngram_registers(tokens, lengths.astype(np.int64), self.n, self.p, self.registers)

    def distinct(self) -> float:
        if self.total == 0:
            return 0.0
        m = len(self.registers)
        if np.count_nonzero(self.registers) == m:
            alpha = 0.7213 / (1.0 + 1.079 / m)  # datasketch's, for p >= 7
            raw = alpha * float(m**2) / np.sum(2.0 ** (-self.registers))
            if raw > 5 * m and self.p >= 7:
                return float(raw)
        from datasketch import HyperLogLogPlusPlus

        return float(HyperLogLogPlusPlus(reg=self.registers.copy()).count())

    def fraction(self) -> float | None:
        """Estimated distinct n-grams over all n-grams; None when there are none."""
        if self.total == 0:
            return None
        return min(1.0, self.distinct() / self.total)
