"""Vectorised hashes of the words, lines and documents of a normalised batch.

Words, lines and documents are byte ranges of one buffer
(``NormalizedBatch``), so a single cumulative polynomial hash over the buffer
gives the hash of any range in O(1): ``(H[end] - H[start]) * P**-start``,
all modulo 2**64 (P is odd, hence invertible). A final 64-bit mixer
(MurmurHash3's fmix64) spreads the bits. No Python code runs per word.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dataprep.normalize import NormalizedBatch

_P = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime, odd
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))
_SPACE = 32


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, elementwise (returns a new array)."""
    x = x ^ (x >> np.uint64(33))
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


def window_indices(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for every (s, c), without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    seg_start = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=seg_start[1:])
    return np.repeat(np.asarray(starts, dtype=np.int64) - seg_start, counts) + np.arange(total, dtype=np.int64)


class _Powers:
    """P**i and P**-i for i < n, grown on demand and kept between batches."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=np.uint64)
        self.down = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up))
            self.up = np.full(size, _P, dtype=np.uint64)
            self.up[0] = 1
            np.cumprod(self.up, out=self.up)
            self.down = np.full(size, _P_INV, dtype=np.uint64)
            self.down[0] = 1
            np.cumprod(self.down, out=self.down)
        return self.up[:n], self.down[:n]


_powers = _Powers()


@dataclass
class BatchHashes:
    word_hashes: np.ndarray  # uint64, one per word, in order
    doc_words: np.ndarray  # int64, n_docs + 1: document d owns words doc_words[d] : doc_words[d+1]
    line_hashes: np.ndarray  # uint64, one per normalised non-empty line
    line_bytes: np.ndarray  # int64, normalised length of each line


def hash_batch(nb: NormalizedBatch) -> BatchHashes:
    data = nb.data
    n = len(data)
    up, down = _powers.get(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(data * up[:n], out=prefix[1:])

    is_space = data == _SPACE
    word_char = ~is_space
    starts = np.flatnonzero(word_char & np.concatenate(([True], is_space[:-1])))
    ends = np.flatnonzero(word_char & np.concatenate((is_space[1:], [True]))) + 1
    words = fmix64((prefix[ends] - prefix[starts]) * down[starts])

    line_starts = nb.line_offsets[:-1]
    line_ends = nb.line_offsets[1:] - 1  # drop the separator space
    line_bytes = line_ends - line_starts
    # Mixing in the length keeps "ab" and "ab\0" apart even if their sums collide.
    lines = fmix64((prefix[line_ends] - prefix[line_starts]) * down[line_starts] ^ line_bytes.astype(np.uint64))

    doc_words = np.searchsorted(starts, nb.doc_offsets).astype(np.int64)
    return BatchHashes(word_hashes=words, doc_words=doc_words, line_hashes=lines, line_bytes=line_bytes)


def doc_digests(nb: NormalizedBatch) -> np.ndarray:
    """A 128-bit digest of each document's normalised text, as (n_docs, 2) uint64.

    Exact-duplicate decisions remove documents outright, so they use a
    cryptographic hash rather than the 64-bit polynomial one.
    """
    offsets = nb.doc_offsets
    view = memoryview(nb.data)
    out = np.empty((len(offsets) - 1, 2), dtype=np.uint64)
    raw = b"".join(hashlib.blake2b(view[a:b], digest_size=16).digest() for a, b in zip(offsets[:-1], offsets[1:]))
    out[:] = np.frombuffer(raw, dtype=np.uint64).reshape(-1, 2)
    return out
