"""Boilerplate: normalised lines that recur in many kept documents.

CCNet's idea, counted by documents rather than occurrences: a line is
boilerplate when at least ``min_docs`` distinct documents that survive
deduplication contain it (after normalisation, so case, digits and
punctuation do not hide a repeat).

Its tokens: ``build --strip-boilerplate`` writes exactly the tokens of each
stripped document, tokenized again, and ``estimate --strip-boilerplate`` does
the same, so its forecast is exact. Without the option, estimate reports what
stripping would remove by counting, from the one tokenization it already did,
the tokens that start inside each line (a line owns the newline that ends it),
summed over the boilerplate lines of each document (``line_tokens``,
``removed_tokens``). GPT-2's pre-tokenizer can merge whitespace across a line
end, so that count can differ from re-tokenizing by a token or so per stripped
document; docs/estimate.md gives the measured difference on generated and real
text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dataprep.text.hashing import BatchHashes, hash_batch
from dataprep.text.normalize import NormalizedBatch, normalize_batch

NEWLINE = ord("\n")


def line_occurrences(nb: NormalizedBatch, h: BatchHashes, first_doc: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(line hash, global document) once for each distinct line with words in each document,
    and for every line of the batch the index of its pair (-1 for lines without words)."""
    per_doc = np.diff(nb.doc_lines)
    doc = np.repeat(np.arange(len(per_doc), dtype=np.int64) + first_doc, per_doc)
    has_words = np.flatnonzero(np.diff(h.line_words) > 0)
    order = np.lexsort((h.line_hashes[has_words], doc[has_words]))
    hashes, docs = h.line_hashes[has_words][order], doc[has_words][order]
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (docs[1:] != docs[:-1])
    slot = np.full(len(doc), -1, dtype=np.int64)
    slot[has_words[order]] = np.cumsum(first) - 1
    return hashes[first], docs[first], slot


# Documents whose lines are counted at once: the work takes about 32 bytes per token, so a batch of
# 2,048 documents would need about 70 MB where 256 at a time need 9.
LINE_TOKEN_DOCS = 256


def line_tokens(text: pa.Array, flat: np.ndarray, lengths: np.ndarray, token_bytes: np.ndarray) -> np.ndarray:
    """``line_tokens_of`` a batch, LINE_TOKEN_DOCS documents at a time. Each document's lines are
    counted from its own tokens, which spell its bytes (the reader hands over valid UTF-8 only), so
    the parts make the whole."""
    if len(lengths) <= LINE_TOKEN_DOCS:
        return line_tokens_of(text, flat, lengths, token_bytes)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return np.concatenate([line_tokens_of(text.slice(lo, hi - lo), flat[bounds[lo] : bounds[hi]], lengths[lo:hi],
                                          token_bytes)
                           for lo, hi in ((lo, min(lo + LINE_TOKEN_DOCS, len(lengths)))
                                          for lo in range(0, len(lengths), LINE_TOKEN_DOCS))])


def line_tokens_of(text: pa.Array, flat: np.ndarray, lengths: np.ndarray, token_bytes: np.ndarray) -> np.ndarray:
    """What stripping each line alone would remove from its document, in tokens of the one tokenization.

    Lines are split on "\\n", in ``normalize_batch``'s order. A line counts the tokens that start
    inside it, its ending newline included; the last line of a document of several lines has no
    newline of its own but takes the one before it, which stripping it removes as well
    (``removed_tokens`` caps a document's sum at its tokens, for when every line goes).
    ``flat`` and ``lengths`` are the batch's tokens as ``encode_batch`` returns them, and
    ``token_bytes`` the byte length of every token id: a document's tokens spell its UTF-8
    bytes in order, so where each starts follows from the lengths alone, with no decoding.
    """
    data, offsets = _text_buffers(text)
    tok_len = token_bytes[flat]
    ends = np.cumsum(tok_len)
    starts = ends - tok_len
    first = np.cumsum(lengths) - lengths
    has = lengths > 0
    if not np.array_equal(starts[first[has]], offsets[:-1][has]):
        # Tokens of valid UTF-8 always spell it; should one document's not, its tokens are kept
        # inside its own bytes, so the lines of the documents after it are not shifted.
        starts += np.repeat(offsets[:-1] - np.append(starts, 0)[first], lengths)
        starts = np.minimum(starts, np.repeat(np.maximum(offsets[1:] - 1, offsets[:-1]), lengths))
    newlines = np.flatnonzero(data == NEWLINE)
    line_starts = np.sort(np.concatenate([offsets[:-1], newlines + 1]))
    counts = np.diff(np.searchsorted(starts, line_starts), append=len(flat))
    lines_per_doc = np.diff(np.searchsorted(newlines, offsets)) + 1
    counts[np.cumsum(lines_per_doc) - 1] += lines_per_doc > 1
    return counts


def _text_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a string array and int64 offsets of each value in them, without copying the text."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    _, offsets_buf, data_buf = text.buffers()
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[text.offset : text.offset + len(text) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def in_sorted(values: np.ndarray, sorted_hashes: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is one of ``sorted_hashes`` (sorted): a binary search per value, where
    ``np.isin`` would first sort or hash both arrays, at several times the cost on a shard's lines."""
    if len(sorted_hashes) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_hashes, values), len(sorted_hashes) - 1)
    return sorted_hashes[at] == values


def occurrence_tokens(per_line: np.ndarray, slot: np.ndarray, occurrences: int) -> np.ndarray:
    """Tokens of each (line hash, document) pair of ``line_occurrences``: its lines' counts summed."""
    has = slot >= 0
    return np.bincount(slot[has], weights=per_line[has], minlength=occurrences).astype(np.uint32)


def removed_tokens(line_hash: np.ndarray, line_doc: np.ndarray, line_tok: np.ndarray, drop: np.ndarray,
                   doc_tokens: np.ndarray) -> np.ndarray:
    """Tokens each document loses when its lines hashed in ``drop`` (sorted) are stripped: the counts of
    ``occurrence_tokens`` summed, at most the document's ``doc_tokens`` (int64, 0 for a document
    to leave alone)."""
    take = in_sorted(line_hash, drop) & (doc_tokens[line_doc] > 0)
    return place_tokens(line_doc[take], line_tok[take], doc_tokens)


def place_tokens(place_doc: np.ndarray, place_tok: np.ndarray, doc_tokens: np.ndarray) -> np.ndarray:
    """``removed_tokens`` of places already chosen (each a line to strip from a document to strip)."""
    summed = np.bincount(place_doc, weights=place_tok, minlength=len(doc_tokens)).astype(np.int64)
    return np.minimum(summed, doc_tokens)


@dataclass
class Boilerplate:
    hashes: np.ndarray  # sorted uint64 hashes of boilerplate lines
    doc_counts: np.ndarray  # kept documents holding each line

    def __len__(self) -> int:
        return len(self.hashes)

    def top(self, n: int) -> np.ndarray:
        """Indices of the ``n`` lines held by most documents (ties: smaller hash first)."""
        return np.lexsort((self.hashes, -self.doc_counts))[:n]


def count_lines(line_hash: np.ndarray, line_doc: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct line hash among the ``kept`` documents (sorted) and how many of them hold it."""
    return np.unique(line_hash[kept[line_doc]], return_counts=True)


def merge_counts(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``count_lines`` of parts of a corpus (their documents apart) as one. Each part is sorted, so a
    stable sort (timsort, which merges runs) takes linear time per part, where ``np.unique`` would sort
    the whole again: about 12 times faster on a corpus's lines."""
    hashes = np.concatenate([p[0] for p in parts])
    order = np.argsort(hashes, kind="stable")
    hashes, counts = hashes[order], np.concatenate([p[1] for p in parts]).astype(np.int64)[order]
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = hashes[1:] != hashes[:-1]
    starts = np.flatnonzero(first)
    return hashes[starts], np.add.reduceat(counts, starts) if len(starts) else counts


def boilerplate_of(counts: tuple[np.ndarray, np.ndarray], min_docs: int) -> Boilerplate:
    """The lines held by at least ``min_docs`` kept documents, from ``count_lines``."""
    hot = counts[1] >= min_docs
    return Boilerplate(hashes=counts[0][hot], doc_counts=counts[1][hot])


def find_boilerplate(line_hash: np.ndarray, line_doc: np.ndarray, kept: np.ndarray, min_docs: int) -> Boilerplate:
    return boilerplate_of(count_lines(line_hash, line_doc, kept), min_docs)


def boilerplate_places(line_hash: np.ndarray, line_doc: np.ndarray, kept: np.ndarray, boiler: Boilerplate) -> np.ndarray:
    """Which (line, document) pairs stripping removes: a boilerplate line in a kept document."""
    return in_sorted(line_hash, boiler.hashes) & kept[line_doc]


def stripped_lines(line_hash: np.ndarray, line_doc: np.ndarray, kept: np.ndarray,
                   min_docs: int) -> tuple[Boilerplate, tuple[np.ndarray, np.ndarray]]:
    """The boilerplate lines among the ``kept`` documents, and (document, line hash) of every place one
    of them lies in a kept document: what stripping removes. estimate and build both select them here."""
    boiler = find_boilerplate(line_hash, line_doc, kept, min_docs)
    take = boilerplate_places(line_hash, line_doc, kept, boiler)
    return boiler, (line_doc[take], line_hash[take])


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
    gone = nonempty & in_sorted(hashes, drop)
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


def first_places(line_hash: np.ndarray, line_doc: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``hashes`` that ``line_hash`` holds (sorted), and the first (smallest) document holding it.
    Of places split into parts, the first places of the parts' first places are those of the whole."""
    take = in_sorted(line_hash, np.sort(hashes))
    h, d = line_hash[take], line_doc[take]
    order = np.lexsort((d, h))
    first = np.ones(len(order), dtype=bool)
    first[1:] = h[order][1:] != h[order][:-1]
    return h[order][first], d[order][first]


def sample_lines(texts: list[str], hashes: np.ndarray) -> dict[int, str]:
    """The first raw line of ``texts``, in order, with each of ``hashes``."""
    samples: dict[int, str] = {}
    for h, line in strip_lines(texts, np.sort(hashes))[1]:
        samples.setdefault(h, line)
    return samples
