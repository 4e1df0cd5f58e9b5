"""The whole-corpus decisions of a build: filters, duplicates, validation split, keep rule.

Inputs are the scan results of every shard (small per-document arrays);
outputs are per-document arrays in global (file, row) order, so the same
inputs always give the same decisions whichever engine ran the tasks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from dataprep.bands import band_edges, band_jobs, components
from dataprep.dedup import cluster_keep, exact_duplicates
from dataprep.scores import complete_scores, passes_min_score
from dataprep.storage import Store


@dataclass
class Corpus:
    """Per-document arrays over every scanned shard, in global order."""

    shard: np.ndarray  # int64 shard number
    row: np.ndarray  # int64 row in its file
    ids: list  # document id, or None
    digests: np.ndarray
    has_shingles: np.ndarray
    tokens: np.ndarray  # without EOT
    score: np.ndarray
    int_score: np.ndarray
    language_score: np.ndarray
    is_val_source: np.ndarray
    work: Store
    scan_dirs: list[str]  # relative to work, in shard order

    def band(self, j: int) -> np.ndarray:
        return np.concatenate([self.work.load_array(f"{d}/bands.npy", mmap=True)[j] for d in self.scan_dirs])


def load_corpus(work: Store, scan_dirs: list[str], n_train_sources: int) -> Corpus:
    parts = []
    for d in scan_dirs:
        with work.open(f"{d}/docs.parquet") as f:
            parts.append(pq.read_table(f))
    n = [t.num_rows for t in parts]

    def column(name: str, fill, dtype) -> np.ndarray:
        return np.concatenate(
            [t[name].to_numpy() if name in t.column_names else np.full(t.num_rows, fill) for t in parts]
        ).astype(dtype)

    score, int_score = complete_scores(column("score", np.nan, np.float64), column("int_score", -1, np.int64), sum(n))
    ids: list = []
    for t in parts:
        ids.extend(t["id"].to_pylist() if "id" in t.column_names else [None] * t.num_rows)
    return Corpus(
        shard=np.repeat(np.arange(len(parts)), n),
        row=np.concatenate([np.arange(k) for k in n]),
        ids=ids,
        digests=np.stack([column("digest0", 0, np.uint64), column("digest1", 0, np.uint64)], axis=1),
        has_shingles=column("has_shingles", False, bool),
        tokens=column("tokens", 0, np.int64),
        score=score,
        int_score=int_score,
        language_score=column("language_score", np.nan, np.float64),
        is_val_source=np.repeat(np.arange(len(parts)) >= n_train_sources, n),
        work=work,
        scan_dirs=scan_dirs,
    )


def _id_hash_fraction(ids: list, digests: np.ndarray) -> np.ndarray:
    """A stable number in [0, 1) per document from its id (its text digest when it has none).

    Hashing the id, not the position, keeps the val split the same when shards are added.
    """
    out = np.empty(len(ids), dtype=np.float64)
    for i, doc_id in enumerate(ids):
        key = doc_id.encode() if doc_id is not None else digests[i].tobytes()
        out[i] = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") / 2.0**64
    return out


# The validation split's floor. --val-fraction's default (0.0005) suits billions of tokens; on a
# small corpus it gave no val document at all, and training then failed. So val takes at least
# MIN_VAL_DOCS of the documents that may go to val, but never more than MAX_VAL_SHARE of them.
MIN_VAL_DOCS = 100
MAX_VAL_SHARE = 0.1


@dataclass
class Decisions:
    reason: np.ndarray  # object array: None for kept documents
    split: np.ndarray  # object array: "train", "val" or None
    cluster: np.ndarray  # int64 cluster label (smallest member), -1 for filtered documents
    representative: np.ndarray  # int64 kept document of the cluster, -1 when none
    val_floor: dict | None = None  # when the floor raised the val candidates: {"fraction_gave", "took"}


def decide(c: Corpus, opts, val_bands: np.ndarray | None, engine) -> Decisions:
    """``opts`` is a BuildOptions; ``val_bands`` the band hashes of a reused val set, if any."""
    n = len(c.tokens)
    reason = np.full(n, None, dtype=object)
    if opts.min_score is not None:
        reason[(c.int_score >= 0) & ~passes_min_score(c.score, c.int_score, opts.min_score)] = "score"
    if opts.min_language_score is not None:
        low = np.nan_to_num(c.language_score, nan=np.inf) < opts.min_language_score
        reason[low & (reason == None)] = "language-score"  # noqa: E711 (elementwise)
    reason[(c.tokens < opts.min_tokens) & (reason == None)] = "min-tokens"  # noqa: E711
    passing = reason == None  # noqa: E711

    ids = np.arange(n, dtype=np.int64)
    exact_of = ids.copy()
    exact_of[passing] = ids[passing][exact_duplicates(c.digests[passing])]
    exact = exact_of != ids
    reason[exact] = "exact-dup"

    active = passing & ~exact & c.has_shingles
    c.work.save_array("active.npy", active)
    if val_bands is not None:
        c.work.save_array("val_bands.npy", val_bands)
    c.work.remove("edges")
    jobs = band_jobs(c.work, c.scan_dirs, opts.lsh.bands_rows[0], n, val_bands is not None)
    results = list(engine.map(band_edges, jobs, heavy=False))
    cluster = components(c.work, n, [r["edges"] for r in results], sum(r["count"] for r in results), engine)
    overlap = np.zeros(n, dtype=bool)
    for r in results:
        if "overlap" in r:
            overlap[c.work.load_array(r["overlap"])] = True
    reason[overlap] = "val-overlap"

    member = passing & ~exact & ~overlap
    floor = None
    if opts.val_bin:
        is_val = np.zeros(n, dtype=bool)
    elif opts.val_from:
        is_val = c.is_val_source.copy()
    else:
        is_val, floor = val_candidates(_id_hash_fraction(c.ids, c.digests), opts.val_fraction, member)
    has_train = np.zeros(n, dtype=bool)
    has_train[cluster[member & ~is_val]] = True
    contaminated = member & is_val & has_train[cluster]
    reason[contaminated] = "val-contamination"
    eligible = member & ~contaminated
    keep = np.zeros(n, dtype=bool)
    sel = np.flatnonzero(eligible)
    keep[sel] = cluster_keep(cluster[sel], c.score[sel])
    reason[eligible & ~keep] = "near-dup"
    split = np.full(n, None, dtype=object)
    split[keep & is_val] = "val"
    split[keep & ~is_val] = "train"

    kept_of = np.full(n, -1, dtype=np.int64)
    kept_of[cluster[keep]] = ids[keep]
    group = np.where(passing, cluster[exact_of], -1)
    representative = np.where(group >= 0, kept_of[np.maximum(group, 0)], -1)
    return Decisions(reason=reason, split=split, cluster=group, representative=representative, val_floor=floor)


def val_candidates(fraction_of: np.ndarray, fraction: float, member: np.ndarray) -> tuple[np.ndarray, dict | None]:
    """Documents whose id hash falls below ``fraction``, or, when that is fewer than the floor
    (MIN_VAL_DOCS, at most MAX_VAL_SHARE of the ``member`` documents), the floor's count of members
    with the smallest hashes: the same rule with the fraction raised just enough, so a larger
    corpus that reaches the floor keeps these documents in val. ``fraction`` 0 asks for no val.
    """
    is_val = fraction_of < fraction
    floor = min(MIN_VAL_DOCS, int(MAX_VAL_SHARE * np.count_nonzero(member)))
    have = int(np.count_nonzero(is_val & member))
    if fraction == 0 or have >= floor:
        return is_val, None
    threshold = np.sort(fraction_of[member])[floor - 1]
    return is_val | (fraction_of <= threshold), {"fraction_gave": have, "took": floor}



