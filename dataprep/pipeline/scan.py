"""One pass over a batch of documents: everything deduplication needs.

This is the per-document work shared by ``estimate`` and ``build``:
normalise, hash (exact digest, MinHash bands, line hashes). Its output is
plain arrays, small enough per document to keep for a whole corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from dataprep.dedup.boilerplate import line_occurrences
from dataprep.text.hashing import doc_digests, hash_batch
from dataprep.dedup.minhash import MinHasher
from dataprep.text.normalize import normalize_batch
from dataprep.io.reader import Batch


@dataclass
class BatchScan:
    first_doc: int
    text_bytes: np.ndarray  # int64, UTF-8 bytes of each raw document
    digests: np.ndarray  # (n, 2) uint64, normalised text
    band_hashes: np.ndarray  # (n, bands) uint64
    has_shingles: np.ndarray  # bool: at least one word after normalisation
    line_hash: np.ndarray  # uint64, one per distinct line per document
    line_doc: np.ndarray  # int64 global document of each line
    line_slot: np.ndarray  # int64 per raw line of the batch: its (line_hash, line_doc) pair, -1 without words


def scan_batch(batch: Batch, minhasher: MinHasher) -> BatchScan:
    nb = normalize_batch(batch.text)
    hashes = hash_batch(nb)
    sig = minhasher.signatures(hashes)
    line_hash, line_doc, line_slot = line_occurrences(nb, hashes, batch.first_doc)
    return BatchScan(
        first_doc=batch.first_doc,
        text_bytes=pc.binary_length(batch.text).to_numpy().astype(np.int64),
        digests=doc_digests(hashes),
        band_hashes=minhasher.band_hashes(sig),
        has_shingles=np.diff(hashes.doc_words) > 0,
        line_hash=line_hash,
        line_doc=line_doc,
        line_slot=line_slot,
    )
