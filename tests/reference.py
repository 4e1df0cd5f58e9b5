"""Plain-Python reference implementations, one document at a time.

They follow the definitions in the library's docstrings with Python ints and
loops, so the vectorised code can be checked value for value.
"""

from __future__ import annotations

import numpy as np

import unicodedata

M64 = (1 << 64) - 1
P = 0x100000001B3


def fmix64(x: int) -> int:
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & M64
    x ^= x >> 33
    return x


def word_hash(word: bytes) -> int:
    if len(word) <= 16:
        c0 = int.from_bytes(word[:8], "little")
        c1 = int.from_bytes(word[8:16], "little")
        return fmix64((c0 * 0x9E3779B97F4A7C15 + c1 * 0xC2B2AE3D27D4EB4F + len(word)) & M64)
    h = 0
    for i, b in enumerate(word):
        h = (h + b * pow(P, i, 1 << 64)) & M64
    return fmix64(h ^ len(word))


def _normalize_char(c: str) -> str:
    if c.isascii():
        if c.isdigit():
            return "0"
        if c.isalnum() or not c.isprintable() and c not in "\t\n\v\f\r":
            return c
        return " "
    d = unicodedata.normalize("NFD", c)
    if any(unicodedata.category(x) == "Mn" for x in d):
        c = "".join(x for x in d if unicodedata.category(x) != "Mn")
    out = []
    for x in c:
        cat = unicodedata.category(x)
        if cat in ("Mn", "Cf"):
            continue
        out.append("0" if cat == "Nd" else " " if cat[0] in "PSZ" or x in "\x85" else x)
    return "".join(out)


def normalize(text: str) -> str:
    """The normalisation rule, one character at a time, words joined by single spaces."""
    mapped = "".join(_normalize_char(c) for c in text.lower())
    return " ".join(w for w in mapped.split(" ") if w)


def words(text: str) -> list[bytes]:
    return [w.encode() for w in normalize(text).split(" ") if w]


def shingle_hashes(text: str, ngram: int, mult: list[int]) -> list[int]:
    wh = [word_hash(w) for w in words(text)]
    if not wh:
        return []
    windows = [wh[i : i + ngram] for i in range(len(wh) - ngram + 1)] if len(wh) >= ngram else [wh]
    out = []
    for win in windows:
        acc = sum(h * m for h, m in zip(win, mult)) & M64
        out.append(fmix64(acc) >> 32)
    return out


def signature(text: str, ngram: int, mult: list[int], a: list[int], b: list[int]) -> list[int]:
    sh = shingle_hashes(text, ngram, mult)
    if not sh:
        return [0xFFFFFFFF] * len(a)
    return [min(((ak * x + bk) & M64) >> 32 for x in sh) for ak, bk in zip(a, b)]


def shingle_set(text: str, ngram: int) -> set[tuple[bytes, ...]]:
    ws = words(text)
    if len(ws) < ngram:
        return {tuple(ws)} if ws else set()
    return {tuple(ws[i : i + ngram]) for i in range(len(ws) - ngram + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def union_find_labels(n: int, edges) -> np.ndarray:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    return np.array([find(i) for i in range(n)])
