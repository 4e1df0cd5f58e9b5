"""``build``: many parquet shards -> one deduplicated, filtered corpus of token bins.

One loop, over shards taken in order: scan what is not scanned, decide over every document taken so
far, say where each kept document's tokens are; without a ``--tokens`` target every shard is taken
at once and the loop runs once, with one it stops at the first count of shards that meets it. Then
the outputs are written and swapped in. The stages, each in its own module:

1. scan (``scan_shards.py``, per shard, as engine tasks): read, normalise, hash and tokenize every
   document once, into ``OUT/.state`` (what deduplication needs, kept after the build, each scan
   under the key of its input and options) and ``OUT/.work`` (the tokens).
2. decide (``dedup/decide.py``, the core estimate runs too): filters, exact duplicates, LSH
   clusters across all shards (band tasks, ``bands.py``), validation split and decontamination,
   keep rule.
3. write (``doc_tokens.py``, ``write_bins.py``): the kept documents' tokens, from the scans or the
   bins of the finished build this one grows from, into ``train.bin`` and ``val.bin``, then
   ``manifest.parquet``.
4. report: ``meta.json`` (the mark of a finished build), then ``report.md`` (``build_report.py``).

The outputs are staged in ``OUT/.work/next`` and moved into place once all are complete
(``outdir.py``), so a build that grows from another reads the old bins until then. What a build is,
and whether the finished build in ``OUT`` can grow into it, is ``build_identity.py``'s to say.
``OUT`` may be a local path or a URL (``s3://...``); every file goes through a ``Store``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from dataprep.dedup.decide import Decisions, Rules, decide, waterfall
from dataprep.errors import DataprepError
from dataprep.io.reader import Source, open_source, resolve_paths
from dataprep.io.storage import Store, input_identity, is_url, resolved
from dataprep.pipeline import budget
from dataprep.pipeline.bands import BandsOnShards
from dataprep.pipeline.budget import TokenTarget
from dataprep.pipeline.build_identity import build_identity, growth_problem, old_identities
from dataprep.pipeline.build_report import report_md
from dataprep.pipeline.doc_tokens import DocTokens, OldBuild, TokenPlaces, load_old_build, resolve
from dataprep.pipeline.engine import Engine, make_engine
from dataprep.pipeline.inputs import Inputs, LazyInputs
from dataprep.pipeline.outdir import OutputDir, fingerprint
from dataprep.pipeline.progress import shown
from dataprep.pipeline.scan_shards import STATE_FILES, Scanned, Scanner, Shard, load_scanned, scan_dirs, scan_options
from dataprep.pipeline.write_bins import reuse_val, write_bins, write_manifest
from dataprep.text.tokenizer import bin_dtype, get_encoding
from dataprep.version import __version__

PRODUCED = ("train.bin", "val.bin", "val_bands.npy", "manifest.parquet", "report.md", "meta.json", "dataprep_*_*.bin")
DERIVED = ("report.md",)  # written from meta.json, after it
# The least val a build writes: one training window of the GPT-2 presets (block_size 1024, plus the
# next token as the last target). A shorter val.bin would only fail later, in train.
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


@dataclass
class BuildInputs:
    """What a build reads: its train inputs (``train``), its --val-from files, and a --val-bin's identity."""

    train: Inputs
    val: list[Source]
    val_ids: list[tuple]
    val_bin: tuple | None

    @classmethod
    def of(cls, given: list[str] | LazyInputs, out, shards: int | None, opts: BuildOptions) -> "BuildInputs":
        train = Inputs(given, out, shards, opts.text_column)
        val_paths = resolve_paths(opts.val_from, exclude=out) if opts.val_from else []
        if train.lazy is None and {resolved(p) for p in val_paths} & set(train.description()):
            raise DataprepError("a --val-from file is also an input file")
        val = [open_source(p, opts.text_column) for p in val_paths]
        val_bin = _checked_val_bin(opts.val_bin, out) if opts.val_bin else None
        return cls(train, val, [input_identity(s.path) for s in val], val_bin)


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
    say: Callable[[str], None] | None = None,
) -> dict:
    """Run (or resume, or grow) a build; returns its meta.json content.

    ``shards`` takes the first N inputs; ``target`` instead takes as few of them, in order, as give
    a train split of ``target.train_tokens`` (``budget.py``), at most ``shards``. When ``out``
    holds a finished build of fewer (or more) of the same inputs with the same options, it grows
    into this one. ``workers``: processes (None: one per core). ``stats``, when given, receives wall
    seconds per stage, the bytes of deduplication state kept per document (for benchmarks), and
    ``up_to_date`` or ``grown_from`` (the input count of the build grown from); never in meta.json,
    which must not change from run to run. ``say``, when given, gets one-line notes for the user
    (each shard taken, on a terminal; a damaged scan made again).
    """
    clock = Clock({} if stats is None else stats)
    get_encoding(opts.encoding, opts.tokenizer_backend)  # an unknown tokenizer is refused before anything is touched
    feed = BuildInputs.of(inputs, out, shards, opts)
    if target is None:
        feed.train.first(len(feed.train), progress, "build")
    asked = Request(feed, opts.as_dict(), target)
    store = Store(out)
    with OutputDir(store, PRODUCED, DERIVED) as od:
        def grows(meta: dict) -> str | None:
            return growth_problem(meta, od.state, asked.identity(min(len(meta.get("sources") or []), len(feed.train))))

        status = od.prepare(asked.fingerprint(), overwrite, asked.current if target else None, grows)
        if status == "done":
            clock.stats["up_to_date"] = True
            return _finished(od)
        old = _old_build(od, asked, opts, say) if status == "grow" else None
        if old is not None:
            clock.stats["grown_from"] = len(store.read_json("meta.json")["sources"])
        runner = make_engine(engine, workers, ray_address)
        try:
            meta = _run(Job(od, opts, feed, runner, old, progress, say), target, clock)
        except ValSplitError:
            od.abandon()  # the rerun changes the split options: the scans stay for it, this build's claim goes
            raise
        finally:
            runner.close()
        clock.lap("write")
        return meta


@dataclass
class Request:
    """What a build is asked for. Without a target, the identity of its inputs; with one, the shards
    are known only once the build has decided, so the request itself is what a killed run's work is
    kept under."""

    feed: BuildInputs
    options: dict
    target: TokenTarget | None

    def identity(self, n: int) -> dict:
        """The identity of a build of the first ``n`` inputs."""
        ids = [self.feed.train.identity(i) for i in range(n)]
        return build_identity(ids + self.feed.val_ids, n, self.feed.val_bin, self.options,
                              self.target and self.target.as_dict())

    def fingerprint(self) -> str:
        if self.target is None:
            return fingerprint(self.identity(len(self.feed.train)))
        return fingerprint({**build_identity(self.feed.val_ids, 0, self.feed.val_bin, self.options,
                                             self.target.as_dict()),
                            "request": self.feed.train.description(), "shards": len(self.feed.train)})

    def current(self, meta: dict) -> bool:
        """The finished build ``meta`` is what this target asks: the same target, met, or short with every
        input taken, of inputs that are these ones first."""
        taken = meta.get("target") or {}
        n = len(meta.get("sources") or [])
        if {k: taken.get(k) for k in ("tokens", "epochs")} != self.target.as_dict() or n > len(self.feed.train):
            return False
        return bool(taken.get("met") or n == len(self.feed.train)) and fingerprint(self.identity(n)) == meta.get(
            "fingerprint")


def _finished(od: OutputDir) -> dict:
    """The finished build ``od`` already holds: its report written again if a kill lost it, spare scans pruned."""
    meta = od.store.read_json("meta.json")
    if not od.store.exists("report.md"):  # killed between meta.json and report.md
        od.outputs.write_bytes("report.md", report_md(meta).encode())
    _prune_state(od.state, scan_dirs(len(meta["sources"]), len(meta["val_sources"])))
    return meta


def _old_build(od: OutputDir, asked: Request, opts: BuildOptions, say) -> OldBuild | None:
    """The finished build this one grows from, proven by ``growth_problem``; None (every input's tokens
    made again) when the lines it stripped cannot be found again in its scans."""
    meta = od.store.read_json("meta.json")
    n_old = len(meta["sources"])
    identity = asked.identity(min(n_old, len(asked.feed.train)))
    identities = old_identities(od.state, identity, n_old) + identity["val"]
    old = load_old_build(od.store, od.state, meta, identities, scan_options(opts))
    if old is None and say is not None:
        say(f"the scans kept in {od.state.url} are damaged: the old bins are not reused, every input is scanned again")
    return old


def _checked_val_bin(val_bin: str, out) -> tuple:
    """The identity of a --val-bin that exists and that this build does not rewrite before reading it
    (its own --out, reached by any path: symlinks and hard links resolved). Checked before anything is touched."""
    problem = (f"--val-bin {val_bin} lies inside --out {out}, which this build rewrites; copy it (with its "
               "val_bands.npy and meta.json) to another directory and point --val-bin there")
    if is_url(val_bin) or is_url(out):
        if resolved(val_bin).startswith(resolved(out) + "/"):
            raise DataprepError(problem)
        return input_identity(val_bin)
    if not os.path.isfile(val_bin):
        raise DataprepError(f"--val-bin {val_bin}: no such file")
    home, root = os.path.dirname(resolved(val_bin)), resolved(out)
    if home == root or home.startswith(root + "/") or _linked_into(val_bin, root):
        raise DataprepError(problem)
    return input_identity(val_bin)


def _linked_into(path: str, directory: str) -> bool:
    """``path`` is a hard link of a file directly in ``directory``."""
    me = os.stat(path)
    if me.st_nlink < 2 or not os.path.isdir(directory):
        return False
    with os.scandir(directory) as entries:
        return any(e.is_file(follow_symlinks=False) and os.path.samestat(e.stat(follow_symlinks=False), me)
                   for e in entries)


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
    """One build, as the loop sees it once its inputs and output directory are checked."""

    od: OutputDir  # the output directory: its outputs, .state (the scans) and .work
    opts: BuildOptions
    feed: BuildInputs
    engine: Engine
    old: OldBuild | None  # the finished build this one grows from
    progress: bool | None
    say: Callable[[str], None] | None
    tables: dict = field(default_factory=dict)  # each shard's scan, loaded once
    memo: dict = field(default_factory=dict)  # documents tokenized again, while their stripped lines stay

    def scan(self, first: int, stop: int) -> int:
        """Scan train inputs ``first`` to ``stop`` (and the --val-from files with the first); returns ``stop``."""
        n_val = len(self.feed.val) if first == 0 else 0
        dirs = scan_dirs(stop, 0)[first:] + scan_dirs(0, n_val)
        sources = [self.feed.train.source(i) for i in range(first, stop)] + self.feed.val[:n_val]
        ids = [self.feed.train.identity(i) for i in range(first, stop)] + self.feed.val_ids[:n_val]
        covered = self.old.starts if self.old else {}  # shards whose kept tokens the old bins hold
        scanner = Scanner(self.od.state, self.od.work, scan_options(self.opts), self.opts.tokenizer_backend,
                          self.opts.batch_rows, self.engine, self.progress, self.say)
        scanner.scan([Shard(s, i, d, d not in covered) for s, i, d in zip(sources, ids, dirs)])
        return stop

    def decide(self, c: Scanned, val_bands: np.ndarray | None) -> Decisions:
        """Stage 2: the decision core, its near duplicates found by band tasks over the scans."""
        near = BandsOnShards(self.od.work, self.od.state, c.scan_dirs, self.opts.lsh.bands_rows[0], self.engine,
                             val_bands)
        return decide(c.docs, self.opts, near,
                      "reused" if self.opts.val_bin else "files" if self.opts.val_from else "fraction")

    def tokens(self, c: Scanned, d: Decisions) -> DocTokens:
        covered = self.old.starts if self.old else {}
        places = TokenPlaces(sources=[self.feed.train.source(i) for i in range(c.n_train)] + self.feed.val,
                             work=self.od.work, scanned_tokens=np.array([s not in covered for s in c.scan_dirs]),
                             old=self.old, opts=self.opts, threads=self.engine.workers, memo=self.memo)
        return resolve(c, d, places)


def _run(job: Job, target: TokenTarget | None, clock: Clock) -> dict:
    """Take shards in order, decide over all taken, until the target is met (without one: all at once), then write."""
    n_inputs, n_val = len(job.feed.train), len(job.feed.val)
    # Local shards are scanned as many at a time as there are workers (at no cost in wall time; a
    # few may go unused); a hub's are fetched one at a time, since each is a download.
    ahead = 1 if job.feed.train.lazy is not None else max(1, job.engine.workers)
    val_bands, val_info = reuse_val(job.opts.val_bin, job.od.staged, job.opts) if job.opts.val_bin else (None, {})
    taken, scanned, steps, scanning = (n_inputs if target is None else 1), 0, [], 0.0
    while True:
        if taken > scanned:
            began = time.perf_counter()
            scanned = job.scan(scanned, n_inputs if target is None else min(n_inputs, taken - 1 + ahead))
            scanning += time.perf_counter() - began
        corpus = load_scanned(job.od.state, scan_dirs(taken, n_val), taken, job.tables)
        decisions = job.decide(corpus, val_bands)
        tokens = job.tokens(corpus, decisions)
        if target is None:
            break
        steps.append(_step(job, corpus, decisions, tokens, steps, target))
        if steps[-1]["train_tokens"] >= target.train_tokens or taken == n_inputs:
            break
        taken += 1
    clock.lap("decide")
    clock.stats["scan_seconds"], clock.stats["decide_seconds"] = scanning, clock.stats["decide_seconds"] - scanning
    clock.stats["dedup_state_bytes_per_doc"] = sum(
        job.od.state.size(f"{d}/{f}") for d in corpus.scan_dirs for f in STATE_FILES) / max(1, len(corpus.docs))
    return _write(job, corpus, decisions, tokens, val_info, budget.section(target, steps) if target else None)


def _step(job: Job, c: Scanned, d: Decisions, tokens: DocTokens, steps: list[dict], target: TokenTarget) -> dict:
    """The budget's row for the shard just taken (the last of ``c``), said on a terminal."""
    k = c.n_train - 1
    mine = c.shard == k
    step = budget.step(job.feed.train.source(k).path, int(c.docs.token_counts[mine].sum() + mine.sum()), d.split,
                       np.where(d.kept, tokens.lengths + 1, 0), steps[-1] if steps else None)
    if job.say is not None and shown(job.progress):
        job.say(f"build: {step['shard']} of {len(job.feed.train)} shards: train split {step['train_tokens']:,} of the "
                f"{target.train_tokens:,} tokens needed; this shard added {step['added']:,} effective tokens, "
                f"{step['added_share']:.1%} of its own")
    return step


def _write(job: Job, corpus: Scanned, decisions: Decisions, tokens: DocTokens, val_info: dict,
           target: dict | None) -> dict:
    """Stages 3 and 4: the outputs, staged in .work/next and moved into place once all are complete."""
    od, opts = job.od, job.opts
    enc = get_encoding(opts.encoding, opts.tokenizer_backend)
    _check_val_split(decisions, tokens.lengths, opts)
    staged = od.staged
    sources = tokens.places.sources
    written = write_bins(staged, corpus, decisions, tokens, opts, enc, job.progress)
    is_val = decisions.split == "val"
    if not opts.val_bin:
        staged.save_array("val_bands.npy",
                          np.stack([corpus.band(j)[is_val] for j in range(opts.lsh.bands_rows[0])], axis=1))
    write_manifest(staged, corpus, decisions, written, sources)
    meta = _meta(job, corpus, decisions, tokens, written, val_info, target)
    staged.write_json("meta.json", meta)  # the mark of a finished build: nothing before it looks complete
    od.staging_done([n for n in staged.names() if not n.startswith(".")])
    od.swap()
    od.outputs.write_bytes("report.md", report_md(meta).encode())  # from meta.json alone, so a rerun can redo it
    _prune_state(od.state, corpus.scan_dirs)
    od.finish()
    return meta


def _meta(job: Job, corpus: Scanned, decisions: Decisions, tokens: DocTokens, written, val_info: dict,
          target: dict | None) -> dict:
    """meta.json: what the build is, what it wrote, and how its documents were decided."""
    opts, enc = job.opts, get_encoding(job.opts.encoding, job.opts.tokenizer_backend)
    markers = [job.od.state.read_json(f"{d}/source.json") for d in corpus.scan_dirs]
    infos = [{"path": m["path"], "rows": m["rows"], "bytes": m["bytes"], "sha256": m["sha256"]} for m in markers]
    is_train, is_val = decisions.split == "train", decisions.split == "val"
    meta = {
        "format": "nanogpt raw bins: little-endian tokens, EOT after every document",
        "dataprep_version": __version__,
        "fingerprint": fingerprint(build_identity([tuple(m["identity"]) for m in markers], corpus.n_train,
                                                  job.feed.val_bin, opts.as_dict(),
                                                  {k: target[k] for k in ("tokens", "epochs")} if target else None)),
        "tokenizer": {"name": enc.name, "n_vocab": enc.n_vocab, "eot": enc.eot_token},
        "vocab_size": enc.n_vocab,
        "dtype": bin_dtype(enc.n_vocab).name,
        "eot": enc.eot_token,
        "train_tokens": int(written.token_counts[is_train].sum()),
        "train_docs": int(is_train.sum()),
        "val_tokens": int(val_info.get("val_tokens", written.token_counts[is_val].sum())),
        "val_docs": int(val_info.get("val_docs", is_val.sum())),
        "files": written.files,
        "checks": {name: job.od.staged.sampled_description(name) for name in _token_files(job.od.staged, written.files)},
        "options": opts.as_dict(),
        "sources": infos[: corpus.n_train],
        "val_sources": infos[corpus.n_train:],
        "val_reused": val_info or None,
        "val_floor": decisions.val_floor,
        "unscored_docs": int((corpus.docs.int_score < 0).sum()),  # read without an edu score (report.md says so)
        "boilerplate": tokens.boilerplate,
        "waterfall": waterfall(corpus.docs, decisions, written.token_counts),
    }
    if target is not None:
        meta["target"] = target
    return meta


def _token_files(staged: Store, files: dict) -> list[str]:
    """Every token file written (and the val set's bands): what meta.json's checks describe, so that the
    trainer, and a build reusing the val set, can tell the files beside a meta.json are the ones it describes."""
    return [n for n in ("train.bin", "val.bin", "val_bands.npy") if staged.exists(n)] + list(files.get("llmc", []))


def _prune_state(state: Store, keep: list[str]) -> None:
    """Scans of inputs the build does not hold (a smaller build's, or shards scanned ahead) go."""
    keep = {d.rsplit("/", 1)[-1] for d in keep}
    for name in state.names("scan"):
        if name not in keep:
            state.remove(f"scan/{name}")
