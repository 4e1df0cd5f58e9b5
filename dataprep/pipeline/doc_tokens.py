"""Build, between decide and write: the tokens each kept document is written with, and where from.

Every kept document is tokenized once, by its scan; its tokens are then read from, in this order:

1. the bins of the build this one replaces (a build of fewer or more of the same inputs), when
   that build wrote the document with the very tokens it needs now: kept there, and stripped of
   the same boilerplate lines (none, without ``--strip-boilerplate``);
2. its scan's tokens file (``.work/tokens/``), when it loses no boilerplate line;
3. otherwise its text, read again from its input and tokenized without the boilerplate lines.

Step 3 covers what a grown corpus changes in old documents: a line that became boilerplate, one
that no longer is, a document the val split's floor let back in. Only documents that change are
tokenized again, so the bins hold exactly the stripped text, and a grown build writes the bytes a
build of all its shards at once writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataprep.dedup.boilerplate import find_boilerplate
from dataprep.dedup.decide import Decisions
from dataprep.io.reader import Source
from dataprep.io.storage import Store
from dataprep.pipeline.scan import tokens_again
from dataprep.pipeline.scan_shards import Scanned, tokens_file

SPLIT_BINS = ("train.bin", "val.bin")  # a previous build's split codes 1 and 2 (0: dropped)


@dataclass
class Previous:
    """The finished build a new one replaces, as far as its bins can give the new one tokens."""

    out: Store  # its directory, holding its bins
    dtype: np.dtype
    index: np.ndarray  # for each document of the new corpus: its row in the old manifest, or -1
    split: np.ndarray  # int8 per old manifest row: 0 dropped, 1 train.bin, 2 val.bin
    offset: np.ndarray  # int64 per old manifest row: first token in its bin
    written: np.ndarray  # int64 per old manifest row: tokens in its bin, EOT included
    stripped: tuple[np.ndarray, np.ndarray]  # (new document, line hash) of every line the old build stripped


@dataclass
class DocTokens:
    """The tokens of every kept document, read where ``resolve`` found them."""

    lengths: np.ndarray  # int64 per document: tokens it is written with (without EOT); its scan's count if dropped
    ready: dict[int, np.ndarray]  # documents tokenized here
    reuse: np.ndarray  # bool per document: read from the previous build's bins
    previous: Previous | None
    c: Scanned
    work: Store  # holding the scans' tokens files
    dtype: np.dtype
    boilerplate: dict | None  # {"lines", "docs"} with --strip-boilerplate
    _shard: tuple[int, np.ndarray, np.ndarray] | None = None  # (shard, its tokens, each document's start)

    def take(self, shard: int, docs: np.ndarray) -> list[np.ndarray]:
        """The tokens of ``docs`` (kept, of one shard, in order), without EOT."""
        out: dict[int, np.ndarray] = {}
        reused = docs[self.reuse[docs]]
        if len(reused):
            p = self.previous
            rows = p.index[reused]
            for code in (1, 2):
                mine = p.split[rows] == code
                if not mine.any():
                    continue
                start, end = p.offset[rows[mine]], p.offset[rows[mine]] + p.written[rows[mine]] - 1
                lo, hi = int(start.min()), int(end.max())  # one read: the documents lie in order in the bin
                span = np.frombuffer(p.out.read_range(SPLIT_BINS[code - 1], lo * p.dtype.itemsize,
                                                      hi * p.dtype.itemsize), dtype=p.dtype)
                for k, s, e in zip(reused[mine].tolist(), (start - lo).tolist(), (end - lo).tolist()):
                    out[k] = span[s:e]
        parts = []
        for k in docs.tolist():
            if k in out:
                parts.append(out[k])
            elif k in self.ready:
                parts.append(self.ready[k])
            else:
                tokens, starts = self._scanned(shard)
                parts.append(tokens[starts[k] : starts[k] + self.c.tokens[k]])
        return parts

    def _scanned(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        if self._shard is None or self._shard[0] != shard:
            mine = np.flatnonzero(self.c.shard == shard)
            starts = np.zeros(len(self.c.tokens), dtype=np.int64)
            starts[mine] = np.concatenate([[0], np.cumsum(self.c.tokens[mine])[:-1]])
            tokens = self.work.load_raw(tokens_file(self.c.scan_dirs[shard]), self.dtype)
            self._shard = (shard, tokens, starts)
        return self._shard[1], self._shard[2]


def resolve(c: Scanned, d: Decisions, opts, sources: list[Source], enc, work: Store, dtype: np.dtype,
            scanned_tokens: np.ndarray, previous: Previous | None, threads: int = 2,
            memo: dict | None = None) -> DocTokens:
    """Where each kept document's tokens come from (module docstring). ``scanned_tokens``: bool per
    shard, its scan's tokens file is in ``work``. ``opts``: a BuildOptions. ``memo`` keeps the
    documents tokenized here between calls on growing corpora (build --tokens), by scan directory,
    row and the lines stripped, so none is tokenized twice the same way."""
    n = len(c.tokens)
    kept = d.kept
    boiler, boilerplate = None, None
    lines = (np.zeros(0, np.int64), np.zeros(0, np.uint64))
    if opts.strip_boilerplate:
        line_hash, line_doc = c.lines()
        boiler = find_boilerplate(line_hash, line_doc, kept, opts.boilerplate_min_docs)
        take = np.isin(line_hash, boiler.hashes) & kept[line_doc]
        lines = (line_doc[take], line_hash[take])
        boilerplate = {"lines": int(len(boiler)), "docs": int(len(np.unique(lines[0])))}
    loses_lines = np.zeros(n, dtype=bool)
    loses_lines[lines[0]] = True

    reuse = np.zeros(n, dtype=bool)
    if previous is not None:
        was_written = previous.split[np.maximum(previous.index, 0)] > 0
        reuse = kept & (previous.index >= 0) & was_written & ~_differ(lines, previous.stripped, n)
    again = np.flatnonzero(kept & ~reuse & (loses_lines | ~scanned_tokens[c.shard]))
    memo = {} if memo is None else memo
    keys = _keys(c, again, lines)
    ready = {k: memo[key[:2]][1] for k, key in zip(again.tolist(), keys)
             if key[:2] in memo and memo[key[:2]][0] == key[2]}
    todo = np.array([k for k in again.tolist() if k not in ready], dtype=np.int64)
    fresh = _tokenize(c, todo, sources, boiler.hashes if boiler is not None else None, opts.batch_rows, enc, threads)
    for k, key in zip(again.tolist(), keys):
        if k in fresh:
            memo[key[:2]] = (key[2], fresh[k])
    ready.update(fresh)

    lengths = c.tokens.copy()
    if previous is not None:
        lengths[reuse] = previous.written[previous.index[reuse]] - 1
    for k, toks in ready.items():
        lengths[k] = len(toks)
    return DocTokens(lengths=lengths, ready=ready, reuse=reuse, previous=previous, c=c, work=work, dtype=dtype,
                     boilerplate=boilerplate)


def _keys(c: Scanned, docs: np.ndarray, lines: tuple[np.ndarray, np.ndarray]) -> list[tuple]:
    """(scan directory, row, hashes of the lines stripped) of each of ``docs``: what its tokens depend on."""
    order = np.argsort(lines[0], kind="stable")
    held, hashes = lines[0][order], lines[1][order]
    lo, hi = np.searchsorted(held, docs), np.searchsorted(held, docs, side="right")
    return [(c.scan_dirs[c.shard[k]], int(c.row[k]), tuple(np.sort(hashes[a:b]).tolist()))
            for k, a, b in zip(docs.tolist(), lo.tolist(), hi.tolist())]


def _differ(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    """Per document: its (document, line hash) pairs in ``a`` and in ``b`` (each without repeats) are not
    the same set, so stripping it under one set of boilerplate lines differs from the other."""
    docs = np.concatenate([a[0], b[0]])
    hashes = np.concatenate([a[1], b[1]])
    order = np.lexsort((hashes, docs))
    docs, hashes = docs[order], hashes[order]
    paired = np.zeros(len(docs), dtype=bool)  # a pair found in both sets sits twice, side by side
    same = (docs[1:] == docs[:-1]) & (hashes[1:] == hashes[:-1])
    paired[1:] |= same
    paired[:-1] |= same
    out = np.zeros(n, dtype=bool)
    out[docs[~paired]] = True
    return out


def _tokenize(c: Scanned, docs: np.ndarray, sources: list[Source], boiler: np.ndarray | None, batch: int, enc,
              threads: int) -> dict[int, np.ndarray]:
    """Tokens of ``docs`` (sorted) from their text, read again, without the lines hashed in ``boiler``.
    ``c`` numbers documents as ``sources`` hold them, file after file."""
    out: dict[int, np.ndarray] = {}
    for some, flat, lengths in tokens_again(sources, docs, boiler, enc, batch, threads):
        starts = np.concatenate([[0], np.cumsum(lengths)])
        for j, k in enumerate(some.tolist()):
            out[k] = flat[starts[j] : starts[j + 1]]
    return out
