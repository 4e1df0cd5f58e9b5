"""``build``: many parquet shards -> one deduplicated, filtered corpus of token bins.

The stages, each in its own module, each finished stage kept in ``OUT/.work`` so a killed run
resumes:

1. scan (``scan_shards.py``, per shard, as engine tasks): read, normalise, hash and tokenize
   every document once. Nothing here depends on filter or split options.
2. decide (``dedup/decide.py``, the core estimate runs too): filters, exact duplicates, LSH
   clusters across all shards (band tasks, ``bands.py``), validation split and
   decontamination, keep rule.
3. write (``write_bins.py``): the kept documents' tokens into ``train.bin`` and ``val.bin``,
   then ``manifest.parquet``;
4. report: ``meta.json`` (the mark of a finished build), then ``report.md``
   (``build_report.py``), which a rerun writes again from meta.json if it is missing.

This module holds the options, the checks made before anything is written, and the driver.
``OUT`` may be a local path or a URL (``s3://...``); every file goes through a ``Store``, so
workers on several machines can share it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from dataprep.dedup.decide import Decisions, Rules, decide, waterfall
from dataprep.errors import DataprepError
from dataprep.io.reader import Source, open_source, resolve_paths
from dataprep.io.storage import Store, is_url
from dataprep.io.workdir import OutputDir, fingerprint
from dataprep.pipeline.bands import BandsOnShards
from dataprep.pipeline.build_report import report_md
from dataprep.pipeline.engine import Engine, make_engine
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan_shards import Scanned, input_identity, load_scanned, scan_all
from dataprep.pipeline.write_bins import reuse_val, stripped_tokens, write_bins, write_manifest
from dataprep.text.tokenizer import bin_dtype, get_encoding
from dataprep.version import __version__

PRODUCED = ("train.bin", "val.bin", "val_bands.npy", "manifest.parquet", "report.md", "meta.json", "dataprep_*_*.bin")
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


def _decide(c: Scanned, opts: BuildOptions, val_bands: np.ndarray | None, engine: Engine) -> Decisions:
    """Stage 2: the decision core, its near duplicates found by band tasks over the scans."""
    near = BandsOnShards(c.work, c.scan_dirs, opts.lsh.bands_rows[0], engine, val_bands)
    return decide(c.docs, opts, near, "reused" if opts.val_bin else "files" if opts.val_from else "fraction")


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
    clock = Clock({} if stats is None else stats)
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
            clock.stats["up_to_date"] = True
            meta = store.read_json("meta.json")
            if not store.exists("report.md"):  # killed between meta.json and report.md
                od.outputs.write_bytes("report.md", report_md(meta).encode())
            return meta
        runner = make_engine(engine, workers, ray_address)
        try:
            job = Job(od.outputs, od.work, sources, identities, len(paths), opts, enc, runner, progress, print_)
            meta = _run(job, clock)
        except ValSplitError:
            od.finish()  # the rerun changes the split options: scans kept under these would only block it
            raise
        finally:
            runner.close()
        od.finish()
        clock.lap("write")
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


@dataclass
class Clock:
    """Wall seconds per stage, into ``stats`` (for benchmarks; never in meta.json, which must not vary)."""

    stats: dict
    start: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stats[f"{stage}_seconds"] = now - self.start
        self.start = now


@dataclass
class Job:
    """One build, as the driver sees it once the inputs and the output directory are checked."""

    out: Store  # the output directory, every file recorded in its ledger
    work: Store  # OUT/.work
    sources: list[Source]  # train inputs, then --val-from files
    identities: list[tuple]  # input_identity() of each source
    n_train: int  # how many of the sources are train inputs
    opts: BuildOptions
    enc: object  # the tokenizer
    engine: Engine
    progress: bool | None
    fingerprint: str


def _run(job: Job, clock: Clock) -> dict:
    opts, out, work = job.opts, job.out, job.work
    scan_dirs = scan_all(job.sources, job.identities, work, opts, job.engine, job.progress)
    clock.lap("scan")
    infos = [work.read_json(f"{d}/source.json") for d in scan_dirs]
    infos = [{k: v for k, v in info.items() if k != "identity"} for info in infos]
    corpus = load_scanned(work, scan_dirs, job.n_train)
    state = sum(
        work.fs.size(work.path(f"{d}/{f}")) for d in scan_dirs for f in ("docs.parquet", "bands.npy", "lines.npz")
    )
    clock.stats["dedup_state_bytes_per_doc"] = state / max(1, len(corpus.tokens))
    val_bands, val_info = reuse_val(opts.val_bin, out, job.enc, opts.lsh) if opts.val_bin else (None, {})
    decisions = _decide(corpus, opts, val_bands, job.engine)
    clock.lap("decide")
    stripped, boiler = stripped_tokens(corpus, decisions, job.sources, opts, job.enc) if opts.strip_boilerplate \
        else ({}, None)
    _check_val_split(corpus, decisions, stripped, opts)
    written = write_bins(out, corpus, decisions, stripped, opts, job.enc, job.progress)
    is_val = decisions.split == "val"
    if not opts.val_bin:
        out.save_array("val_bands.npy", np.stack([corpus.band(j)[is_val] for j in range(opts.lsh.bands_rows[0])], axis=1))
    write_manifest(out, corpus, decisions, written, job.sources)
    is_train = decisions.split == "train"
    enc = job.enc
    meta = {
        "format": "nanogpt raw bins: little-endian tokens, EOT after every document",
        "dataprep_version": __version__,
        "fingerprint": job.fingerprint,
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
        "sources": infos[:job.n_train],
        "val_sources": infos[job.n_train:],
        "val_reused": val_info or None,
        "val_floor": decisions.val_floor,
        "boilerplate": boiler,
        "waterfall": waterfall(corpus.docs, decisions, written.tokens),
    }
    out.write_json("meta.json", meta)  # the mark of a finished build: nothing before it looks complete
    out.write_bytes("report.md", report_md(meta).encode())  # from meta.json alone, so a rerun can redo it
    return meta
