"""The numba kernels behind ``compiled.kernels()``; importing this module imports numba.

All arithmetic is on uint64 and wraps modulo 2**64, as numpy's does; every constant is a uint64, so
that numba never promotes a mixed expression to float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from dataprep.text.hashing import K0, K1, P, P_INV, SHORT

_33 = np.uint64(33)
_32 = np.uint64(32)
_8 = np.uint64(8)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_MAX = np.uint64(0xFFFFFFFFFFFFFFFF)
_EMPTY = np.uint32(0xFFFFFFFF)
_SPACE = np.uint8(32)

jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@jit
def _fmix64(x):
    x ^= x >> _33
    x *= _M1
    x ^= x >> _33
    x *= _M2
    x ^= x >> _33
    return x


@jit
def _word_hash(data, start, end):
    """``hashing.word_hashes`` of one word: its bytes as two little-endian integers up to 16 bytes,
    the polynomial hash of its bytes beyond."""
    length = end - start
    n = np.uint64(length)
    if length > SHORT:
        h = np.uint64(0)
        power = np.uint64(1)
        for i in range(start, end):
            h += np.uint64(data[i]) * power
            power *= P
        return _fmix64(h ^ n)
    c0 = np.uint64(0)
    c1 = np.uint64(0)
    for i in range(min(length, 8)):
        c0 |= np.uint64(data[start + i]) << (_8 * np.uint64(i))
    for i in range(8, length):
        c1 |= np.uint64(data[start + i]) << (_8 * np.uint64(i - 8))
    return _fmix64(c0 * K0 + c1 * K1 + n)


@jit
def _line_words(data, line_offsets):
    """int64 index of each line's first word, and the word count at the end: words are runs of bytes
    other than the space, never across a line's bounds."""
    n_lines = len(line_offsets) - 1
    line_words = np.empty(n_lines + 1, dtype=np.int64)
    count = 0
    for line in range(n_lines):
        line_words[line] = count
        previous = _SPACE
        for i in range(line_offsets[line], line_offsets[line + 1]):
            count += (data[i] != _SPACE) & (previous == _SPACE)
            previous = data[i]
    line_words[n_lines] = count
    return line_words


@jit
def words(data, line_offsets):
    """(hash of every word in order, ``_line_words``): counted first, so that the hashes take no more
    memory than they need."""
    line_words = _line_words(data, line_offsets)
    hashes = np.empty(line_words[-1], dtype=np.uint64)
    count = 0
    for line in range(len(line_offsets) - 1):
        i, end = line_offsets[line], line_offsets[line + 1]
        while i < end:
            if data[i] == _SPACE:
                i += 1
                continue
            start = i
            while i < end and data[i] != _SPACE:
                i += 1
            hashes[count] = _word_hash(data, start, i)
            count += 1
    return hashes, line_words


@jit
def line_hashes(word_hashes, line_words):
    """``hashing.hash_batch``'s line hashes: the polynomial hash of each line's words, its word count
    mixed in."""
    n_lines = len(line_words) - 1
    out = np.empty(n_lines, dtype=np.uint64)
    for line in range(n_lines):
        h = np.uint64(0)
        power = np.uint64(1)
        for i in range(line_words[line], line_words[line + 1]):
            h += word_hashes[i] * power
            power *= P
        out[line] = _fmix64(h ^ np.uint64(line_words[line + 1] - line_words[line]))
    return out


@jit
def signatures(word_hashes, doc_words, shingle_mult, a, b):
    """``MinHasher.signatures``: (docs, permutations) uint32, each shingle hashed as it is reached."""
    n_docs, perms, ngram = len(doc_words) - 1, len(a), len(shingle_mult)
    sig = np.empty((n_docs, perms), dtype=np.uint32)
    low = np.empty(perms, dtype=np.uint64)
    for d in range(n_docs):
        first, n_words = doc_words[d], doc_words[d + 1] - doc_words[d]
        if n_words == 0:
            sig[d, :] = _EMPTY
            continue
        shingles, width = (n_words - ngram + 1, ngram) if n_words >= ngram else (1, n_words)
        low[:] = _MAX
        for s in range(first, first + shingles):
            h = np.uint64(0)
            for t in range(width):
                h += word_hashes[s + t] * shingle_mult[t]
            x = _fmix64(h) >> _32
            for k in range(perms):
                low[k] = min(low[k], a[k] * x + b[k])
        for k in range(perms):
            sig[d, k] = np.uint32(low[k] >> _32)
    return sig


@jit
def ngram_registers(tokens, lengths, n, p, registers):
    """``NgramDiversity.update``: every n-gram inside one document hashed (its polynomial hash, rolled
    from the one before) and its rank set in ``registers`` (in place); returns the n-gram count."""
    mask = (np.uint64(1) << np.uint64(p)) - np.uint64(1)
    top = np.uint64(1)  # P ** (n - 1)
    for _ in range(n - 1):
        top *= P
    total, first = 0, 0
    for d in range(len(lengths)):
        last = first + lengths[d] - n  # the last n-gram's start
        h = np.uint64(0)
        power = np.uint64(1)
        for t in range(min(n, lengths[d])):
            h += np.uint64(tokens[first + t]) * power
            power *= P
        for i in range(first, last + 1):
            if i > first:
                h = (h - np.uint64(tokens[i - 1])) * P_INV + np.uint64(tokens[i + n - 1]) * top
            x = _fmix64(h)
            rest = x >> np.uint64(p)
            bits = math.frexp(np.float64(rest))[1] if rest else 0
            rank = 64 - p + 1 - bits
            if rank > registers[x & mask]:
                registers[x & mask] = rank
            total += 1
        first += lengths[d]
    return total
