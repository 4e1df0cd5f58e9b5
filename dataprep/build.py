"""``build``: many parquet shards -> one deduplicated, filtered corpus of token bins.

Stages, each finished stage kept in ``OUT/.work`` so a killed run resumes:

1. scan (per shard, as engine tasks): read, normalise, hash (exact digest,
   MinHash bands, lines) and tokenize every document once; results go to
   ``.work/scan/NNNNN/``, the ``source.json`` marker last. Nothing here
   depends on filter or split options.
2. decide (``decide.py``): filters, exact duplicates, LSH clusters across all
   shards (band tasks, ``bands.py``), validation split and decontamination,
   keep rule.
3. write: gather the kept documents' tokens from the scan results (re-tokenizing
   only documents whose boilerplate lines are stripped) into ``train.bin`` and
   ``val.bin``, then ``manifest.parquet``, ``meta.json`` (the mark of a finished
   build) and ``report.md``, which a rerun rewrites from meta.json if it is missing.

``OUT`` may be a local path or a URL (``s3://...``); every file goes through a
``Store``, so workers on several machines can share it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.version import __version__
from dataprep.binfile import BinWriter, LlmcWriter, with_eot
from dataprep.bands import BandsOnShards
from dataprep.boilerplate import find_boilerplate, strip_lines
from dataprep.decide import Decisions, Documents, Rules, decide, val_keys, waterfall
from dataprep.engine import make_engine
from dataprep.errors import DataprepError
from dataprep.minhash import LSHParams, MinHasher
from dataprep.progress import Progress
from dataprep.reader import Source, check_unchanged, iter_batches, open_source, resolve_paths
from dataprep.scan import scan_batch
from dataprep.scores import complete_scores
from dataprep.storage import Store, file_sha256, filesystem, is_url
from dataprep.tokenizer import bin_dtype, encode_batch, get_encoding
from dataprep.workdir import OutputDir, fingerprint

PRODUCED = ("train.bin", "val.bin", "val_bands.npy", "manifest.parquet", "report.md", "meta.json", "dataprep_*_*.bin")
OPTIONAL_COLUMNS = ("score", "int_score", "language_score", "id")
# The least val a build writes: one training window of the GPT-2 presets (block_size 1024, plus the
# next token as the last target). An empty or shorter val.bin only failed later, in train.
MIN_VAL_TOKENS = 1025


@dataclass
class BuildOptions(Rules):
    """The decision rules (``decide.Rules``, shared with estimate) and how the output is made."""

    val_from: list[str] | None = None
    val_bin: str | None = None
    text_column: str | None = None
    encoding: str = "gpt2"
    tokenizer_backend: str = "tiktoken"  # or "riptoken": verified to give the same ids, faster
    formats: tuple[str, ...] = ("nanogpt",)  # plus "llmc"
    batch_rows: int = 2048

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.val_from and self.val_bin:
            raise DataprepError("give --val-from or --val-bin, not both")
        unknown = set(self.formats) - {"nanogpt", "llmc"}
        if unknown:
            raise DataprepError(f"unknown output format {sorted(unknown)[0]!r}; choose from nanogpt, llmc")
        if self.batch_rows < 1:
            raise DataprepError(f"batch_rows must be at least 1, not {self.batch_rows}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["lsh"] = asdict(self.lsh)
        d["formats"] = list(self.formats)
        del d["batch_rows"], d["tokenizer_backend"]  # no effect on the output
        return d


# ---------------------------------------------------------------- stage 1: scan


@dataclass(frozen=True)
class ScanJob:
    source: Source
    identity: tuple  # input_identity() of the source, as the driver saw it
    work: str  # the work directory (path or URL)
    out: str  # this shard's scan directory, relative to work
    lsh: LSHParams
    encoding: str
    backend: str
    batch_rows: int
    threads: int


def scan_shard(job: ScanJob) -> dict:
    """Everything later stages need from one shard; ``source.json`` is written last, as the marker."""
    enc = get_encoding(job.encoding, job.backend)
    dtype = bin_dtype(enc.n_vocab)
    minhasher = MinHasher(job.lsh)
    src = job.source
    work = Store(job.work).sub(job.out)
    cols: dict[str, list] = {k: [] for k in ("digest", "bands", "has_shingles", "text_bytes", "tokens")}
    extra: dict[str, list] = {k: [] for k in OPTIONAL_COLUMNS}
    line_hash, line_doc = [], []
    with work.writer("tokens.bin") as tok_file:
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
    with work.writer("docs.parquet") as f:
        pq.write_table(pa.table(table), f)
    # Band-major, so that one band of a shard is one contiguous row for the band tasks.
    work.save_array("bands.npy", np.ascontiguousarray(np.concatenate(cols["bands"]).T))
    with work.writer("lines.npz") as f:
        np.savez(f, hash=np.concatenate(line_hash), doc=np.concatenate(line_doc))
    try:
        digest = file_sha256(src.path)
    except OSError as exc:
        raise DataprepError(f"{src.path}: cannot read for its checksum ({exc.strerror})") from None
    check_unchanged(src)  # the checksum must be of the bytes just scanned
    if not is_url(src.path) and digest != job.identity[2]:
        raise DataprepError(f"{src.path}: file changed since the build started; run again once it is complete")
    info = {"path": src.path, "rows": src.rows, "bytes": src.size, "sha256": digest}
    # The marker names the input it was made from, so that a scan is never reused for another file.
    work.write_json("source.json", {**info, "identity": list(job.identity)})
    return info


def input_identity(path: str) -> tuple:
    """What makes an input the same input: resolved path, size and sha256 of the bytes.

    Size and mtime are not enough: a file rewritten with other bytes of the same size and its mtime
    set back passed for the old one. Hashing costs one read of the file, about 1% of its scan
    (docs/reliability.md); the scan reads it once more to check the bytes it scanned. URLs: size
    and ETag (or modification time) from the listing.
    """
    try:
        if is_url(path):
            fs, inner = filesystem(path)
            info = fs.info(inner)
            return (path, info.get("size"), str(info.get("ETag") or info.get("mtime") or info.get("LastModified")))
        return (os.path.realpath(path), os.path.getsize(path), file_sha256(path))
    except OSError as exc:
        raise DataprepError(f"{path}: cannot read for its checksum ({exc.strerror})") from None


def _finished_scan(work: Store, scan_dir: str, identity: tuple) -> bool:
    """True when ``scan_dir`` holds a complete scan of the input ``identity`` names (and of no other)."""
    if not work.exists(f"{scan_dir}/source.json"):
        return False
    try:
        made_from = work.read_json(f"{scan_dir}/source.json").get("identity")
    except (OSError, ValueError, AttributeError):
        made_from = None
    return made_from == list(identity)


def _scan_all(sources: list[Source], identities: list[tuple], work: Store, opts: BuildOptions, engine,
              progress) -> list[str]:
    dirs = [f"scan/{i:05d}" for i in range(len(sources))]
    todo = [i for i, d in enumerate(dirs) if not _finished_scan(work, d, identities[i])]
    for i in todo:
        work.remove(dirs[i])  # a half-done scan, or one of another input: start it afresh
    bar = Progress("build: scan", sum(sources[i].rows for i in todo), progress)
    # Shards run as parallel tasks; a lone shard gets the tokenizer threads instead.
    threads = max(1, engine.workers // max(1, min(engine.workers, len(todo))))
    jobs = [
        ScanJob(sources[i], identities[i], work.url, dirs[i], opts.lsh, opts.encoding, opts.tokenizer_backend,
                opts.batch_rows, threads)
        for i in todo
    ]
    for job, info in zip(jobs, engine.map(scan_shard, jobs)):
        bar.update(info["rows"], job.source.size)
    bar.done()
    return dirs


@dataclass
class Scanned:
    """What the scan stage left for the whole input: where each document lies, and its facts."""

    shard: np.ndarray  # int64 shard number
    row: np.ndarray  # int64 row in its file
    ids: list  # document id, or None
    docs: Documents
    work: Store
    scan_dirs: list[str]  # relative to work, in shard order

    @property
    def tokens(self) -> np.ndarray:
        return self.docs.tokens

    def band(self, j: int) -> np.ndarray:
        return np.concatenate([self.work.load_array(f"{d}/bands.npy", mmap=True)[j] for d in self.scan_dirs])


def load_scanned(work: Store, scan_dirs: list[str], n_train_sources: int) -> Scanned:
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
    digests = np.stack([column("digest0", 0, np.uint64), column("digest1", 0, np.uint64)], axis=1)
    docs = Documents(
        digests=digests,
        has_shingles=column("has_shingles", False, bool),
        tokens=column("tokens", 0, np.int64),
        score=score,
        int_score=int_score,
        language_score=column("language_score", np.nan, np.float64),
        val_key=val_keys(ids, digests),
        is_val_source=np.repeat(np.arange(len(parts)) >= n_train_sources, n),
    )
    return Scanned(shard=np.repeat(np.arange(len(parts)), n), row=np.concatenate([np.arange(k) for k in n]), ids=ids,
                   docs=docs, work=work, scan_dirs=scan_dirs)


def _decide(c: Scanned, opts: BuildOptions, val_bands: np.ndarray | None, engine) -> Decisions:
    near = BandsOnShards(c.work, c.scan_dirs, opts.lsh.bands_rows[0], engine, val_bands)
    return decide(c.docs, opts, near, "reused" if opts.val_bin else "files" if opts.val_from else "fraction")


# ---------------------------------------------------------------- stage 3: write


def _stripped_tokens(c: Scanned, d: Decisions, sources: list[Source], opts: BuildOptions, enc) -> tuple[dict, dict]:
    """Tokens of kept documents once boilerplate lines are removed (only documents that change)."""
    kept = d.split != None  # noqa: E711
    offsets = np.concatenate([[0], np.cumsum(np.bincount(c.shard, minlength=len(c.scan_dirs)))])
    lines = [c.work.load_array(f"{s}/lines.npz") for s in c.scan_dirs]
    line_hash = np.concatenate([z["hash"] for z in lines])
    line_doc = np.concatenate([z["doc"] + offsets[i] for i, z in enumerate(lines)])
    boiler = find_boilerplate(line_hash, line_doc, kept, opts.boilerplate_min_docs)
    docs = np.unique(line_doc[np.isin(line_hash, boiler.hashes)])
    docs = docs[kept[docs]]
    out: dict[int, np.ndarray] = {}
    for i, src in enumerate(sources):
        mine = docs[c.shard[docs] == i]
        if not len(mine):
            continue
        rows = c.row[mine]
        for batch in iter_batches([src], (), opts.batch_rows):
            sel = (rows >= batch.first_row) & (rows < batch.first_row + len(batch))
            if not sel.any():
                continue
            stripped, _ = strip_lines(batch.text.take(rows[sel] - batch.first_row).to_pylist(), boiler.hashes)
            flat, lengths = encode_batch(enc, stripped)
            starts = np.concatenate([[0], np.cumsum(lengths)])
            for k, doc in enumerate(mine[sel]):
                out[int(doc)] = flat[starts[k] : starts[k + 1]]
    return out, {"lines": int(len(boiler)), "docs": int(len(docs))}


@dataclass
class Written:
    tokens: np.ndarray  # int64 tokens each kept document occupies in its bin (EOT included), else 0
    offset: np.ndarray  # int64 position of each kept document in its bin, else -1
    files: dict


def _write_bins(out: Store, c: Scanned, d: Decisions, stripped: dict, opts: BuildOptions, enc, progress) -> Written:
    dtype = bin_dtype(enc.n_vocab)
    eot = enc.eot_token
    n = len(c.tokens)
    lengths = c.tokens.copy()
    for doc, toks in stripped.items():
        lengths[doc] = len(toks)
    offset = np.full(n, -1, dtype=np.int64)
    splits = ("train",) if opts.val_bin else ("train", "val")
    bins = {s: BinWriter(out, f"{s}.bin", dtype) for s in splits}
    llmc = {}
    if "llmc" in opts.formats:
        if dtype != np.uint16:
            raise DataprepError("--format llmc needs a vocabulary that fits uint16")
        llmc = {"val": LlmcWriter(out, "dataprep", "val", 0), "train": LlmcWriter(out, "dataprep", "train", 1)}
    bar = Progress("build: write", int((d.split != None).sum()), progress)  # noqa: E711
    try:
        for i, scan_dir in enumerate(c.scan_dirs):
            shard_docs = np.flatnonzero(c.shard == i)
            tokens = c.work.load_raw(f"{scan_dir}/tokens.bin", dtype)
            local_start = np.concatenate([[0], np.cumsum(c.tokens[shard_docs])[:-1]])
            for split in splits:
                pick = d.split[shard_docs] == split
                docs = shard_docs[pick]
                starts = local_start[pick]
                for lo in range(0, len(docs), 8192):
                    chunk = docs[lo : lo + 8192]
                    parts = [
                        stripped[k] if k in stripped else tokens[s : s + c.tokens[k]]
                        for k, s in zip(chunk.tolist(), starts[lo : lo + 8192].tolist())
                    ]
                    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
                    start = bins[split].write(with_eot(flat, lengths[chunk], eot, dtype))
                    offset[chunk] = start + np.concatenate([[0], np.cumsum(lengths[chunk] + 1)[:-1]])
                    if llmc:
                        llmc[split].write(with_eot(flat, lengths[chunk], eot, dtype, eot_first=True))
                    bar.update(len(chunk))
        for w in bins.values():
            w.close()
    except BaseException:
        for w in bins.values():
            w.abandon()
        raise
    bar.done()
    files = {s: f"{s}.bin" for s in splits}
    if llmc:
        files["llmc"] = llmc["val"].close() + llmc["train"].close()
    written = np.where(d.split != None, lengths + 1, 0)  # noqa: E711
    return Written(tokens=written, offset=offset, files=files)


def _reuse_val(val_bin: str, out: Store, enc, lsh: LSHParams) -> tuple[np.ndarray | None, dict]:
    """Copy an earlier build's val.bin (and its val_bands.npy when the LSH settings match)."""
    src = Store(val_bin.rsplit("/", 1)[0] if is_url(val_bin) else os.path.dirname(os.path.abspath(val_bin)))
    name = val_bin.rsplit("/", 1)[-1]
    if not src.exists(name):
        raise DataprepError(f"--val-bin {val_bin}: no such file")
    dtype = bin_dtype(enc.n_vocab)
    if src.fs.size(src.path(name)) % dtype.itemsize:
        raise DataprepError(f"--val-bin {val_bin}: size is not a whole number of {dtype.name} tokens")
    out.copy_in(val_bin, "val.bin")
    tokens = out.load_raw("val.bin", dtype)
    info = {"val_bin": val_bin, "val_tokens": int(len(tokens)), "val_docs": int(np.count_nonzero(tokens == enc.eot_token))}
    val_bands = None
    if src.exists("val_bands.npy") and src.exists("meta.json"):
        if src.read_json("meta.json").get("options", {}).get("lsh") == asdict(lsh):
            val_bands = src.load_array("val_bands.npy")
            out.save_array("val_bands.npy", val_bands)
    info["decontaminated"] = val_bands is not None
    return val_bands, info


def _manifest(out: Store, c: Scanned, d: Decisions, w: Written, sources: list[Source]) -> None:
    ids = c.ids
    rep = d.representative
    table = pa.table(
        {
            "source": pa.array([sources[i].path for i in c.shard]).dictionary_encode(),
            "row": c.row,
            "id": pa.array(ids, type=pa.string()),
            "kept": d.split != None,  # noqa: E711
            "reason": pa.array(d.reason.tolist(), type=pa.string()),
            "cluster": d.cluster,
            "representative": rep,
            "representative_id": pa.array([ids[r] if r >= 0 else None for r in rep.tolist()], type=pa.string()),
            "split": pa.array(d.split.tolist(), type=pa.string()),
            "tokens": np.where(w.tokens > 0, w.tokens, c.tokens + 1),
            "offset": w.offset,
        }
    )
    with out.writer("manifest.parquet") as f:
        pq.write_table(table, f)


def _report_md(meta: dict) -> str:
    lines = ["# dataprep build", "", f"{len(meta['sources'])} input file(s), tokenizer {meta['tokenizer']['name']}, "
             f"dtype {meta['dtype']}, EOT {meta['eot']} after every document.", ""]
    lines += ["| stage | docs | tokens |", "|---|---:|---:|"]
    lines += [f"| {r['stage']} | {r['docs']:,} | {r['tokens']:,} |" for r in meta["waterfall"]]
    lines += ["", f"train.bin: {meta['train_tokens']:,} tokens in {meta['train_docs']:,} documents"]
    lines += [f"val.bin: {meta['val_tokens']:,} tokens in {meta['val_docs']:,} documents"]
    if meta.get("val_floor"):
        floor = meta["val_floor"]
        lines += [f"val candidates: the {floor['took']:,} documents with the smallest id hashes, the floor for a "
                  f"small corpus (--val-fraction {meta['options']['val_fraction']:g} gave {floor['fraction_gave']:,})"]
    lines += [""]
    lsh = meta["options"]["lsh"]
    lines += [f"near duplicates: MinHash {lsh['num_perm']} permutations, {lsh['ngram']}-word shingles, "
              f"threshold {lsh['threshold']}; files: {', '.join(meta['files'].get('llmc', [])) or 'train.bin, val.bin'}", ""]
    return "\n".join(lines)


def plan_fingerprint(identities: list[tuple], n_train: int, val_bin: tuple | None, opts: BuildOptions) -> str:
    """The build's identity: its inputs' identities (resolved paths and content) and the options.

    Paths as typed do not count, so the same command run from another directory (or through a
    symlink) is recognised as the same build.
    """
    options = opts.as_dict()
    options["val_from"] = options["val_bin"] = None  # their files count through their identities
    return fingerprint(
        {"version": __version__, "inputs": [list(i) for i in identities[:n_train]],
         "val": [list(i) for i in identities[n_train:]], "val_bin": list(val_bin) if val_bin else None,
         "options": options}
    )


def build(
    inputs: list[str],
    out: str | os.PathLike,
    opts: BuildOptions,
    shards: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    stats: dict | None = None,
    engine: str = "local",
    ray_address: str | None = None,
) -> dict:
    """Run (or resume) a build; returns its meta.json content.

    ``stats``, when given, receives wall seconds per stage and the bytes of
    deduplication state kept per document (for benchmarks; not in meta.json,
    which must not change from run to run).
    """
    stats = {} if stats is None else stats
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stats[f"{stage}_seconds"] = now - clock
        clock = now

    paths = resolve_paths(inputs, exclude=out)
    if shards is not None:
        if shards > len(paths):
            raise DataprepError(f"--shards {shards} asked but only {len(paths)} input file(s) found")
        paths = paths[:shards]
    val_paths = resolve_paths(opts.val_from, exclude=out) if opts.val_from else []
    if set(map(_identity, val_paths)) & set(map(_identity, paths)):
        raise DataprepError("a --val-from file is also an input file")
    sources = [open_source(p, opts.text_column) for p in paths + val_paths]
    enc = get_encoding(opts.encoding, opts.tokenizer_backend)
    store = Store(out)
    identities = _identities(sources, progress)
    val_bin = None
    if opts.val_bin:
        _check_val_bin_outside(opts.val_bin, out)
        if is_url(opts.val_bin) or os.path.isfile(opts.val_bin):
            val_bin = input_identity(opts.val_bin)
    print_ = plan_fingerprint(identities, len(paths), val_bin, opts)
    with OutputDir(store, PRODUCED) as od:
        if od.prepare(print_, overwrite):
            stats["up_to_date"] = True
            meta = store.read_json("meta.json")
            if not store.exists("report.md"):  # killed between meta.json and report.md
                od.outputs.write_bytes("report.md", _report_md(meta).encode())
            return meta
        runner = make_engine(engine, workers, ray_address)
        try:
            meta = _run(od.outputs, od.work, sources, identities, len(paths), opts, enc, runner, progress, stats,
                        lap, print_)
        except ValSplitError:
            od.finish()  # the rerun changes the split options: scans kept under these would only block it
            raise
        finally:
            runner.close()
        od.finish()
        lap("write")
        return meta


def _identities(sources: list[Source], progress) -> list[tuple]:
    bar = Progress("build: checksums", len(sources), progress)
    out = []
    for src in sources:
        out.append(input_identity(src.path))
        bar.update(1, src.size)
    bar.done()
    return out


def _identity(path: str) -> str:
    return path if is_url(path) else os.path.realpath(path)


def _check_val_bin_outside(val_bin: str, out) -> None:
    """Refuse a --val-bin that this build would replace before reading it (its own --out)."""
    home = _identity(val_bin.rsplit("/", 1)[0] if is_url(val_bin) else os.path.dirname(os.path.abspath(val_bin)))
    out = _identity(str(out)).rstrip("/")
    if home == out or home.startswith(out + "/"):
        raise DataprepError(
            f"--val-bin {val_bin} lies inside --out {out}, which this build rewrites; copy it (with its "
            "val_bands.npy and meta.json) to another directory and point --val-bin there"
        )


class ValSplitError(DataprepError):
    """The validation split would be unusable; the options that make it must change."""


def _check_val_split(c: Scanned, d: Decisions, stripped: dict, opts: BuildOptions) -> None:
    """Refuse a val split shorter than one training window, before anything is written."""
    if opts.val_bin or (not opts.val_from and opts.val_fraction == 0):  # reused, or none on purpose
        return
    val = np.flatnonzero(d.split == "val")
    tokens = sum(len(stripped[k]) if k in stripped else int(c.docs.tokens[k]) for k in val.tolist()) + len(val)
    if tokens >= MIN_VAL_TOKENS:
        return
    if opts.val_from:
        made, advice = "the --val-from files give", "give more or longer --val-from files"
    else:
        made, advice = (f"--val-fraction {opts.val_fraction:g} gives",
                        "raise --val-fraction, or take val from other files with --val-from")
    raise ValSplitError(
        f"{made} a validation split of {len(val)} document(s), {tokens:,} tokens once near-duplicates of "
        f"train are dropped: less than one 1,024-token training window ({MIN_VAL_TOKENS:,} tokens); {advice}, "
        "or reuse a val.bin with --val-bin (--val-fraction 0 builds without a val split)"
    )


def _run(store: Store, work: Store, sources, identities, n_train, opts, enc, engine, progress, stats, lap,
         print_) -> dict:
    scan_dirs = _scan_all(sources, identities, work, opts, engine, progress)
    lap("scan")
    infos = [work.read_json(f"{d}/source.json") for d in scan_dirs]
    infos = [{k: v for k, v in info.items() if k != "identity"} for info in infos]
    corpus = load_scanned(work, scan_dirs, n_train)
    state = sum(
        work.fs.size(work.path(f"{d}/{f}")) for d in scan_dirs for f in ("docs.parquet", "bands.npy", "lines.npz")
    )
    stats["dedup_state_bytes_per_doc"] = state / max(1, len(corpus.tokens))
    val_bands, val_info = _reuse_val(opts.val_bin, store, enc, opts.lsh) if opts.val_bin else (None, {})
    decisions = _decide(corpus, opts, val_bands, engine)
    lap("decide")
    stripped, boiler = _stripped_tokens(corpus, decisions, sources, opts, enc) if opts.strip_boilerplate else ({}, None)
    _check_val_split(corpus, decisions, stripped, opts)
    written = _write_bins(store, corpus, decisions, stripped, opts, enc, progress)
    is_val = decisions.split == "val"
    if not opts.val_bin:
        store.save_array("val_bands.npy", np.stack([corpus.band(j)[is_val] for j in range(opts.lsh.bands_rows[0])], axis=1))
    _manifest(store, corpus, decisions, written, sources)
    is_train = decisions.split == "train"
    meta = {
        "format": "nanogpt raw bins: little-endian tokens, EOT after every document",
        "dataprep_version": __version__,
        "fingerprint": print_,
        "tokenizer": {"name": enc.name, "n_vocab": enc.n_vocab, "eot": enc.eot_token},
        "vocab_size": enc.n_vocab,
        "dtype": bin_dtype(enc.n_vocab).name,
        "eot": enc.eot_token,
        "train_tokens": int(written.tokens[is_train].sum()),
        "train_docs": int(is_train.sum()),
        "val_tokens": int(val_info.get("val_tokens", written.tokens[is_val].sum())),
        "val_docs": int(val_info.get("val_docs", is_val.sum())),
        "files": written.files,
        "options": opts.as_dict(),
        "sources": infos[:n_train],
        "val_sources": infos[n_train:],
        "val_reused": val_info or None,
        "val_floor": decisions.val_floor,
        "boilerplate": boiler,
        "waterfall": waterfall(corpus.docs, decisions, written.tokens),
    }
    store.write_json("meta.json", meta)  # the mark of a finished build: nothing before it looks complete
    store.write_bytes("report.md", _report_md(meta).encode())  # from meta.json alone, so a rerun can redo it
    return meta
