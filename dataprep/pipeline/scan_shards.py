"""Stage 1 of estimate and build: scan each input once, as an engine task, and read back what the scans left.

A scan (``scan.scan_source``) reads, normalises, hashes (exact digest, MinHash bands, lines) and
tokenizes every document of one input. What deduplication needs (``docs.parquet``, ``bands.npy``,
``lines.npz``, and for estimate ``diversity.npz``) goes to ``STATE/scan/NNNNN/`` (``val-NNNNN`` for a
``--val-from`` file); build keeps it after the build, so that a later build of more shards scans
only those, and keeps the tokens in ``WORK/tokens/`` until the bins hold them. The marker
(``source.json``) comes last: it names the scan's key (``scan_key``: its input's identity, its
``ScanOptions`` and the scan format) and each file's size and sha256, and a scan is reused only
when its key is the one asked for and every file is still what it recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.dedup.boilerplate import Boilerplate, boilerplate_of, boilerplate_places, count_lines, merge_counts
from dataprep.dedup.decide import Documents, documents_of, val_keys
from dataprep.dedup.diversity import NgramDiversity
from dataprep.errors import DataprepError
from dataprep.io.digest import local_description
from dataprep.io.reader import Source, check_unchanged, text_column_of
from dataprep.io.storage import Store, file_sha256, is_url
from dataprep.pipeline.engine import Engine
from dataprep.pipeline.outdir import fingerprint
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan import OPTIONAL_COLUMNS, ScanOptions, ShardScan, scan_source
from dataprep.text.compiled import kernels
from dataprep.text.tokenizer import bin_dtype, get_encoding

# Bumped whenever what a scan writes changes: a scan of another format is never reused.
SCAN_FORMAT = 3
MARKER = "source.json"
STATE_FILES = ("docs.parquet", "bands.npy", "lines.npz")  # and diversity.npz when the options ask for it


def scan_options(opts, **measures) -> ScanOptions:
    """The scan options under a command's options (a BuildOptions or EstimateOptions); ``measures``:
    what estimate asks for besides (``line_tokens``, ``diversity_ngram``)."""
    enc = get_encoding(opts.encoding)
    return ScanOptions(lsh=opts.lsh, text_column=text_column_of(opts.text_column), encoding=enc.name,
                       dtype=bin_dtype(enc.n_vocab).name, **measures)


def scan_key(identity: tuple, options: ScanOptions) -> str:
    """The digest a scan is kept under: its input's identity, its options and the scan format."""
    return fingerprint({"format": SCAN_FORMAT, "input": list(identity), "options": asdict(options)})


@dataclass(frozen=True)
class ScanJob:
    source: Source
    identity: tuple  # input_identity() of the source, as the driver saw it (sha256 None: not checked)
    options: ScanOptions
    state: str  # the state directory (path or URL)
    out: str  # this shard's scan directory, relative to state
    work: str  # the work directory (path or URL)
    tokens: str | None  # this shard's tokens file, relative to work; None: not kept
    # How the scan runs, not what it writes (so not in its key):
    backend: str  # a tokenizer backend verified to give the encoding's ids
    batch_rows: int
    threads: int
    process_text: int  # about the bytes of text the process running this job scans in all (its share)


def scan_shard(job: ScanJob) -> dict:
    """Scan one input into its directory; the marker is written last, naming the scan's key and each
    file's size and sha256."""
    kernels(job.process_text)  # loaded where the process's share of the scan pays for loading them
    scan_dir = Store(job.state).sub(job.out)
    tokens_written: dict = {}
    if job.tokens is None:
        scan = scan_source(job.source, job.options, job.backend, job.batch_rows, job.threads)
    else:
        with Store(job.work).writer(job.tokens, seal=_seal(tokens_written)) as tokens_out:
            scan = scan_source(job.source, job.options, job.backend, job.batch_rows, job.threads, tokens_out)
    written = _write_state(scan_dir, scan)
    src = job.source
    info = {"path": src.path, "rows": src.rows, "bytes": src.size, "sha256": _checked_sha256(src, job.identity)}
    scan_dir.write_json(MARKER, {**info, "identity": list(job.identity), "key": scan_key(job.identity, job.options),
                                 "files": written, "tokens": tokens_written or None})
    return info


def _write_state(scan_dir: Store, scan: ShardScan) -> dict[str, dict]:
    """The scan's files, each described (size, sha256) as it is written."""
    written: dict[str, dict] = {}

    def writer(name: str):
        written[name] = {}
        return scan_dir.writer(name, seal=_seal(written[name]))

    table = {name: scan.column(name) for name in ("digest0", "digest1", "has_shingles", "text_bytes", "tokens")}
    table.update({name: scan.column(name) for name in OPTIONAL_COLUMNS if scan.column(name) is not None})
    with writer("docs.parquet") as f:
        pq.write_table(pa.table(table), f)
    with writer("bands.npy") as f:  # band-major: one band of a shard is one contiguous row for the band tasks
        np.save(f, np.ascontiguousarray(np.concatenate(scan.bands).T))
    with writer("lines.npz") as f:
        np.savez(f, **{k: np.concatenate(v) for k, v in scan.lines.items() if v})
    if scan.diversity is not None:
        with writer("diversity.npz") as f:
            np.savez(f, registers=scan.diversity.registers, total=np.int64(scan.diversity.total))
    return written


def _seal(into: dict):
    """A ``Store.writer`` seal that records the finished file's size and sha256 in ``into``."""
    return lambda path: into.update(local_description(path))


def _checked_sha256(src: Source, identity: tuple) -> str | None:
    """The sha256 of the input, which must be of the bytes just scanned (not computed when the identity
    holds none: estimate's scans are its own, for one run)."""
    if identity[2] is None:
        return None
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
        files = [(state, f"{scan_dir}/{name}", want) for name, want in marker["files"].items()]
        if not set(STATE_FILES) <= set(marker["files"]):
            return f"its {MARKER} is damaged"
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


@dataclass(frozen=True)
class Shard:
    """One input to scan: its source, its identity, its scan directory, and whether its tokens are kept."""

    source: Source
    identity: tuple
    dir: str
    keep_tokens: bool


@dataclass
class Scanner:
    """How a command scans: into which directories, with which options, on which engine."""

    state: Store
    work: Store
    options: ScanOptions
    backend: str
    batch_rows: int
    engine: Engine
    progress: bool | None
    say: object = None  # one-line notes, or None
    label: str = "build"

    def scan(self, shards: list[Shard]) -> None:
        """Scan every shard without an intact scan under its key; the tokens of those that keep them must
        be intact too. A scan that was there but cannot be used is made again, with a note."""
        todo = []
        for shard in shards:
            key = scan_key(shard.identity, self.options)
            problem = scan_problem(self.state, shard.dir, key, self.work if shard.keep_tokens else None)
            if problem is None:
                continue
            if problem != "not scanned" and self.say is not None:
                self.say(f"scanning {shard.source.path} again: {problem}")
            self.state.remove(shard.dir)  # a half-done or damaged scan, or one of another input or options
            todo.append(shard)
        bar = Progress(f"{self.label}: scan", sum(s.source.rows for s in todo), self.progress)
        # Shards run as parallel tasks; a lone shard gets the tokenizer threads instead.
        processes = max(1, min(self.engine.workers, len(todo)))
        threads = max(1, self.engine.workers // processes)
        # Each process's share of the text: parquet holds text at about 2:1.
        share = 2 * sum(s.source.size for s in todo) // processes
        jobs = [ScanJob(s.source, s.identity, self.options, self.state.url, s.dir, self.work.url,
                        tokens_file(s.dir) if s.keep_tokens else None, self.backend, self.batch_rows, threads, share)
                for s in todo]
        for job, info in zip(jobs, self.engine.map(scan_shard, jobs)):
            bar.update(info["rows"], job.source.size)
        bar.done()


@dataclass(frozen=True)
class LinesJob:
    """One shard's lines against its ``kept`` documents (bool, the shard's documents numbered from 0)."""

    state: str
    scan_dir: str  # relative to state
    kept: np.ndarray
    boiler: Boilerplate | None  # None: count the lines; else find where these lines lie


def shard_lines(job: LinesJob) -> tuple[np.ndarray, np.ndarray] | dict[str, np.ndarray]:
    """``count_lines`` of the shard's kept documents, or the places of ``job.boiler``'s lines in them
    (``doc``, numbered in the shard, ``hash`` and, when the scan counted them, ``tokens``)."""
    z = Store(job.state).load_array(f"{job.scan_dir}/lines.npz")
    if job.boiler is None:
        return count_lines(z["hash"], z["doc"], job.kept)
    take = boilerplate_places(z["hash"], z["doc"], job.kept, job.boiler)
    return {"doc": z["doc"][take].astype(np.int64), "hash": z["hash"][take],
            **({"tokens": z["tokens"][take]} if "tokens" in z else {})}


@dataclass
class Scanned:
    """What the scan stage left for the whole input: where each document lies, and its facts."""

    shard: np.ndarray  # int64 shard number
    row: np.ndarray  # int64 row in its file
    ids: list  # document id, or None
    docs: Documents | None  # None only while load_scanned makes it
    state: Store
    scan_dirs: list[str]  # relative to state, in shard order: the train inputs, then the --val-from files
    n_train: int  # train inputs among them
    tables: list  # each scan's docs.parquet

    def column(self, name: str, fill, dtype) -> np.ndarray:
        """A column of the scans' docs.parquet over all documents; ``fill`` where a shard lacks it."""
        return np.concatenate([t[name].to_numpy() if name in t.column_names else np.full(t.num_rows, fill)
                               for t in self.tables]).astype(dtype)

    def band(self, j: int) -> np.ndarray:
        return np.concatenate([self.state.load_array(f"{d}/bands.npy", mmap=True)[j] for d in self.scan_dirs])

    def starts(self) -> np.ndarray:
        """The first document of each shard, and the number of documents at the end."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.shard, minlength=len(self.scan_dirs)))])

    def boilerplate_lines(self, kept: np.ndarray, min_docs: int, engine: Engine | None = None) -> Boilerplate:
        """The boilerplate lines among the ``kept`` documents: the documents holding each distinct line
        counted a shard at a time (as ``engine``'s tasks when given), so that the driver holds no
        shard's line occurrences, only the distinct lines counted so far."""
        counts = (np.zeros(0, np.uint64), np.zeros(0, np.int64))
        for found in self._each_shard(kept, None, engine):
            counts = merge_counts(counts, found)
        return boilerplate_of(counts, min_docs)

    def boilerplate_places(self, kept: np.ndarray, boiler: Boilerplate,
                           engine: Engine | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Every place a line of ``boiler`` lies in a ``kept`` document, one shard's at a time (found by
        ``engine``'s tasks when given): ``doc``, ``hash`` and (when the scans counted them) ``tokens``."""
        offsets = self.starts()
        for i, places in enumerate(self._each_shard(kept, boiler, engine)):
            yield {**places, "doc": places["doc"] + offsets[i]}  # a task's arrays may be read-only (Ray)

    def _each_shard(self, kept: np.ndarray, boiler: Boilerplate | None, engine: Engine | None) -> Iterator:
        offsets = self.starts()
        jobs = [LinesJob(self.state.url, d, kept[offsets[i] : offsets[i + 1]], boiler)
                for i, d in enumerate(self.scan_dirs)]
        return engine.map(shard_lines, jobs) if engine is not None else map(shard_lines, jobs)

    def boilerplate(self, kept: np.ndarray, min_docs: int) -> tuple[Boilerplate, dict[str, np.ndarray]]:
        """The boilerplate lines among the ``kept`` documents, and every place one lies in a kept
        document (``boilerplate_places``, all shards' together)."""
        boiler = self.boilerplate_lines(kept, min_docs)
        parts = list(self.boilerplate_places(kept, boiler))
        return boiler, {k: np.concatenate([p[k] for p in parts]) for k in (parts[0] if parts else ())}

    def diversity(self, n: int) -> NgramDiversity:
        """The scans' n-gram HyperLogLogs as one (registers merged by their maximum)."""
        out = NgramDiversity(n=n)
        for d in self.scan_dirs:
            z = self.state.load_array(f"{d}/diversity.npz")
            np.maximum(out.registers, z["registers"], out=out.registers)
            out.total += int(z["total"])
        return out


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
    tables = [cache[d][0] for d in scan_dirs]
    n = [t.num_rows for t in tables]
    ids: list = []
    for d in scan_dirs:
        ids.extend(cache[d][1])
    c = Scanned(shard=np.repeat(np.arange(len(tables)), n), row=np.concatenate([np.arange(k) for k in n]), ids=ids,
                docs=None, state=state, scan_dirs=scan_dirs, n_train=n_train_sources, tables=tables)
    c.docs = documents_of(c.column, sum(n), val_key=np.concatenate([cache[d][2] for d in scan_dirs]),
                          is_val_source=np.repeat(np.arange(len(tables)) >= n_train_sources, n))
    return c
