"""Vectorised hashes of the words, lines and documents of a normalised batch.

Words are byte ranges of one buffer (``NormalizedBatch``), hashed from
their bytes (``word_hashes``). Sequences (lines of words, n-grams of
tokens) use a cumulative polynomial hash, which gives the hash of any range
in O(1): ``(H[end] - H[start]) * P**-start``, all modulo 2**64 (P is odd,
hence invertible). Lines are hashed over their word hashes, so spacing and
punctuation never matter. A final 64-bit mixer
(MurmurHash3's fmix64) spreads the bits. No Python code runs per word.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dataprep.text.compiled import kernels
from dataprep.text.normalize import SPACE, NormalizedBatch

P = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime, odd
P_INV = np.uint64(pow(int(P), -1, 1 << 64))


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
            self.up = np.full(size, P, dtype=np.uint64)
            self.up[0] = 1
            np.cumprod(self.up, out=self.up)
            self.down = np.full(size, P_INV, dtype=np.uint64)
            self.down[0] = 1
            np.cumprod(self.down, out=self.down)
        return self.up[:n], self.down[:n]


_powers = _Powers()


@dataclass
class BatchHashes:
    word_hashes: np.ndarray  # uint64, one per word, in order
    doc_words: np.ndarray  # int64, n_docs + 1: document d owns words doc_words[d] : doc_words[d+1]
    line_words: np.ndarray  # int64, n_lines + 1: line i owns words line_words[i] : line_words[i+1]
    line_hashes: np.ndarray  # uint64 per line, from its word sequence; meaningless for lines without words


def sequence_hashes(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash (unmixed) of each ``values[starts[i]:ends[i]]``, all ranges in one pass."""
    up, down = _powers.get(len(values) + 1)
    prefix = np.zeros(len(values) + 1, dtype=np.uint64)
    np.cumsum(values * up[: len(values)], out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * down[starts]


SHORT = 16  # words up to this many bytes are hashed from their bytes read as two integers
K0 = np.uint64(0x9E3779B97F4A7C15)
K1 = np.uint64(0xC2B2AE3D27D4EB4F)
# For a word of n <= 16 bytes: which bits of c0 and of c1 hold its bytes (looked up, not computed per word).
_LOW_MASK = np.array([(1 << (8 * min(n, 8))) - 1 for n in range(SHORT + 1)], dtype=np.uint64)
_HIGH_MASK = np.array([(1 << (8 * max(n - 8, 0))) - 1 for n in range(SHORT + 1)], dtype=np.uint64)


def word_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of each word ``data[starts[i]:ends[i]]``.

    A word of at most 16 bytes is read as two little-endian integers c0, c1
    (zero padded) and hashed as fmix64(c0*K0 + c1*K1 + length); that needs
    a 16-byte gather per word instead of a pass over every byte. Longer
    words (rare: URLs, long numbers) get the polynomial hash of their bytes.
    """
    lengths = ends - starts
    padded = np.zeros(len(data) + SHORT, dtype=np.uint8)
    padded[: len(data)] = data
    rows = np.lib.stride_tricks.as_strided(padded, shape=(len(data), SHORT), strides=(1, 1))[starts]
    chunks = np.ascontiguousarray(rows).view("<u8").reshape(-1, 2)
    short = np.minimum(lengths, SHORT)
    out = fmix64((chunks[:, 0] & _LOW_MASK[short]) * K0 + (chunks[:, 1] & _HIGH_MASK[short]) * K1
                 + lengths.astype(np.uint64))

    long = np.flatnonzero(lengths > SHORT)
    if len(long):
        n = lengths[long]
        flat = data[window_indices(starts[long], n)]
        local_starts = np.zeros(len(long), dtype=np.int64)
        np.cumsum(n[:-1], out=local_starts[1:])
        out[long] = fmix64(sequence_hashes(flat, local_starts, local_starts + n) ^ n.astype(np.uint64))
    return out


def hash_batch(nb: NormalizedBatch) -> BatchHashes:
    """Words, lines and their hashes: by the compiled kernels where numba is installed (``compiled.py``),
    else in numpy (``hash_batch_numpy``); the same values either way."""
    k = kernels(len(nb.data))
    if k is None:
        return hash_batch_numpy(nb)
    words, line_words = k.words(nb.data, nb.line_offsets)
    return BatchHashes(word_hashes=words, doc_words=line_words[nb.doc_lines], line_words=line_words,
                       line_hashes=k.line_hashes(words, line_words))


def hash_batch_numpy(nb: NormalizedBatch) -> BatchHashes:
    data = nb.data
    n = len(data)
    is_space = np.ones(n + 2, dtype=bool)  # padded: position -1 and n count as separators
    is_space[1:-1] = data == SPACE
    line_break = np.zeros(n + 1, dtype=bool)
    line_break[nb.line_offsets] = True
    word = ~is_space[1:-1]
    starts = np.flatnonzero(word & (is_space[:-2] | line_break[:-1]))
    ends = np.flatnonzero(word & (is_space[2:] | line_break[1:])) + 1
    words = word_hashes(data, starts, ends)

    line_words = np.searchsorted(starts, nb.line_offsets).astype(np.int64)
    counts = np.diff(line_words).astype(np.uint64)
    # Mixing in the word count keeps sequences apart that differ by trailing zero hashes.
    lines = fmix64(sequence_hashes(words, line_words[:-1], line_words[1:]) ^ counts)
    return BatchHashes(
        word_hashes=words, doc_words=line_words[nb.doc_lines], line_words=line_words, line_hashes=lines
    )


def doc_digests(h: BatchHashes) -> np.ndarray:
    """A 128-bit digest of each document's word sequence, as (n_docs, 2) uint64.

    Exact-duplicate decisions remove documents outright, so they use a
    cryptographic hash over the word hashes rather than the polynomial one.
    """
    view = memoryview(h.word_hashes)
    w = h.doc_words
    raw = b"".join(hashlib.blake2b(view[a:b], digest_size=16).digest() for a, b in zip(w[:-1].tolist(), w[1:].tolist()))
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, 2).copy()
