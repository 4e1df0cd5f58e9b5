"""One pass over the documents of one input: everything deduplication and the report need.

This is the per-document work of ``estimate`` and ``build`` alike (both run it as the scan task of
``scan_shards.py``): read, normalise, hash (exact digest, MinHash bands, line hashes) and tokenize.
Its output is plain arrays, small enough per document to keep for a whole corpus.
``tokens_again`` is the second pass both make over the few documents that lose boilerplate lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.dedup.boilerplate import line_occurrences, line_tokens, occurrence_tokens, strip_lines
from dataprep.dedup.diversity import NgramDiversity
from dataprep.dedup.minhash import LSHParams, MinHasher
from dataprep.io.reader import Batch, Source, iter_batches, read_rows
from dataprep.text.hashing import doc_digests, hash_batch
from dataprep.text.normalize import normalize_batch
from dataprep.text.tokenizer import encode_batch, get_encoding, token_byte_lengths

# Columns a scan keeps beside the text, where the input has them (token_count only when asked).
OPTIONAL_COLUMNS = ("score", "int_score", "language_score", "token_count", "id")


@dataclass(frozen=True)
class ScanOptions:
    """Everything that shapes what a scan measures, besides its input. ``scan_shards.scan_key``
    digests all of its fields, so a field added here is part of every kept scan's key."""

    lsh: LSHParams  # the MinHash signatures and their bands
    text_column: str  # the column read, as the input resolved it
    encoding: str  # the tokenizer
    dtype: str  # the tokens file's element type
    line_tokens: bool = False  # also the tokens of each line in each document (estimate's boilerplate count)
    diversity_ngram: int = 0  # also a HyperLogLog of token n-grams of this length (estimate); 0: none
    token_count: bool = False  # also the input's token_count column (estimate shows its sum)

    def columns(self) -> tuple[str, ...]:
        """The optional columns read beside the text."""
        return tuple(c for c in OPTIONAL_COLUMNS if c != "token_count" or self.token_count)


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


@dataclass
class ShardScan:
    """What one scan measured: per document, per (distinct line, document), and for the whole input."""

    columns: dict[str, list] = field(default_factory=dict)  # per document, a list of arrays (one per batch)
    bands: list[np.ndarray] = field(default_factory=list)  # (docs, bands) uint64 per batch
    lines: dict[str, list] = field(default_factory=lambda: {"hash": [], "doc": [], "tokens": []})
    diversity: NgramDiversity | None = None

    def add(self, name: str, values) -> None:
        self.columns.setdefault(name, []).append(values)

    def column(self, name: str):
        parts = self.columns.get(name, [])
        if not parts or any(p is None for p in parts):
            return None
        return list(chain.from_iterable(parts)) if isinstance(parts[0], list) else np.concatenate(parts)


def scan_source(src: Source, options: ScanOptions, backend: str, batch_rows: int, threads: int,
                tokens_out: BinaryIO | None = None) -> ShardScan:
    """Scan every document of ``src``; its tokens go to ``tokens_out`` when given (build keeps them).

    The tokenizer releases the GIL: batch i is tokenized in the background (on ``threads`` threads)
    while this thread scans batch i and finishes batch i - 1.
    """
    enc = get_encoding(options.encoding, backend)
    minhasher = MinHasher(options.lsh)
    out = ShardScan(diversity=NgramDiversity(n=options.diversity_ngram) if options.diversity_ngram else None)
    token_bytes = token_byte_lengths(enc) if options.line_tokens else None
    dtype = np.dtype(options.dtype)

    def finish(tokenized, batch: Batch, scan: BatchScan) -> None:
        flat, lengths = tokenized.result()
        if tokens_out is not None:
            tokens_out.write(flat.astype(dtype).tobytes())
        if out.diversity is not None:
            out.diversity.update(flat, lengths)
        if token_bytes is not None:
            per_line = line_tokens(batch.text, flat, lengths, token_bytes)
            out.lines["tokens"].append(occurrence_tokens(per_line, scan.line_slot, len(scan.line_hash)))
        out.add("tokens", lengths)

    with ThreadPoolExecutor(max_workers=1) as pool:
        previous = None
        for batch in iter_batches([src], options.columns(), batch_rows):
            tokenized = pool.submit(encode_batch, enc, batch.texts(), threads)
            scan = scan_batch(batch, minhasher)
            if previous is not None:
                finish(*previous)
            previous = (tokenized, batch, scan)
            _keep(out, batch, scan)
            # pyarrow's allocator keeps the pages of batches already decoded; given back, a scan holds
            # about 40 MB less (bench/bench_estimate.py's process tree), at no measurable cost.
            pa.default_memory_pool().release_unused()
        if previous is not None:
            finish(*previous)
    return out


def _keep(out: ShardScan, batch: Batch, scan: BatchScan) -> None:
    """What a batch's scan leaves per document and per line."""
    out.add("digest0", scan.digests[:, 0])
    out.add("digest1", scan.digests[:, 1])
    out.add("has_shingles", scan.has_shingles)
    out.add("text_bytes", scan.text_bytes)
    for name in OPTIONAL_COLUMNS:
        out.add(name, batch.columns.get(name))
    out.bands.append(scan.band_hashes)
    out.lines["hash"].append(scan.line_hash)
    out.lines["doc"].append(scan.line_doc)


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
