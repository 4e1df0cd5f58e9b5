"""Build, between decide and write: the tokens each kept document is written with, and where from.

A build of more (or fewer) of the same inputs into a directory that holds a finished build grows
(or cuts back) that build: only the new shards are scanned, the decisions are taken again over all
documents, and the old build's bins give the kept documents' tokens where they can (``OldBuild``).

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

import pyarrow.parquet as pq

from dataprep.dedup.boilerplate import stripped_lines
from dataprep.dedup.decide import Decisions
from dataprep.io.reader import Source
from dataprep.io.storage import Store
from dataprep.pipeline.scan import tokens_again
from dataprep.pipeline.scan import ScanOptions
from dataprep.pipeline.scan_shards import Scanned, scan_dirs, scan_key, scan_options, scan_problem, tokens_file
from dataprep.text.tokenizer import get_encoding

SPLIT_BINS = ("train.bin", "val.bin")  # a finished build's split codes 1 and 2 (0: dropped)


@dataclass
class OldBuild:
    """The finished build a new one replaces (a build of fewer or more of the same inputs), as far as
    its bins can give the new one tokens; rows are its manifest's."""

    out: Store  # its directory, holding its bins
    dtype: np.dtype
    starts: dict[str, int]  # first row of each of its scan directories (train inputs, then --val-from files)
    split: np.ndarray  # int8 per row: 0 dropped, 1 train.bin, 2 val.bin
    offset: np.ndarray  # int64 per row: first token in its bin
    written: np.ndarray  # int64 per row: tokens in its bin, EOT included
    stripped: tuple[np.ndarray, np.ndarray]  # (row, line hash) of every line it stripped

    def rows_of(self, c: Scanned) -> np.ndarray:
        """For each document of ``c``: its row here, or -1."""
        rows = np.full(len(c.docs), -1, dtype=np.int64)
        for i, d in enumerate(c.scan_dirs):
            if d in self.starts:
                mine = c.shard == i
                rows[mine] = self.starts[d] + c.row[mine]
        return rows

    def stripped_from(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The lines it stripped, as (document, line hash) of the corpus whose ``rows_of`` is ``rows``."""
        doc_of_row = np.full(len(self.split), -1, dtype=np.int64)
        doc_of_row[rows[rows >= 0]] = np.flatnonzero(rows >= 0)
        docs = doc_of_row[self.stripped[0]]
        return docs[docs >= 0], self.stripped[1][docs >= 0]


def load_old_build(out: Store, state: Store, meta: dict, identities: list, options: ScanOptions) -> OldBuild | None:
    """The finished build in ``out`` (``meta``: its meta.json; ``identities``: of its inputs, then its
    --val-from files), with its scans in ``state``. None when the lines it stripped cannot be found
    again, its scans being damaged: the new build then takes no tokens from it."""
    dirs = scan_dirs(len(meta["sources"]), len(meta["val_sources"]))
    rows = [s["rows"] for s in meta["sources"] + meta["val_sources"]]
    starts = dict(zip(dirs, np.concatenate([[0], np.cumsum(rows)]).tolist()))
    with out.open("manifest.parquet") as f:
        t = pq.read_table(f, columns=["split", "offset", "tokens"])
    names = np.array(t["split"].to_pylist(), dtype=object)
    split = np.where(names == "train", 1, np.where(names == "val", 2, 0)).astype(np.int8)
    stripped = (np.zeros(0, np.int64), np.zeros(0, np.uint64))
    if meta["options"].get("strip_boilerplate"):
        if any(scan_problem(state, d, scan_key(i, options)) for d, i in zip(dirs, identities)):
            return None
        lines = [state.load_array(f"{d}/lines.npz") for d in dirs]
        line_hash = np.concatenate([z["hash"] for z in lines])
        line_doc = np.concatenate([z["doc"] + starts[d] for d, z in zip(dirs, lines)])
        stripped = stripped_lines(line_hash, line_doc, split > 0, meta["options"]["boilerplate_min_docs"])[1]
    return OldBuild(out=out, dtype=np.dtype(meta["dtype"]).newbyteorder("<"), starts=starts, split=split,
                    offset=t["offset"].to_numpy(), written=t["tokens"].to_numpy(), stripped=stripped)


@dataclass
class TokenPlaces:
    """Where kept documents' tokens can be found, besides the corpus and its decisions."""

    sources: list[Source]  # the inputs, train then --val-from, as the corpus numbers them
    work: Store  # holding the scans' tokens files
    scanned_tokens: np.ndarray  # bool per scan directory: its tokens file is in ``work``
    old: OldBuild | None
    opts: object  # a BuildOptions: the boilerplate rules, the tokenizer, batch_rows
    threads: int  # for the tokenizer
    memo: dict  # documents tokenized again, kept between calls on growing corpora (build --tokens)


@dataclass
class DocTokens:
    """The tokens of every kept document, read where ``resolve`` found them."""

    lengths: np.ndarray  # int64 per document: tokens it is written with (without EOT); its scan's count if dropped
    ready: dict[int, np.ndarray]  # documents tokenized here
    reuse: np.ndarray  # bool per document: read from the old build's bins
    old_rows: np.ndarray | None  # per document, its row in the old build (rows_of)
    c: Scanned
    places: TokenPlaces
    boilerplate: dict | None  # {"lines", "docs"} with --strip-boilerplate
    _shard: tuple[int, np.ndarray, np.ndarray] | None = None  # (shard, its tokens, each document's start)

    def take(self, shard: int, docs: np.ndarray) -> list[np.ndarray]:
        """The tokens of ``docs`` (kept, of one shard, in order), without EOT."""
        out = self._from_old_bins(docs[self.reuse[docs]])
        parts = []
        for k in docs.tolist():
            if k in out:
                parts.append(out[k])
            elif k in self.ready:
                parts.append(self.ready[k])
            else:
                tokens, starts = self._scanned(shard)
                parts.append(tokens[starts[k] : starts[k] + self.c.docs.token_counts[k]])
        return parts

    def _from_old_bins(self, docs: np.ndarray) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        old = self.places.old
        if not len(docs):
            return out
        rows = self.old_rows[docs]
        for code in (1, 2):
            mine = old.split[rows] == code
            if not mine.any():
                continue
            start, end = old.offset[rows[mine]], old.offset[rows[mine]] + old.written[rows[mine]] - 1
            lo, hi = int(start.min()), int(end.max())  # one read: the documents lie in order in the bin
            span = np.frombuffer(old.out.read_range(SPLIT_BINS[code - 1], lo * old.dtype.itemsize,
                                                    hi * old.dtype.itemsize), dtype=old.dtype)
            for k, s, e in zip(docs[mine].tolist(), (start - lo).tolist(), (end - lo).tolist()):
                out[k] = span[s:e]
        return out

    def _scanned(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        if self._shard is None or self._shard[0] != shard:
            counts = self.c.docs.token_counts
            mine = np.flatnonzero(self.c.shard == shard)
            starts = np.zeros(len(counts), dtype=np.int64)
            starts[mine] = np.concatenate([[0], np.cumsum(counts[mine])[:-1]])
            dtype = np.dtype(scan_options(self.places.opts).dtype)
            tokens = self.places.work.load_raw(tokens_file(self.c.scan_dirs[shard]), dtype)
            self._shard = (shard, tokens, starts)
        return self._shard[1], self._shard[2]


def resolve(c: Scanned, d: Decisions, places: TokenPlaces) -> DocTokens:
    """Where each kept document's tokens come from (module docstring)."""
    n = len(c.docs)
    kept, opts, old = d.kept, places.opts, places.old
    boiler, boilerplate = None, None
    lines = (np.zeros(0, np.int64), np.zeros(0, np.uint64))
    if opts.strip_boilerplate:
        boiler, where = c.boilerplate(kept, opts.boilerplate_min_docs)
        lines = (where["doc"], where["hash"])
        boilerplate = {"lines": int(len(boiler)), "docs": int(len(np.unique(lines[0])))}
    loses_lines = np.zeros(n, dtype=bool)
    loses_lines[lines[0]] = True

    reuse = np.zeros(n, dtype=bool)
    rows = old.rows_of(c) if old is not None else None
    if old is not None:
        was_written = old.split[np.maximum(rows, 0)] > 0
        reuse = kept & (rows >= 0) & was_written & ~_differ(lines, old.stripped_from(rows), n)
    again = np.flatnonzero(kept & ~reuse & (loses_lines | ~places.scanned_tokens[c.shard]))
    ready = _tokenized(c, again, lines, boiler, places)
    lengths = c.docs.token_counts.copy()
    if old is not None:
        lengths[reuse] = old.written[rows[reuse]] - 1
    for k, toks in ready.items():
        lengths[k] = len(toks)
    return DocTokens(lengths=lengths, ready=ready, reuse=reuse, old_rows=rows, c=c, places=places,
                     boilerplate=boilerplate)


def _tokenized(c: Scanned, docs: np.ndarray, lines, boiler, places: TokenPlaces) -> dict[int, np.ndarray]:
    """Tokens of ``docs`` from their text without their boilerplate lines: from ``places.memo`` when a
    call before tokenized one with the same lines stripped, else tokenized now (and remembered)."""
    memo = places.memo
    keys = _keys(c, docs, lines)
    ready = {k: memo[key[:2]][1] for k, key in zip(docs.tolist(), keys)
             if key[:2] in memo and memo[key[:2]][0] == key[2]}
    todo = np.array([k for k in docs.tolist() if k not in ready], dtype=np.int64)
    opts = places.opts
    fresh = _tokenize(c, todo, places.sources, boiler.hashes if boiler is not None else None, opts.batch_rows,
                      get_encoding(opts.encoding, opts.tokenizer_backend), places.threads)
    for k, key in zip(docs.tolist(), keys):
        if k in fresh:
            memo[key[:2]] = (key[2], fresh[k])
    ready.update(fresh)
    return ready


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
