"""One pass over a batch of documents: everything deduplication needs.

This is the per-document work shared by ``estimate`` and ``build``:
normalise, hash (exact digest, MinHash bands, line hashes). Its output is
plain arrays, small enough per document to keep for a whole corpus.
``tokens_again`` is the second pass both make over the few documents that
lose boilerplate lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from dataprep.dedup.boilerplate import line_occurrences, strip_lines
from dataprep.text.hashing import doc_digests, hash_batch
from dataprep.dedup.minhash import MinHasher
from dataprep.text.normalize import normalize_batch
from dataprep.io.reader import Batch, Source, read_rows
from dataprep.text.tokenizer import encode_batch


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


def tokens_again(sources: list[Source], docs: np.ndarray, drop: np.ndarray | None, enc, batch_rows: int,
                 threads: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The tokens of ``docs`` (global numbers over ``sources``, sorted) from their text read again,
    without the lines hashed in ``drop`` (None: as they are). Yields (docs, flat tokens, lengths), a
    batch of texts in memory at a time."""
    for lo in range(0, len(docs), batch_rows):
        some = docs[lo : lo + batch_rows]
        texts = read_rows(sources, some)
        if drop is not None:
            texts, _ = strip_lines(texts, drop)
        flat, lengths = encode_batch(enc, texts, threads)
        yield some, flat, lengths
