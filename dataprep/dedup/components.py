"""Duplicate decisions over a whole corpus, from per-document hashes.

Inputs are plain arrays indexed by global document number (file order, then
row), so every decision is deterministic and independent of batching:

* exact duplicates: the same 128-bit digest of normalised text as an
  earlier document; the first one is kept;
* near duplicates: documents sharing any LSH band hash are joined, the
  connected components are clusters, and each cluster keeps its
  highest-scoring document, ties going to the earliest.
"""

from __future__ import annotations


import numpy as np


def exact_duplicates(digests: np.ndarray) -> np.ndarray:
    """For (n, 2) uint64 digests: the index of the first document with the same digest."""
    n = len(digests)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(n), digests[:, 1], digests[:, 0]))
    d = digests[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (d[1:] != d[:-1]).any(axis=1)
    group_first = order[np.flatnonzero(new_group)]
    first = np.empty(n, dtype=np.int64)
    first[order] = np.repeat(group_first, np.diff(np.append(np.flatnonzero(new_group), n)))
    return first


def lsh_edges(band_hashes: np.ndarray, doc_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges joining documents that share a band hash: each to the smallest id of its bucket.

    ``band_hashes`` is (n, bands); ``doc_ids`` names its rows. A bucket of k
    documents gives k - 1 edges, which is all connectivity needs.
    """
    us, vs = [], []
    for j in range(band_hashes.shape[1]):
        h = band_hashes[:, j]
        order = np.lexsort((doc_ids, h))
        hs = h[order]
        same_as_prev = np.zeros(len(hs), dtype=bool)
        same_as_prev[1:] = hs[1:] == hs[:-1]
        if not same_as_prev.any():
            continue
        bucket_head = np.maximum.accumulate(np.where(same_as_prev, 0, np.arange(len(hs))))
        members = np.flatnonzero(same_as_prev)
        us.append(doc_ids[order[bucket_head[members]]])
        vs.append(doc_ids[order[members]])
    if not us:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    u = np.concatenate(us)
    v = np.concatenate(vs)
    pairs = np.unique(np.stack([u, v], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def connected_components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Component label of each of n nodes: the smallest node in its component.

    Vectorised union-find: hook every root to the smallest root it shares an
    edge with, then jump pointers until each node points at a root; repeat
    until no edge crosses two components.
    """
    label = np.arange(n, dtype=np.int64)
    if len(u) == 0:
        return label
    while True:
        lu, lv = label[u], label[v]
        crossing = lu != lv
        if not crossing.any():
            return label
        lo = np.minimum(lu[crossing], lv[crossing])
        hi = np.maximum(lu[crossing], lv[crossing])
        np.minimum.at(label, hi, lo)
        label = jump_pointers(label)


def jump_pointers(label: np.ndarray) -> np.ndarray:
    """Every node pointed at its root: follow ``label`` (each node's parent, roots their own) until it stops changing."""
    while True:
        jumped = label[label]
        if np.array_equal(jumped, label):
            return label
        label = jumped


def cluster_keep(labels: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Boolean mask: one document kept per label, highest score first, then lowest index."""
    n = len(labels)
    s = np.where(np.isnan(score), -np.inf, score)
    order = np.lexsort((np.arange(n), -s, labels))
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    keep = np.zeros(n, dtype=bool)
    keep[order[first]] = True
    return keep
