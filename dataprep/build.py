"""``build``: many parquet shards -> one deduplicated, filtered corpus of token bins.

Stages, each finished stage kept in ``OUT/.work`` so a killed run resumes:

1. scan (per shard, in parallel): read, normalise, hash (exact digest,
   MinHash bands, lines) and tokenize every document once; results go to
   ``.work/scan/NNNNN/``. Nothing here depends on filter or split options.
2. decide (whole corpus): filters, exact duplicates, LSH clusters across
   all shards, validation split and its decontamination, keep rule.
3. write: gather the kept documents' tokens from the scan results (re-tokenizing
   only documents whose boilerplate lines are stripped) into ``train.bin`` and
   ``val.bin``, then ``manifest.parquet``, ``report.md`` and ``meta.json`` last.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep import __version__
from dataprep.atomic import atomic_path, file_sha256, write_json, write_text
from dataprep.binfile import BinWriter, LlmcWriter, with_eot
from dataprep.boilerplate import find_boilerplate, strip_lines
from dataprep.dedup import cluster_keep, connected_components, exact_duplicates, lsh_edges
from dataprep.errors import DataprepError
from dataprep.minhash import LSHParams, MinHasher
from dataprep.progress import Progress
from dataprep.reader import Source, iter_batches, open_source, resolve_paths
from dataprep.scan import scan_batch
from dataprep.scores import complete_scores, passes_min_score
from dataprep.tokenizer import bin_dtype, encode_batch, get_encoding
from dataprep.workdir import OutputDir, fingerprint

PRODUCED = ("train.bin", "val.bin", "val_bands.npy", "manifest.parquet", "report.md", "meta.json", "dataprep_*_*.bin")
OPTIONAL_COLUMNS = ("score", "int_score", "language_score", "id")
REASONS = ("score", "language-score", "min-tokens", "exact-dup", "near-dup", "val-contamination", "val-overlap")


@dataclass
class BuildOptions:
    min_score: float | None = 3.0  # applied only where a score column exists
    min_language_score: float | None = None
    min_tokens: int = 0
    lsh: LSHParams = field(default_factory=LSHParams)
    strip_boilerplate: bool = False
    boilerplate_min_docs: int = 3
    val_fraction: float = 0.0005
    val_from: list[str] | None = None
    val_bin: str | None = None
    text_column: str | None = None
    encoding: str = "gpt2"
    tokenizer_backend: str = "tiktoken"  # or "riptoken": verified to give the same ids, faster
    formats: tuple[str, ...] = ("nanogpt",)  # plus "llmc"
    batch_rows: int = 2048

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
    out: Path
    lsh: LSHParams
    encoding: str
    backend: str
    batch_rows: int
    threads: int


def scan_shard(job: ScanJob) -> dict:
    """Everything later stages need from one shard, written atomically as a directory."""
    enc = get_encoding(job.encoding, job.backend)
    dtype = bin_dtype(enc.n_vocab)
    minhasher = MinHasher(job.lsh)
    src = job.source
    cols: dict[str, list] = {k: [] for k in ("digest", "bands", "has_shingles", "text_bytes", "tokens")}
    extra: dict[str, list] = {k: [] for k in OPTIONAL_COLUMNS}
    line_hash, line_doc = [], []
    with atomic_path(job.out) as tmp:
        tmp.mkdir()
        with open(tmp / "tokens.bin", "wb") as tok_file:
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
        n = src.rows
        table = {
            "digest0": np.concatenate(cols["digest"])[:, 0],
            "digest1": np.concatenate(cols["digest"])[:, 1],
            "has_shingles": np.concatenate(cols["has_shingles"]),
            "text_bytes": np.concatenate(cols["text_bytes"]),
            "tokens": np.concatenate(cols["tokens"]),
        }
        for k in OPTIONAL_COLUMNS:
            if all(v is not None for v in extra[k]):
                table[k] = np.concatenate(extra[k]) if k != "id" else sum((list(v) for v in extra[k]), [])
        pq.write_table(pa.table(table), tmp / "docs.parquet")
        np.save(tmp / "bands.npy", np.concatenate(cols["bands"]))
        np.savez(tmp / "lines.npz", hash=np.concatenate(line_hash), doc=np.concatenate(line_doc))
        info = {"path": src.path, "rows": n, "bytes": src.size, "sha256": file_sha256(src.path)}
        (tmp / "source.json").write_text(json.dumps(info))
    return info


def _scan_all(sources: list[Source], work: Path, opts: BuildOptions, workers: int, progress) -> list[Path]:
    scan_dir = work / "scan"
    scan_dir.mkdir(exist_ok=True)
    dirs = [scan_dir / f"{i:05d}" for i in range(len(sources))]
    todo = [i for i, d in enumerate(dirs) if not (d / "source.json").exists()]
    bar = Progress("build: scan", sum(sources[i].rows for i in todo), progress)
    # Shards run in parallel processes; a lone shard gets the tokenizer threads instead.
    per_job_threads = max(1, workers // max(1, min(workers, len(todo))))
    jobs = [ScanJob(sources[i], dirs[i], opts.lsh, opts.encoding, opts.tokenizer_backend, opts.batch_rows, per_job_threads) for i in todo]
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: polars and the tokenizer keep thread pools that a fork would copy mid-flight.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
            for job, info in zip(jobs, pool.map(scan_shard, jobs)):
                bar.update(info["rows"], job.source.size)
    else:
        for job in jobs:
            info = scan_shard(job)
            bar.update(info["rows"], job.source.size)
    bar.done()
    return dirs


# ---------------------------------------------------------------- stage 2: decide


@dataclass
class Corpus:
    """Per-document arrays over every scanned shard, in global order."""

    shard: np.ndarray  # int64 shard number
    row: np.ndarray  # int64 row in its file
    ids: list  # document id, or None
    digests: np.ndarray
    has_shingles: np.ndarray
    tokens: np.ndarray  # without EOT
    score: np.ndarray
    int_score: np.ndarray
    language_score: np.ndarray
    is_val_source: np.ndarray
    scan_dirs: list[Path]

    def bands(self, j: int) -> np.ndarray:
        return np.concatenate([np.load(d / "bands.npy", mmap_mode="r")[:, j] for d in self.scan_dirs])


def load_corpus(scan_dirs: list[Path], n_train_sources: int) -> Corpus:
    parts = [pq.read_table(d / "docs.parquet") for d in scan_dirs]
    n = [t.num_rows for t in parts]

    def column(name: str, fill, dtype) -> np.ndarray:
        return np.concatenate(
            [t[name].to_numpy() if name in t.column_names else np.full(t.num_rows, fill) for t in parts]
        ).astype(dtype)

    score, int_score = complete_scores(column("score", np.nan, np.float64), column("int_score", -1, np.int64), sum(n))
    ids: list = []
    for t in parts:
        ids.extend(t["id"].to_pylist() if "id" in t.column_names else [None] * t.num_rows)
    return Corpus(
        shard=np.repeat(np.arange(len(parts)), n),
        row=np.concatenate([np.arange(k) for k in n]),
        ids=ids,
        digests=np.stack([column("digest0", 0, np.uint64), column("digest1", 0, np.uint64)], axis=1),
        has_shingles=column("has_shingles", False, bool),
        tokens=column("tokens", 0, np.int64),
        score=score,
        int_score=int_score,
        language_score=column("language_score", np.nan, np.float64),
        is_val_source=np.repeat(np.arange(len(parts)) >= n_train_sources, n),
        scan_dirs=scan_dirs,
    )


def _id_hash_fraction(ids: list, digests: np.ndarray) -> np.ndarray:
    """A stable number in [0, 1) per document from its id (its text digest when it has none).

    Hashing the id, not the position, keeps the val split the same when shards are added.
    """
    out = np.empty(len(ids), dtype=np.float64)
    for i, doc_id in enumerate(ids):
        key = doc_id.encode() if doc_id is not None else digests[i].tobytes()
        out[i] = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") / 2.0**64
    return out


@dataclass
class Decisions:
    reason: np.ndarray  # object array: None for kept documents
    split: np.ndarray  # object array: "train", "val" or None
    cluster: np.ndarray  # int64 cluster label (smallest member), -1 for filtered documents
    representative: np.ndarray  # int64 kept document of the cluster, -1 when none


def decide(c: Corpus, opts: BuildOptions, val_bands: np.ndarray | None) -> Decisions:
    n = len(c.tokens)
    reason = np.full(n, None, dtype=object)
    if opts.min_score is not None:
        reason[(c.int_score >= 0) & ~passes_min_score(c.score, c.int_score, opts.min_score)] = "score"
    if opts.min_language_score is not None:
        low = np.nan_to_num(c.language_score, nan=np.inf) < opts.min_language_score
        reason[low & (reason == None)] = "language-score"  # noqa: E711 (elementwise)
    reason[(c.tokens < opts.min_tokens) & (reason == None)] = "min-tokens"  # noqa: E711
    passing = reason == None  # noqa: E711

    ids = np.arange(n, dtype=np.int64)
    exact_of = ids.copy()
    exact_of[passing] = ids[passing][exact_duplicates(c.digests[passing])]
    exact = exact_of != ids
    reason[exact] = "exact-dup"

    active = passing & ~exact & c.has_shingles
    us, vs = [], []
    overlap = np.zeros(n, dtype=bool)
    bands, _ = opts.lsh.bands_rows
    for j in range(bands):
        band = c.bands(j)
        u, v = lsh_edges(band[active][:, None], ids[active])
        us.append(u)
        vs.append(v)
        if val_bands is not None:
            overlap |= active & np.isin(band, val_bands[:, j])
    cluster = connected_components(n, np.concatenate(us), np.concatenate(vs))
    reason[overlap] = "val-overlap"

    if opts.val_bin:
        is_val = np.zeros(n, dtype=bool)
    elif opts.val_from:
        is_val = c.is_val_source.copy()
    else:
        is_val = _id_hash_fraction(c.ids, c.digests) < opts.val_fraction
    member = passing & ~exact & ~overlap
    has_train = np.zeros(n, dtype=bool)
    has_train[cluster[member & ~is_val]] = True
    contaminated = member & is_val & has_train[cluster]
    reason[contaminated] = "val-contamination"
    eligible = member & ~contaminated
    keep = np.zeros(n, dtype=bool)
    sel = np.flatnonzero(eligible)
    keep[sel] = cluster_keep(cluster[sel], c.score[sel])
    reason[eligible & ~keep] = "near-dup"
    split = np.full(n, None, dtype=object)
    split[keep & is_val] = "val"
    split[keep & ~is_val] = "train"

    kept_of = np.full(n, -1, dtype=np.int64)
    kept_of[cluster[keep]] = ids[keep]
    group = np.where(passing, cluster[exact_of], -1)
    representative = np.where(group >= 0, kept_of[np.maximum(group, 0)], -1)
    return Decisions(reason=reason, split=split, cluster=group, representative=representative)


# ---------------------------------------------------------------- stage 3: write


def _stripped_tokens(c: Corpus, d: Decisions, sources: list[Source], opts: BuildOptions, enc) -> tuple[dict, dict]:
    """Tokens of kept documents once boilerplate lines are removed (only documents that change)."""
    kept = d.split != None  # noqa: E711
    offsets = np.concatenate([[0], np.cumsum(np.bincount(c.shard, minlength=len(c.scan_dirs)))])
    lines = [np.load(s / "lines.npz") for s in c.scan_dirs]
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


def _write_bins(out: Path, c: Corpus, d: Decisions, stripped: dict, opts: BuildOptions, enc, progress) -> Written:
    dtype = bin_dtype(enc.n_vocab)
    eot = enc.eot_token
    n = len(c.tokens)
    lengths = c.tokens.copy()
    for doc, toks in stripped.items():
        lengths[doc] = len(toks)
    offset = np.full(n, -1, dtype=np.int64)
    splits = ("train",) if opts.val_bin else ("train", "val")
    bins = {s: BinWriter(out / f"{s}.bin", dtype) for s in splits}
    llmc = {}
    if "llmc" in opts.formats:
        if dtype != np.uint16:
            raise DataprepError("--format llmc needs a vocabulary that fits uint16")
        llmc = {"val": LlmcWriter(out, "dataprep", "val", 0), "train": LlmcWriter(out, "dataprep", "train", 1)}
    bar = Progress("build: write", int((d.split != None).sum()), progress)  # noqa: E711
    try:
        for i, scan_dir in enumerate(c.scan_dirs):
            shard_docs = np.flatnonzero(c.shard == i)
            tokens = np.fromfile(scan_dir / "tokens.bin", dtype=dtype)
            local_start = np.concatenate([[0], np.cumsum(c.tokens[shard_docs])[:-1]])
            for split in splits:
                pick = d.split[shard_docs] == split
                docs = shard_docs[pick]
                for lo in range(0, len(docs), 8192):
                    chunk = docs[lo : lo + 8192]
                    parts = [
                        stripped[k] if k in stripped else tokens[s : s + c.tokens[k]]
                        for k, s in zip(chunk.tolist(), local_start[pick][lo : lo + 8192].tolist())
                    ]
                    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
                    laid = with_eot(flat, lengths[chunk], eot, dtype)
                    start = bins[split].write(laid)
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
        files["llmc"] = [p.name for w in (llmc["val"], llmc["train"]) for p in w.close()]
    written = np.where(d.split != None, lengths + 1, 0)  # noqa: E711
    return Written(tokens=written, offset=offset, files=files)


def _reuse_val(val_bin: str, out: Path, enc, lsh: LSHParams) -> tuple[np.ndarray | None, dict]:
    """Copy an earlier build's val.bin (and its val_bands.npy when the LSH settings match)."""
    src = Path(val_bin)
    if not src.is_file():
        raise DataprepError(f"--val-bin {val_bin}: no such file")
    dtype = bin_dtype(enc.n_vocab)
    if src.stat().st_size % dtype.itemsize:
        raise DataprepError(f"--val-bin {val_bin}: size is not a whole number of {dtype.name} tokens")
    with atomic_path(out / "val.bin") as tmp:
        shutil.copyfile(src, tmp)
    tokens = np.memmap(out / "val.bin", dtype=dtype, mode="r")
    info = {"val_bin": str(src), "val_tokens": int(len(tokens)), "val_docs": int(np.count_nonzero(tokens == enc.eot_token))}
    bands_file = src.with_name("val_bands.npy")
    meta_file = src.with_name("meta.json")
    val_bands = None
    if bands_file.exists() and meta_file.exists():
        earlier = json.loads(meta_file.read_text()).get("options", {}).get("lsh")
        if earlier == asdict(lsh):
            val_bands = np.load(bands_file)
            with atomic_path(out / "val_bands.npy") as tmp:
                shutil.copyfile(bands_file, tmp)
    info["decontaminated"] = val_bands is not None
    return val_bands, info


def _manifest(path: Path, c: Corpus, d: Decisions, w: Written, sources: list[Source]) -> None:
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
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _waterfall(c: Corpus, d: Decisions, w: Written, train: np.ndarray) -> list[dict]:
    """Documents and tokens (EOT included) entering, removed by each reason, and written."""
    tokens = c.tokens + 1
    rows = [{"stage": "input", "docs": int(len(tokens) - c.is_val_source.sum()), "tokens": int(tokens[~c.is_val_source].sum())}]
    if c.is_val_source.any():
        rows.append({"stage": "val input", "docs": int(c.is_val_source.sum()), "tokens": int(tokens[c.is_val_source].sum())})
    for r in REASONS:
        sel = d.reason == r
        rows.append({"stage": r, "docs": int(sel.sum()), "tokens": int(tokens[sel].sum())})
    kept = d.split != None  # noqa: E711
    rows.append({"stage": "boilerplate stripped", "docs": 0, "tokens": int((tokens - w.tokens)[kept].sum())})
    for s in ("train", "val"):
        sel = d.split == s
        rows.append({"stage": s, "docs": int(sel.sum()), "tokens": int(w.tokens[sel].sum())})
    return rows


def _report_md(meta: dict) -> str:
    lines = [f"# dataprep build", "", f"{len(meta['sources'])} input file(s), tokenizer {meta['tokenizer']['name']}, "
             f"dtype {meta['dtype']}, EOT {meta['eot']} after every document.", ""]
    lines += ["| stage | docs | tokens |", "|---|---:|---:|"]
    lines += [f"| {r['stage']} | {r['docs']:,} | {r['tokens']:,} |" for r in meta["waterfall"]]
    lines += ["", f"train.bin: {meta['train_tokens']:,} tokens in {meta['train_docs']:,} documents"]
    lines += [f"val.bin: {meta['val_tokens']:,} tokens in {meta['val_docs']:,} documents", ""]
    lsh = meta["options"]["lsh"]
    lines += [f"near duplicates: MinHash {lsh['num_perm']} permutations, {lsh['ngram']}-word shingles, "
              f"threshold {lsh['threshold']}; files: {', '.join(meta['files'].get('llmc', [])) or 'train.bin, val.bin'}", ""]
    return "\n".join(lines)


def plan_fingerprint(paths: list[str], val_paths: list[str], opts: BuildOptions) -> str:
    def stamp(p: str) -> list:
        st = os.stat(p)
        return [os.path.abspath(p), st.st_size, st.st_mtime_ns]

    return fingerprint(
        {"version": __version__, "inputs": [stamp(p) for p in paths], "val": [stamp(p) for p in val_paths],
         "val_bin": stamp(opts.val_bin) if opts.val_bin and os.path.isfile(opts.val_bin) else None,
         "options": opts.as_dict()}
    )


def build(
    inputs: list[str],
    out: str | Path,
    opts: BuildOptions,
    shards: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    stats: dict | None = None,
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

    paths = resolve_paths(inputs)
    if shards is not None:
        if shards > len(paths):
            raise DataprepError(f"--shards {shards} asked but only {len(paths)} input file(s) found")
        paths = paths[:shards]
    val_paths = resolve_paths(opts.val_from) if opts.val_from else []
    if opts.val_from and opts.val_bin:
        raise DataprepError("give --val-from or --val-bin, not both")
    if set(map(os.path.realpath, val_paths)) & set(map(os.path.realpath, paths)):
        raise DataprepError("a --val-from file is also an input file")
    sources = [open_source(p, opts.text_column) for p in paths + val_paths]
    enc = get_encoding(opts.encoding, opts.tokenizer_backend)
    workers = workers or os.cpu_count() or 1
    out = Path(out)
    print_ = plan_fingerprint(paths, val_paths, opts)
    with OutputDir(out, PRODUCED) as od:
        if od.prepare(print_, overwrite):
            return json.loads((out / "meta.json").read_text())
        scan_dirs = _scan_all(sources, od.work, opts, workers, progress)
        lap("scan")
        infos = [json.loads((d / "source.json").read_text()) for d in scan_dirs]
        corpus = load_corpus(scan_dirs, len(paths))
        state = sum(f.stat().st_size for d in scan_dirs for f in d.iterdir() if f.name != "tokens.bin")
        stats["dedup_state_bytes_per_doc"] = state / max(1, len(corpus.tokens))
        val_bands, val_info = _reuse_val(opts.val_bin, out, enc, opts.lsh) if opts.val_bin else (None, {})
        decisions = decide(corpus, opts, val_bands)
        lap("decide")
        stripped, boiler = _stripped_tokens(corpus, decisions, sources, opts, enc) if opts.strip_boilerplate else ({}, None)
        written = _write_bins(out, corpus, decisions, stripped, opts, enc, progress)
        is_val = decisions.split == "val"
        if not opts.val_bin:
            bands = np.stack([corpus.bands(j)[is_val] for j in range(opts.lsh.bands_rows[0])], axis=1)
            with atomic_path(out / "val_bands.npy") as tmp, open(tmp, "wb") as f:
                np.save(f, bands)
        _manifest(out / "manifest.parquet", corpus, decisions, written, sources)
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
            "sources": infos[: len(paths)],
            "val_sources": infos[len(paths) :],
            "val_reused": val_info or None,
            "boilerplate": boiler,
            "waterfall": _waterfall(corpus, decisions, written, is_train),
        }
        write_text(out / "report.md", _report_md(meta))
        write_json(out / "meta.json", meta)
        shutil.rmtree(od.work)
        lap("write")
        return meta
