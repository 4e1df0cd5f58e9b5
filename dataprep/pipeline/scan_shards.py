"""Build, stage 1: scan each shard once, as an engine task, and read back what the scans left.

A scan reads, normalises, hashes (exact digest, MinHash bands, lines) and tokenizes every document
of one shard. What deduplication needs (``docs.parquet``, ``bands.npy``, ``lines.npz``) goes to
``.state/scan/NNNNN/`` (``val-NNNNN`` for a ``--val-from`` file), kept after the build so that a
later build of more shards scans only those; the tokens go to ``.work/tokens/``, removed with the
work files, since the bins hold the kept ones. The ``source.json`` marker comes last and names the
input the scan was made from. Nothing here depends on filter or split options.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.dedup.decide import Documents, val_keys
from dataprep.dedup.minhash import LSHParams, MinHasher
from dataprep.errors import DataprepError
from dataprep.io.reader import Source, check_unchanged, iter_batches, text_column_of
from dataprep.io.digest import local_description
from dataprep.io.storage import Store, file_sha256, filesystem, is_url
from dataprep.pipeline.outdir import fingerprint
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan import scan_batch
from dataprep.text.scores import complete_scores
from dataprep.text.tokenizer import bin_dtype, encode_batch, get_encoding

OPTIONAL_COLUMNS = ("score", "int_score", "language_score", "id")


# Bumped whenever what a scan writes changes: a scan of another format is never reused.
SCAN_FORMAT = 2
MARKER = "source.json"
STATE_FILES = ("docs.parquet", "bands.npy", "lines.npz")


@dataclass(frozen=True)
class ScanOptions:
    """Everything that shapes the bytes a scan writes, besides its input. ``scan_key`` digests all of
    its fields, so a field added here is part of every scan's key."""

    lsh: LSHParams  # the MinHash signatures and their bands
    text_column: str  # the column read, as the input resolved it
    encoding: str  # the tokenizer
    dtype: str  # the tokens file's element type

    @classmethod
    def of(cls, opts) -> "ScanOptions":
        """The scan options under a build's options (a BuildOptions)."""
        enc = get_encoding(opts.encoding)
        return cls(lsh=opts.lsh, text_column=text_column_of(opts.text_column), encoding=enc.name,
                   dtype=bin_dtype(enc.n_vocab).name)


def scan_key(identity: tuple, options: ScanOptions) -> str:
    """The digest a scan is kept under: its input's identity, its options and the scan format."""
    return fingerprint({"format": SCAN_FORMAT, "input": list(identity), "options": asdict(options)})


@dataclass(frozen=True)
class ScanJob:
    source: Source
    identity: tuple  # input_identity() of the source, as the driver saw it
    options: ScanOptions
    state: str  # the kept state directory (path or URL)
    out: str  # this shard's scan directory, relative to state
    work: str  # the work directory (path or URL)
    tokens: str  # this shard's tokens file, relative to work
    # How the scan runs, not what it writes (so not in its key):
    backend: str  # a tokenizer backend verified to give the encoding's ids
    batch_rows: int
    threads: int


def scan_shard(job: ScanJob) -> dict:
    """Everything later stages need from one shard; the marker (``source.json``) is written last,
    naming the scan's key and each file's size and sha256."""
    opts = job.options
    enc = get_encoding(opts.encoding, job.backend)
    dtype = np.dtype(opts.dtype)
    minhasher = MinHasher(opts.lsh)
    src = job.source
    scan_dir = Store(job.state).sub(job.out)
    written: dict[str, dict] = {name: {} for name in STATE_FILES}
    cols: dict[str, list] = {k: [] for k in ("digest", "bands", "has_shingles", "text_bytes", "tokens")}
    extra: dict[str, list] = {k: [] for k in OPTIONAL_COLUMNS}
    line_hash, line_doc = [], []
    tokens_written: dict = {}
    with Store(job.work).writer(job.tokens, seal=_seal(tokens_written)) as tok_file:
        for batch in iter_batches([src], OPTIONAL_COLUMNS, job.batch_rows):
            scan = scan_batch(batch, minhasher)
            flat, lengths = encode_batch(enc, batch.texts(), job.threads)
            tok_file.write(flat.astype(dtype).tobytes())
            cols["digest"].append(scan.digests)
            cols["bands"].append(scan.band_hashes)
            cols["has_shingles"].append(scan.has_shingles)
            cols["text_bytes"].append(scan.text_bytes)
            cols["tokens"].append(lengths)
            for k in OPTIONAL_COLUMNS:
                extra[k].append(batch.columns.get(k))
            line_hash.append(scan.line_hash)
            line_doc.append(scan.line_doc)
    digests = np.concatenate(cols["digest"])
    table = {
        "digest0": digests[:, 0],
        "digest1": digests[:, 1],
        "has_shingles": np.concatenate(cols["has_shingles"]),
        "text_bytes": np.concatenate(cols["text_bytes"]),
        "tokens": np.concatenate(cols["tokens"]),
    }
    for k in OPTIONAL_COLUMNS:
        if all(v is not None for v in extra[k]):
            table[k] = list(chain.from_iterable(extra[k])) if k == "id" else np.concatenate(extra[k])
    with scan_dir.writer("docs.parquet", seal=_seal(written["docs.parquet"])) as f:
        pq.write_table(pa.table(table), f)
    # Band-major, so that one band of a shard is one contiguous row for the band tasks.
    with scan_dir.writer("bands.npy", seal=_seal(written["bands.npy"])) as f:
        np.save(f, np.ascontiguousarray(np.concatenate(cols["bands"]).T))
    with scan_dir.writer("lines.npz", seal=_seal(written["lines.npz"])) as f:
        np.savez(f, hash=np.concatenate(line_hash), doc=np.concatenate(line_doc))
    info = {"path": src.path, "rows": src.rows, "bytes": src.size, "sha256": _checked_sha256(src, job.identity)}
    scan_dir.write_json(MARKER, {**info, "identity": list(job.identity), "key": scan_key(job.identity, opts),
                                 "files": written, "tokens": tokens_written})
    return info


def _seal(into: dict):
    """A ``Store.writer`` seal that records the finished file's size and sha256 in ``into``."""
    return lambda path: into.update(local_description(path))


def _checked_sha256(src: Source, identity: tuple) -> str:
    """The sha256 of the input, which must be of the bytes just scanned."""
    try:
        digest = file_sha256(src.path)
    except OSError as exc:
        raise DataprepError(f"{src.path}: cannot read for its checksum ({exc.strerror})") from None
    check_unchanged(src)
    if not is_url(src.path) and digest != identity[2]:
        raise DataprepError(f"{src.path}: file changed since the build started; run again once it is complete")
    return digest


def scan_dirs(n_train: int, n_val: int) -> list[str]:
    """Scan directories of the train inputs, then of the --val-from files: a val file keeps its
    directory when train inputs are added."""
    return [f"scan/{i:05d}" for i in range(n_train)] + [f"scan/val-{i:05d}" for i in range(n_val)]


def tokens_file(scan_dir: str) -> str:
    return f"tokens/{scan_dir.rsplit('/', 1)[-1]}.bin"


def scan_problem(state: Store, scan_dir: str, key: str, work: Store | None = None) -> str | None:
    """Why ``scan_dir`` does not hold a complete, intact scan under ``key`` (None when it does); its
    tokens file in ``work`` must be intact too when ``work`` is given (the tokens are needed)."""
    if not state.exists(f"{scan_dir}/{MARKER}"):
        return "not scanned"
    try:
        marker = state.read_json(f"{scan_dir}/{MARKER}")
        if marker.get("key") != key:
            return "scanned with other options or from another input"
        files = [(state, f"{scan_dir}/{name}", marker["files"][name]) for name in STATE_FILES]
        if work is not None:
            files.append((work, tokens_file(scan_dir), marker["tokens"]))
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return f"its {MARKER} is damaged"
    for store, name, want in files:
        if not store.exists(name):
            return f"its {name.rsplit('/', 1)[-1]} is missing"
        if not isinstance(want, dict) or store.size(name) != want.get("bytes") or store.describe(name) != want:
            return f"its {name.rsplit('/', 1)[-1]} is damaged"
    return None


def scan_all(sources: list[Source], identities: list[tuple], dirs: list[str], need_tokens: list[bool], state: Store,
             work: Store, opts, engine, progress, say=None) -> None:
    """Scan every source without an intact scan under its key (``opts``: a BuildOptions) into its
    directory of ``dirs``; the tokens of the sources where ``need_tokens`` is set must be there too.
    ``say`` gets a line for each scan that was there but cannot be used."""
    options = ScanOptions.of(opts)
    todo = []
    for i, d in enumerate(dirs):
        problem = scan_problem(state, d, scan_key(identities[i], options), work if need_tokens[i] else None)
        if problem is None:
            continue
        if problem != "not scanned" and say is not None:
            say(f"scanning {sources[i].path} again: {problem}")
        state.remove(d)  # a half-done or damaged scan, or one of another input or options: start it afresh
        todo.append(i)
    bar = Progress("build: scan", sum(sources[i].rows for i in todo), progress)
    # Shards run as parallel tasks; a lone shard gets the tokenizer threads instead.
    threads = max(1, engine.workers // max(1, min(engine.workers, len(todo))))
    jobs = [
        ScanJob(sources[i], identities[i], options, state.url, dirs[i], work.url, tokens_file(dirs[i]),
                opts.tokenizer_backend, opts.batch_rows, threads)
        for i in todo
    ]
    for job, info in zip(jobs, engine.map(scan_shard, jobs)):
        bar.update(info["rows"], job.source.size)
    bar.done()


@dataclass
class Scanned:
    """What the scan stage left for the whole input: where each document lies, and its facts."""

    shard: np.ndarray  # int64 shard number
    row: np.ndarray  # int64 row in its file
    ids: list  # document id, or None
    docs: Documents
    state: Store
    scan_dirs: list[str]  # relative to state, in shard order: the train inputs, then the --val-from files
    n_train: int  # train inputs among them

    def band(self, j: int) -> np.ndarray:
        return np.concatenate([self.state.load_array(f"{d}/bands.npy", mmap=True)[j] for d in self.scan_dirs])

    def starts(self) -> np.ndarray:
        """The first document of each shard, and the number of documents at the end."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.shard, minlength=len(self.scan_dirs)))])

    def lines(self) -> tuple[np.ndarray, np.ndarray]:
        """(line hash, document) of every distinct line with words in each document."""
        offsets = self.starts()
        lines = [self.state.load_array(f"{s}/lines.npz") for s in self.scan_dirs]
        return (np.concatenate([z["hash"] for z in lines]),
                np.concatenate([z["doc"] + offsets[i] for i, z in enumerate(lines)]))


def load_scanned(state: Store, scan_dirs: list[str], n_train_sources: int, cache: dict | None = None) -> Scanned:
    """The scans of ``scan_dirs`` as one corpus; ``cache`` keeps each shard's facts between calls
    (build --tokens loads the first 1, 2, 3, ... shards in turn)."""
    cache = {} if cache is None else cache
    for d in scan_dirs:
        if d not in cache:
            with state.open(f"{d}/docs.parquet") as f:
                t = pq.read_table(f)
            ids = t["id"].to_pylist() if "id" in t.column_names else [None] * t.num_rows
            digests = np.stack([t["digest0"].to_numpy(), t["digest1"].to_numpy()], axis=1).astype(np.uint64)
            cache[d] = (t, ids, val_keys(ids, digests))
    parts = [cache[d][0] for d in scan_dirs]
    n = [t.num_rows for t in parts]

    def column(name: str, fill, dtype) -> np.ndarray:
        return np.concatenate(
            [t[name].to_numpy() if name in t.column_names else np.full(t.num_rows, fill) for t in parts]
        ).astype(dtype)

    score, int_score = complete_scores(column("score", np.nan, np.float64), column("int_score", -1, np.int64), sum(n))
    ids: list = []
    for d in scan_dirs:
        ids.extend(cache[d][1])
    docs = Documents(
        digests=np.stack([column("digest0", 0, np.uint64), column("digest1", 0, np.uint64)], axis=1),
        has_shingles=column("has_shingles", False, bool),
        token_counts=column("tokens", 0, np.int64),
        score=score,
        int_score=int_score,
        language_score=column("language_score", np.nan, np.float64),
        val_key=np.concatenate([cache[d][2] for d in scan_dirs]),
        is_val_source=np.repeat(np.arange(len(parts)) >= n_train_sources, n),
    )
    return Scanned(shard=np.repeat(np.arange(len(parts)), n), row=np.concatenate([np.arange(k) for k in n]), ids=ids,
                   docs=docs, state=state, scan_dirs=scan_dirs, n_train=n_train_sources)
