"""Boilerplate: normalised lines that recur in many kept documents.

CCNet's idea, counted by documents rather than occurrences: a line is
boilerplate when at least ``min_docs`` distinct documents that survive
deduplication contain it (after normalisation, so case, digits and
punctuation do not hide a repeat). Its tokens are what stripping those lines
removes: ``tokens(doc) - tokens(doc without them)``, exactly what
``build --strip-boilerplate`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dataprep.hashing import BatchHashes, hash_batch
from dataprep.normalize import NormalizedBatch, normalize_batch


def line_occurrences(nb: NormalizedBatch, h: BatchHashes, first_doc: int) -> tuple[np.ndarray, np.ndarray]:
    """(line hash, global document) once for each distinct line with words in each document."""
    per_doc = np.diff(nb.doc_lines)
    doc = np.repeat(np.arange(len(per_doc), dtype=np.int64) + first_doc, per_doc)
    has_words = np.diff(h.line_words) > 0
    order = np.lexsort((h.line_hashes[has_words], doc[has_words]))
    hashes, docs = h.line_hashes[has_words][order], doc[has_words][order]
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (docs[1:] != docs[:-1])
    return hashes[first], docs[first]


@dataclass
class Boilerplate:
    hashes: np.ndarray  # sorted uint64 hashes of boilerplate lines
    doc_counts: np.ndarray  # kept documents holding each line

    def __len__(self) -> int:
        return len(self.hashes)


def find_boilerplate(line_hash: np.ndarray, line_doc: np.ndarray, kept: np.ndarray, min_docs: int) -> Boilerplate:
    h = line_hash[kept[line_doc]]
    uniq, counts = np.unique(h, return_counts=True)
    hot = counts >= min_docs
    return Boilerplate(hashes=uniq[hot], doc_counts=counts[hot])


def raw_line_hashes(lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hash of each raw line (no newline inside), and whether it has any word once normalised."""
    h = hash_batch(normalize_batch(pa.array(lines, type=pa.large_string())))
    return h.line_hashes, np.diff(h.line_words) > 0


def strip_lines(texts: list[str], drop: np.ndarray) -> tuple[list[str], list[tuple[int, str]]]:
    """Texts without the lines whose hash is in ``drop`` (sorted), and the (hash, raw line) pairs removed."""
    split = [t.split("\n") for t in texts]
    flat = [line for lines in split for line in lines]
    if not flat or len(drop) == 0:
        return list(texts), []
    hashes, nonempty = raw_line_hashes(flat)
    gone = nonempty & np.isin(hashes, drop)
    if not gone.any():
        return list(texts), []
    out: list[str] = []
    removed: list[tuple[int, str]] = []
    k = 0
    for text, lines in zip(texts, split):
        g = gone[k : k + len(lines)]
        if g.any():
            out.append("\n".join(line for line, x in zip(lines, g) if not x))
            removed.extend((int(hashes[k + i]), lines[i]) for i in np.flatnonzero(g))
        else:
            out.append(text)
        k += len(lines)
    return out, removed
