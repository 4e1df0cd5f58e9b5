"""``build``: many parquet shards -> one deduplicated, filtered corpus of token bins.

The stages, each in its own module, each finished stage kept so a killed run resumes:

1. scan (``scan_shards.py``, per shard, as engine tasks): read, normalise, hash and tokenize
   every document once, into ``OUT/.state`` (what deduplication needs, kept after the build)
   and ``OUT/.work`` (the tokens). Nothing here depends on filter or split options.
2. decide (``dedup/decide.py``, the core estimate runs too): filters, exact duplicates, LSH
   clusters across all shards (band tasks, ``bands.py``), validation split and
   decontamination, keep rule.
3. write (``doc_tokens.py``, ``write_bins.py``): the kept documents' tokens into ``train.bin``
   and ``val.bin``, then ``manifest.parquet``;
4. report: ``meta.json`` (the mark of a finished build), then ``report.md``
   (``build_report.py``), which a rerun writes again from meta.json if it is missing.

The outputs are staged in ``OUT/.work/next`` and moved into place once all are complete, so a
build that replaces another (``grow.py``: more or fewer of the same inputs) reads the old bins
until then. ``build --tokens`` takes shards one at a time until a budget is met (``budget.py``).

This module holds the options, the checks made before anything is written, and the driver.
``OUT`` may be a local path or a URL (``s3://...``); every file goes through a ``Store``, so
workers on several machines can share it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from dataprep.dedup.decide import Decisions, Rules, decide, waterfall
from dataprep.errors import DataprepError
from dataprep.io.digest import sampled_sha256
from dataprep.io.reader import Source, open_source, resolve_paths
from dataprep.io.storage import Store, is_url
from dataprep.io.workdir import OutputDir, fingerprint
from dataprep.pipeline import budget
from dataprep.pipeline.bands import BandsOnShards
from dataprep.pipeline.budget import TokenTarget
from dataprep.pipeline.build_report import report_md
from dataprep.pipeline.doc_tokens import DocTokens, resolve
from dataprep.pipeline.engine import Engine, make_engine
from dataprep.pipeline.grow import OldBuild, growth_problem, load_old_build, plan_of
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan_shards import Scanned, input_identity, load_scanned, scan_all, scan_dirs
from dataprep.pipeline.write_bins import reuse_val, write_bins, write_manifest
from dataprep.text.tokenizer import bin_dtype, get_encoding
from dataprep.version import __version__

PRODUCED = ("train.bin", "val.bin", "val_bands.npy", "manifest.parquet", "report.md", "meta.json", "dataprep_*_*.bin")
DERIVED = ("report.md",)  # written from meta.json, after it
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


class LazyInputs(Protocol):
    """Train inputs known by count, each fetched when first needed (a Hugging Face dataset's shards)."""

    description: str  # what they are, for the fingerprint of a request

    def __len__(self) -> int: ...

    def fetch(self, i: int) -> str: ...


class Inputs:
    """The train inputs in order, each opened and checksummed the first time it is needed."""

    def __init__(self, given: list[str] | LazyInputs, out, shards: int | None, text_column: str | None):
        self.lazy = None if isinstance(given, (list, tuple)) else given
        if self.lazy is None:
            self.paths = resolve_paths(list(given), exclude=out)
            count = len(self.paths)
        else:
            count = len(self.lazy)
        if shards is not None:
            if shards > count:
                raise DataprepError(f"--shards {shards} asked but only {count} input file(s) found")
            count = shards
        self.count = count
        self.text_column = text_column
        self._sources: dict[int, Source] = {}
        self._identities: dict[int, tuple] = {}

    def __len__(self) -> int:
        return self.count

    def description(self) -> list | str:
        return [_identity(p) for p in self.paths[: self.count]] if self.lazy is None else self.lazy.description

    def source(self, i: int) -> Source:
        if i not in self._sources:
            path = self.paths[i] if self.lazy is None else str(self.lazy.fetch(i))
            self._sources[i] = open_source(path, self.text_column)
        return self._sources[i]

    def identity(self, i: int) -> tuple:
        if i not in self._identities:
            self._identities[i] = input_identity(self.source(i).path)
        return self._identities[i]

    def first(self, n: int, progress) -> tuple[list[Source], list[tuple]]:
        """The first ``n`` sources and their identities."""
        sources = [self.source(i) for i in range(n)]
        bar = Progress("build: checksums", n, progress)
        for i in range(n):
            self.identity(i)
            bar.update(1, sources[i].size)
        bar.done()
        return sources, [self._identities[i] for i in range(n)]


def build(
    inputs: list[str] | LazyInputs,
    out: str | os.PathLike,
    opts: BuildOptions,
    shards: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    stats: dict | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    target: TokenTarget | None = None,
) -> dict:
    """Run (or resume, or grow) a build; returns its meta.json content.

    ``shards`` takes the first N inputs; ``target`` instead takes as few of them, in order, as give
    a train split of ``target.train_tokens`` (``budget.py``), at most ``shards``. When ``out``
    holds a finished build of fewer (or more) of the same inputs with the same options, it grows
    into this one (``grow.py``). ``stats``, when given, receives wall seconds per stage, the bytes
    of deduplication state kept per document (for benchmarks), and ``up_to_date`` or ``grown_from``
    (the input count of the build replaced); never in meta.json, which must not change from run to run.
    """
    clock = Clock({} if stats is None else stats)
    feed = Inputs(inputs, out, shards, opts.text_column)
    val_paths = resolve_paths(opts.val_from, exclude=out) if opts.val_from else []
    if feed.lazy is None and set(map(_identity, val_paths)) & set(feed.description()):
        raise DataprepError("a --val-from file is also an input file")
    val_sources = [open_source(p, opts.text_column) for p in val_paths]
    enc = get_encoding(opts.encoding, opts.tokenizer_backend)
    store = Store(out)
    val_bin = None
    if opts.val_bin:
        _check_val_bin_outside(opts.val_bin, out)
        if is_url(opts.val_bin) or os.path.isfile(opts.val_bin):
            val_bin = input_identity(opts.val_bin)
    val_ids = [input_identity(s.path) for s in val_sources]
    if target is None:
        sources, identities = feed.first(len(feed), progress)
    asked = Request(feed, val_ids, val_bin, opts.as_dict(), target)
    with OutputDir(store, PRODUCED, DERIVED) as od:
        def grows(meta: dict) -> str | None:
            return growth_problem(meta, od.state, asked.plan(min(len(meta.get("sources") or []), len(feed))))

        status = od.prepare(asked.fingerprint(), overwrite, asked.current if target else None, grows)
        if status == "done":
            clock.stats["up_to_date"] = True
            meta = store.read_json("meta.json")
            if not od.store.exists("report.md"):  # killed between meta.json and report.md
                od.outputs.write_bytes("report.md", report_md(meta).encode())
            _prune_state(od.state, scan_dirs(len(meta["sources"]), len(meta["val_sources"])))
            return meta
        old = None
        if status == "grow":
            old_meta = store.read_json("meta.json")
            old = load_old_build(store, od.state, old_meta)
            clock.stats["grown_from"] = len(old_meta["sources"])
        runner = make_engine(engine, workers, ray_address)
        try:
            job = Job(od, val_sources, val_ids, opts, enc, runner, progress, old, val_bin)
            if target is None:
                meta = _run(job, sources, identities, clock)
            else:
                meta = _run_to_target(job, feed, target, clock)
        except ValSplitError:
            # The rerun changes the split options: the scans stay for it, but this build's claim on them goes.
            od.work.remove("fingerprint")
            raise
        finally:
            runner.close()
        clock.lap("write")
        return meta


@dataclass
class Request:
    """What a build is asked for. Without a target, the plan of its inputs (``grow.plan_of``); with
    one, the shards are known only once the build has decided, so the request itself is what a
    killed run's work is kept under."""

    feed: Inputs
    val_ids: list[tuple]
    val_bin: tuple | None
    options: dict
    target: TokenTarget | None

    def plan(self, n: int) -> dict:
        """The plan of a build of the first ``n`` inputs."""
        ids = [self.feed.identity(i) for i in range(n)]
        return plan_of(ids + self.val_ids, n, self.val_bin, self.options, self.target and self.target.as_dict())

    def fingerprint(self) -> str:
        if self.target is None:
            return fingerprint(self.plan(len(self.feed)))
        return fingerprint({**plan_of(self.val_ids, 0, self.val_bin, self.options, self.target.as_dict()),
                            "request": self.feed.description(), "shards": len(self.feed)})

    def current(self, meta: dict) -> bool:
        """The finished build ``meta`` is what this target asks: the same target, met, or short with every
        input taken, of inputs that are these ones first."""
        taken = meta.get("target") or {}
        n = len(meta.get("sources") or [])
        if {k: taken.get(k) for k in ("tokens", "epochs")} != self.target.as_dict() or n > len(self.feed):
            return False
        return bool(taken.get("met") or n == len(self.feed)) and fingerprint(self.plan(n)) == meta.get("fingerprint")


def _identity(path: str) -> str:
    return path if is_url(path) else os.path.realpath(path)


def _check_val_bin_outside(val_bin: str, out) -> None:
    """Refuse a --val-bin that this build would replace before reading it (its own --out)."""
    home = _identity(val_bin.rsplit("/", 1)[0] if is_url(val_bin) else os.path.dirname(os.path.abspath(val_bin)))
    resolved = _identity(str(out)).rstrip("/")
    if home == resolved or home.startswith(resolved + "/"):
        raise DataprepError(
            f"--val-bin {val_bin} lies inside --out {out}, which this build rewrites; copy it (with its "
            "val_bands.npy and meta.json) to another directory and point --val-bin there"
        )


class ValSplitError(DataprepError):
    """The validation split would be unusable; the options that make it must change."""


def _check_val_split(d: Decisions, lengths: np.ndarray, opts: BuildOptions) -> None:
    """Refuse a val split shorter than one training window, before anything is written."""
    if opts.val_bin or (not opts.val_from and opts.val_fraction == 0):  # reused, or none on purpose
        return
    val = d.split == "val"
    tokens = int(lengths[val].sum()) + int(val.sum())
    if tokens >= MIN_VAL_TOKENS:
        return
    if opts.val_from:
        made, advice = "the --val-from files give", "give more or longer --val-from files"
    else:
        made, advice = (f"--val-fraction {opts.val_fraction:g} gives",
                        "raise --val-fraction, or take val from other files with --val-from")
    raise ValSplitError(
        f"{made} a validation split of {int(val.sum())} document(s), {tokens:,} tokens once near-duplicates of "
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

    od: OutputDir  # the output directory: its outputs, .state (the scans) and .work
    val_sources: list[Source]  # --val-from files
    val_ids: list[tuple]  # input_identity() of each
    opts: BuildOptions
    enc: object  # the tokenizer
    engine: Engine
    progress: bool | None
    old: OldBuild | None  # the finished build this one grows from
    val_bin: tuple | None  # input_identity() of --val-bin


def _run(job: Job, sources: list[Source], identities: list[tuple], clock: Clock) -> dict:
    """Scan what is not yet scanned, decide over every document, write."""
    od, opts = job.od, job.opts
    dirs = scan_dirs(len(sources), len(job.val_sources))
    covered = set(job.old.starts) if job.old else set()  # shards whose kept tokens the old bins hold
    scan_all(sources + job.val_sources, identities + job.val_ids, dirs, [d not in covered for d in dirs], od.state,
             od.work, opts, job.engine, job.progress)
    clock.lap("scan")
    corpus = load_scanned(od.state, dirs, len(sources))
    state = sum(od.state.fs.size(od.state.path(f"{d}/{f}")) for d in dirs for f in ("docs.parquet", "bands.npy",
                                                                                       "lines.npz"))
    clock.stats["dedup_state_bytes_per_doc"] = state / max(1, len(corpus.tokens))
    val_bands, val_info = reuse_val(opts.val_bin, od.staged, job.enc, opts.lsh) if opts.val_bin else (None, {})
    decisions = _decide(corpus, od, opts, val_bands, job.engine)
    tokens = _resolve(job, corpus, decisions, sources, {})
    clock.lap("decide")
    return _write(job, sources, corpus, decisions, tokens, val_info, None)


def _run_to_target(job: Job, feed: Inputs, target: TokenTarget, clock: Clock) -> dict:
    """Take shards in order until the train split holds ``target.train_tokens`` (budget.py), then write."""
    od, opts = job.od, job.opts
    n_val = len(job.val_sources)
    covered = set(job.old.starts) if job.old else set()
    # Local shards are scanned as many at a time as there are workers (at no cost in wall time; a
    # few may go unused); a hub's are fetched one at a time, since each is a download.
    ahead = 1 if feed.lazy is not None else max(1, job.engine.workers)
    val_bands, val_info = reuse_val(opts.val_bin, od.staged, job.enc, opts.lsh) if opts.val_bin else (None, {})
    sources: list[Source] = []
    steps: list[dict] = []
    tables: dict = {}  # each shard's scan, loaded once
    memo: dict = {}  # documents tokenized again, kept while their stripped lines stay the same
    scanned = 0
    say = Progress("build: shards", len(feed), job.progress).enabled  # a line per shard, on a terminal
    while len(sources) < len(feed):
        k = len(sources)
        if k == scanned:
            more = list(range(k, min(len(feed), k + ahead)))
            dirs = scan_dirs(more[-1] + 1, 0)[k:] + (scan_dirs(0, n_val) if k == 0 else [])
            srcs = [feed.source(i) for i in more] + (job.val_sources if k == 0 else [])
            ids = [feed.identity(i) for i in more] + (job.val_ids if k == 0 else [])
            scan_all(srcs, ids, dirs, [d not in covered for d in dirs], od.state, od.work, opts, job.engine, job.progress)
            scanned = more[-1] + 1
        sources.append(feed.source(k))
        corpus = load_scanned(od.state, scan_dirs(k + 1, n_val), k + 1, tables)
        decisions = _decide(corpus, od, opts, val_bands, job.engine)
        tokens = _resolve(job, corpus, decisions, sources, memo)
        mine = corpus.shard == k
        steps.append(budget.step(sources[k].path, int(corpus.tokens[mine].sum() + mine.sum()), decisions.split,
                                 np.where(decisions.kept, tokens.lengths + 1, 0), steps[-1] if steps else None))
        if say:
            s = steps[-1]
            print(f"build: {s['shard']} of {len(feed)} shards: train split {s['train_tokens']:,} of the "
                  f"{target.train_tokens:,} tokens needed; this shard added {s['added']:,} effective tokens, "
                  f"{s['added_share']:.1%} of its own", file=sys.stderr)
        if steps[-1]["train_tokens"] >= target.train_tokens:
            break
    clock.lap("scan")
    return _write(job, sources, corpus, decisions, tokens, val_info, budget.section(target, steps))


def _decide(c: Scanned, od: OutputDir, opts: BuildOptions, val_bands: np.ndarray | None, engine: Engine) -> Decisions:
    """Stage 2: the decision core, its near duplicates found by band tasks over the scans."""
    near = BandsOnShards(od.work, od.state, c.scan_dirs, opts.lsh.bands_rows[0], engine, val_bands)
    return decide(c.docs, opts, near, "reused" if opts.val_bin else "files" if opts.val_from else "fraction")


def _resolve(job: Job, c: Scanned, d: Decisions, sources: list[Source], memo: dict) -> DocTokens:
    covered = set(job.old.starts) if job.old else set()
    return resolve(c, d, job.opts, sources + job.val_sources, job.enc, job.od.work, bin_dtype(job.enc.n_vocab),
                   np.array([s not in covered for s in c.scan_dirs]), job.old.for_corpus(c) if job.old else None,
                   job.engine.workers, memo)


def _write(job: Job, sources: list[Source], corpus: Scanned, decisions: Decisions, tokens: DocTokens, val_info: dict,
           target: dict | None) -> dict:
    """Stages 3 and 4: the outputs, staged in .work/next and moved into place once all are complete."""
    od, opts, enc = job.od, job.opts, job.enc
    _check_val_split(decisions, tokens.lengths, opts)
    staged = od.staged
    written = write_bins(staged, corpus, decisions, tokens, opts, enc, job.progress)
    is_val = decisions.split == "val"
    if not opts.val_bin:
        staged.save_array("val_bands.npy",
                          np.stack([corpus.band(j)[is_val] for j in range(opts.lsh.bands_rows[0])], axis=1))
    write_manifest(staged, corpus, decisions, written, sources + job.val_sources)
    scanned = [od.state.read_json(f"{d}/source.json") for d in corpus.scan_dirs]
    infos = [{"path": s.path, "rows": s.rows, "bytes": s.size, "sha256": m["sha256"]}
             for s, m in zip(sources + job.val_sources, scanned)]
    identities = [tuple(m["identity"]) for m in scanned]
    is_train = decisions.split == "train"
    meta = {
        "format": "nanogpt raw bins: little-endian tokens, EOT after every document",
        "dataprep_version": __version__,
        "fingerprint": fingerprint(plan_of(identities, len(sources), job.val_bin, opts.as_dict(),
                                           {k: target[k] for k in ("tokens", "epochs")} if target else None)),
        "tokenizer": {"name": enc.name, "n_vocab": enc.n_vocab, "eot": enc.eot_token},
        "vocab_size": enc.n_vocab,
        "dtype": bin_dtype(enc.n_vocab).name,
        "eot": enc.eot_token,
        "train_tokens": int(written.tokens[is_train].sum()),
        "train_docs": int(is_train.sum()),
        "val_tokens": int(val_info.get("val_tokens", written.tokens[is_val].sum())),
        "val_docs": int(val_info.get("val_docs", is_val.sum())),
        "files": written.files,
        "checks": _checks(staged, written.files),
        "options": opts.as_dict(),
        "sources": infos[: len(sources)],
        "val_sources": infos[len(sources):],
        "val_reused": val_info or None,
        "val_floor": decisions.val_floor,
        "unscored_docs": int((corpus.docs.int_score < 0).sum()),  # read without an edu score (report.md says so)
        "boilerplate": tokens.boilerplate,
        "waterfall": waterfall(corpus.docs, decisions, written.tokens),
    }
    if target is not None:
        meta["target"] = target
    staged.write_json("meta.json", meta)  # the mark of a finished build: nothing before it looks complete
    od.staging_done([n for n in staged.names() if not n.startswith(".")])
    od.swap()
    od.outputs.write_bytes("report.md", report_md(meta).encode())  # from meta.json alone, so a rerun can redo it
    _prune_state(od.state, corpus.scan_dirs)
    od.finish()
    return meta


def _checks(staged: Store, files: dict) -> dict:
    """Size and sampled sha256 of every token file written: what says the bins beside a meta.json are the
    ones it describes (the trainer checks them before it trains)."""
    names = [n for n in ("train.bin", "val.bin") if staged.exists(n)] + list(files.get("llmc", []))
    out = {}
    for name in names:
        size = staged.size(name)
        out[name] = {"bytes": size, "sampled_sha256": sampled_sha256(size, lambda a, b: staged.read_range(name, a, b))}
    return out


def _prune_state(state: Store, keep: list[str]) -> None:
    """Scans of inputs the build does not hold (a smaller build's, or shards scanned ahead) go."""
    keep = {d.rsplit("/", 1)[-1] for d in keep}
    for name in state.names("scan"):
        if name not in keep:
            state.remove(f"scan/{name}")
