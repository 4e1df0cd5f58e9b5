"""``estimate``: how many effective, unique tokens a set of parquet shards holds.

estimate and build are two views of one computation. estimate scans each input with build's scan
task (``scan_shards.py``: read -> tokenize || normalise, hash, MinHash, line hashes), on build's
engine, into a work directory of its own (a temporary one unless ``work`` is given); it runs the
decision core over all documents with build's band tasks (``decide.py``: filters, exact, near, val
split, keep rule); it finds the boilerplate among the kept documents a shard at a time, and sums
the tokens of its lines from the one tokenization (boilerplate.py). The effective tokens are what
``build`` with the same rules writes (train + val): with ``--strip-boilerplate`` the documents
holding boilerplate are tokenized again without it, as build does, so the forecast stays exact.
``--fast`` reads metadata columns only.

What the driver holds per document: the ``Documents`` arrays the decision needs (two digests,
token count, scores, val key: about 60 bytes), the decisions, and the text bytes and token_count
column; per distinct line of the kept documents, its hash and how many of them hold it (the first of
two passes over the scans' lines, a shard at a time); the second pass reduces each shard's places of
boilerplate lines to per-document sums before the next shard is read, so no line's places are held
beyond its shard.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from dataprep.dedup.boilerplate import Boilerplate, first_places, place_tokens, sample_lines
from dataprep.dedup.decide import (DEFAULT_MIN_SCORE, FILTERS, BandsInMemory, Decisions, Documents, Rules, decide,
                                   documents_of, filter_reasons, waterfall)
from dataprep.dedup.diversity import NgramDiversity
from dataprep.dedup.minhash import LSHParams
from dataprep.errors import DataprepError, named
from dataprep.io.reader import Source, iter_batches, read_rows
from dataprep.io.storage import Store, resolved
from dataprep.pipeline.bands import BandsOnShards
from dataprep.pipeline.build_command import build_command
from dataprep.pipeline.engine import Engine, make_engine
from dataprep.pipeline.inputs import Inputs, LazyInputs
from dataprep.pipeline.plan import Plan
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan import OPTIONAL_COLUMNS, tokens_again
from dataprep.pipeline.scan_shards import Scanned, Scanner, Shard, load_scanned, scan_dirs, scan_options
from dataprep.text.scores import passes_min_score
from dataprep.text.tokenizer import bin_dtype, get_encoding
from dataprep.version import __version__

CLUSTER_SIZE_BINS = ((2, 2), (3, 3), (4, 7), (8, 15), (16, 63), (64, None))


@dataclass
class EstimateOptions(Rules):
    """The decision rules (``decide.Rules``, shared with build) and what the report shows."""

    text_column: str | None = None
    top_lines: int = 10
    diversity_ngram: int = 13
    fast: bool = False
    # Half of build's: each scan process holds about 60 MB less (docs/benchmarks.md, memory), and the
    # scan is no slower; the report does not depend on it.
    batch_rows: int = 1024
    encoding: str = "gpt2"
    tokenizer_backend: str = "tiktoken"  # or "riptoken": the same ids, faster
    plan: Plan | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, low in (("batch_rows", 1), ("diversity_ngram", 1), ("top_lines", 0)):
            if getattr(self, name) < low:
                raise DataprepError(f"{named(name)} must be >= {low}, not {getattr(self, name)}")


@dataclass
class Measured:
    """Everything the full report is computed from, per document where it matters."""

    sources: list[Source]
    docs: Documents
    text_bytes: np.ndarray  # int64 UTF-8 bytes of each raw document
    token_count: np.ndarray | None  # the parquet column, when every file has it
    decisions: Decisions
    boilerplate: Boilerplate
    boilerplate_docs: np.ndarray  # kept documents holding a boilerplate line
    boilerplate_tokens: np.ndarray  # int64 per document: tokens of its boilerplate lines (boilerplate.py)
    samples: dict[int, str]  # one raw text per boilerplate line hash
    diversity: NgramDiversity
    tokenizer: object
    bands: BandsInMemory | None = None  # the band hashes, when asked for: decisions over parts (forecast.py)

    def written(self, rules: Rules) -> np.ndarray:
        """Tokens (EOT included) each document takes in what build writes: 0 when dropped."""
        tokens = self.docs.token_counts + 1
        if rules.strip_boilerplate:
            tokens = tokens - self.boilerplate_tokens
        return np.where(self.decisions.kept, tokens, 0)


def estimate(inputs: list[str] | LazyInputs, opts: EstimateOptions, shards: int | None = None,
             workers: int | None = None, progress: bool | None = None, engine: str = "local",
             ray_address: str | None = None, work: str | None = None,
             say: Callable[[str], None] | None = None) -> dict:
    """The report of ``inputs`` (paths, directories, globs, URLs, or a hub dataset's shards; the first
    ``shards`` of them when given). ``workers``: processes (None: one per core); ``engine`` and
    ``ray_address`` as build's; ``work``: where the scans go (a temporary directory by default; on a
    Ray cluster, a URL every worker reaches); ``say``: one-line notes for the user."""
    get_encoding(opts.encoding, opts.tokenizer_backend)  # an unknown tokenizer is refused before any work
    feed = Inputs(inputs, shards=shards, text_column=opts.text_column)
    if opts.fast:
        report = _estimate_fast([feed.source(i) for i in range(len(feed))], opts, progress)
    else:
        runner = make_engine(engine, workers, ray_address)
        try:
            report = full_report(measure(feed, opts, runner, work, progress, say), opts)
        finally:
            runner.close()
    if "plan" in report:
        report["plan"]["build_command"], report["plan"]["build_note"] = build_command(feed, opts, report)
    return report


@contextmanager
def _work_dir(work: str | None) -> Iterator[Store]:
    """A directory of this run's own for the scans, removed afterwards: under ``work`` when given (where
    nothing else is touched), else a temporary one."""
    if work is None:
        root = tempfile.mkdtemp(prefix="dataprep-estimate-")
        try:
            yield Store(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    parent = Store(work)
    if parent.local and parent.exists() and not parent.local_path().is_dir():
        raise DataprepError(f"--work {work} is not a directory")
    mine = parent.sub(f"dataprep-estimate-{uuid.uuid4().hex[:12]}")
    try:
        yield mine
    finally:
        mine.remove()


def measure(feed: Inputs | list[str], opts: EstimateOptions, engine: Engine | None = None, work: str | None = None,
            progress: bool | None = None, say: Callable[[str], None] | None = None, bands: bool = False) -> Measured:
    """Scan every input (as build's scan tasks), decide, and find the boilerplate and its tokens
    (``engine``: the local engine with a worker per core when None; ``work`` as ``estimate``'s;
    ``bands``: keep the band hashes in memory, for decisions over parts of the input)."""
    feed = feed if isinstance(feed, Inputs) else Inputs(feed, text_column=opts.text_column)
    if engine is None:
        engine = make_engine("local")
        try:
            return measure(feed, opts, engine, work, progress, say, bands)
        finally:
            engine.close()
    with _work_dir(work) as root:
        return _measure(feed, opts, engine, root, progress, say, bands)


def _measure(feed: Inputs, opts: EstimateOptions, engine: Engine, root: Store, progress: bool | None,
             say: Callable[[str], None] | None, bands: bool) -> Measured:
    sources = [feed.source(i) for i in range(len(feed))]
    state, work = root.sub("state"), root.sub("work")
    scanner = Scanner(state, work, scan_options(opts, line_tokens=True, diversity_ngram=opts.diversity_ngram,
                                                    token_count=True),
                      opts.tokenizer_backend, opts.batch_rows, engine, progress, say, label="estimate")
    dirs = scan_dirs(len(sources), 0)
    # Its own scans, made for this run: identified by path and size, without reading each input to hash it.
    scanner.scan([Shard(s, (resolved(s.path), s.size, None), d, False) for s, d in zip(sources, dirs)])
    c = load_scanned(state, dirs, len(sources))
    decisions = decide(c.docs, opts, BandsOnShards(work, state, dirs, opts.lsh.bands_rows[0], engine, None))
    found = _boilerplate_in(c, decisions.kept, opts, engine)
    enc = get_encoding(opts.encoding, opts.tokenizer_backend)
    boiler, with_boiler = found.boiler, np.flatnonzero(found.holders)
    if opts.strip_boilerplate:  # the forecast of build's bins: exact, as build writes them
        boiler_tokens = _stripped_tokens(sources, c.docs.token_counts, with_boiler, boiler, enc, opts, engine.workers)
    else:
        boiler_tokens = found.tokens
    samples = sample_lines(read_rows(sources, np.unique(found.first_of_top)), found.top)
    counts = c.column("token_count", -1, np.int64)
    return Measured(
        sources=sources,
        docs=c.docs,
        text_bytes=c.column("text_bytes", 0, np.int64),
        # Shown beside the exact count only when every document has one (nulls read as -1; the
        # reader refuses negative counts), so that the sum is never quietly short.
        token_count=None if (counts < 0).any() else counts,
        decisions=decisions,
        boilerplate=boiler,
        boilerplate_docs=with_boiler,
        boilerplate_tokens=boiler_tokens,
        samples=samples,
        diversity=c.diversity(opts.diversity_ngram),
        tokenizer=enc,
        bands=BandsInMemory(np.stack([c.band(j) for j in range(opts.lsh.bands_rows[0])], axis=1)) if bands else None,
    )


@dataclass
class BoilerplateFound:
    """The boilerplate of the kept documents, reduced a shard at a time (no line's places held beyond its shard)."""

    boiler: Boilerplate
    holders: np.ndarray  # bool per document: a kept document holding a boilerplate line
    tokens: np.ndarray  # int64 per document: tokens of its boilerplate lines, counted (``place_tokens``)
    top: np.ndarray  # hashes of the ``top_lines`` lines held by most documents
    first_of_top: np.ndarray  # the first document holding each of them


def _boilerplate_in(c: Scanned, kept: np.ndarray, opts: EstimateOptions, engine: Engine) -> BoilerplateFound:
    boiler = c.boilerplate_lines(kept, opts.boilerplate_min_docs, engine)
    top = boiler.hashes[boiler.top(opts.top_lines)]
    doc_tokens = np.where(kept, c.docs.token_counts, 0)
    found = BoilerplateFound(boiler, np.zeros(len(kept), dtype=bool), np.zeros(len(kept), dtype=np.int64), top,
                             top[:0])
    firsts: list[tuple[np.ndarray, np.ndarray]] = []
    for places in c.boilerplate_places(kept, boiler, engine):
        found.holders[places["doc"]] = True
        # A document lies in one shard: each shard's sums, capped at its documents' tokens, add up.
        found.tokens += place_tokens(places["doc"], places["tokens"], doc_tokens)
        firsts.append(first_places(places["hash"], places["doc"], top))
    if firsts:
        found.first_of_top = first_places(*(np.concatenate(f) for f in zip(*firsts)), top)[1]
    return found


def full_report(m: Measured, opts: EstimateOptions) -> dict:
    tokens = m.docs.token_counts + 1
    report = _report_head(m.sources, opts, m.tokenizer, tokens, m.docs, m.text_bytes, m.token_count, mode="full")
    report.update(_dedup_section(tokens, m.decisions, opts.lsh))
    report.update(_boilerplate_section(m.boilerplate, m.boilerplate_tokens, m.boilerplate_docs, m.samples, opts))
    written = m.written(opts)
    _effective(report, waterfall(m.docs, m.decisions, written), upper_bound=False)
    report["diversity"] = {
        "ngram": opts.diversity_ngram,
        "ngrams": m.diversity.total,
        "distinct_estimate": round(m.diversity.distinct()),
        "distinct_fraction": m.diversity.fraction(),
    }
    _add_plan(report, opts, len(m.sources))
    return report


def _effective(report: dict, rows: list[dict], upper_bound: bool) -> None:
    """The waterfall, and the effective documents and tokens it ends with (train + val)."""
    stage = {r["stage"]: r for r in rows}
    filtered = [r for r in rows if r["stage"] in FILTERS]
    report["filtered_docs"] = sum(r["docs"] for r in filtered)
    report["filtered_tokens"] = sum(r["tokens"] for r in filtered)
    report["effective_docs"] = stage["train"]["docs"] + stage["val"]["docs"]
    report["effective_tokens"] = stage["train"]["tokens"] + stage["val"]["tokens"]
    report["effective_share"] = report["effective_tokens"] / report["tokens"] if report["tokens"] else 0.0
    report["effective_is_upper_bound"] = upper_bound
    report["waterfall"] = rows


def _stripped_tokens(sources: list[Source], tokens: np.ndarray, docs: np.ndarray, boiler: Boilerplate, enc,
                     opts: EstimateOptions, threads: int) -> np.ndarray:
    """Exact tokens that stripping boilerplate lines removes from each of ``docs``, by tokenizing them again."""
    removed = np.zeros(len(tokens), dtype=np.int64)
    for some, _, lengths in tokens_again(sources, docs, boiler.hashes, enc, opts.batch_rows, threads):
        removed[some] = tokens[some] - lengths  # tokens: without EOT
    return removed


def _estimate_fast(sources: list[Source], opts: EstimateOptions, progress: bool | None) -> dict:
    """Filters only, from the metadata columns: no text is read, so nothing is deduplicated."""
    missing = [s.path for s in sources if "token_count" not in s.columns]
    if missing:
        raise DataprepError(f"--fast needs a token_count column, which {missing[0]} lacks; run without --fast")
    columns: dict[str, list] = {}
    bar = Progress("estimate --fast", sum(s.rows for s in sources), progress, counts_bytes=False)  # no text read
    for batch in iter_batches(sources, OPTIONAL_COLUMNS, 65536, with_text=False):
        counts = batch.columns["token_count"]
        if (counts < 0).any():  # -1: null (the reader refuses negative counts)
            row = batch.first_row + int(np.flatnonzero(counts < 0)[0])
            raise DataprepError(f"{sources[batch.source].path}: token_count is null at row {row}; --fast needs "
                                "a count for every document: run without --fast")
        for name in ("token_count", "score", "int_score", "language_score"):
            columns.setdefault(name, []).append((batch.columns.get(name), len(batch)))
        bar.update(len(batch))
    bar.done()
    counts = np.concatenate([c for c, _ in columns["token_count"]])
    n = len(counts)
    docs = metadata_documents(columns, n)
    reason = filter_reasons(docs, opts)
    split = np.where(reason == None, "train", None).astype(object)  # noqa: E711 (elementwise)
    passed = Decisions(reason=reason, split=split, cluster=np.full(n, -1), representative=np.full(n, -1))
    report = _report_head(sources, opts, None, counts + 1, docs, None, counts, mode="fast")
    for key in ("exact_duplicate_docs", "exact_duplicate_tokens", "near_duplicate_docs", "near_duplicate_tokens"):
        report[key] = None
    report["boilerplate_tokens"] = None
    measured = ("input", *FILTERS, "train", "val")  # nothing past the filters: no text was read
    rows = [r for r in waterfall(docs, passed, np.where(passed.kept, counts + 1, 0)) if r["stage"] in measured]
    _effective(report, rows, upper_bound=True)
    report["diversity"] = None
    _add_plan(report, opts, len(sources))
    return report


def metadata_documents(columns: dict[str, list[tuple]], n: int) -> Documents:
    """``n`` documents known from their metadata columns alone (``--fast``, and the files a forecast does
    not read): enough for the filters, never a duplicate. ``columns``: name -> its parts in order, each
    (values, or None where a file lacks the column; how many documents)."""
    def column(name: str, fill, dtype) -> np.ndarray:
        parts = columns.get("token_count" if name == "tokens" else name, [(None, n)])
        return np.concatenate([np.full(k, fill, dtype=dtype) if c is None else np.asarray(c, dtype=dtype)
                               for c, k in parts])

    return documents_of(column, n, val_key=np.ones(n), is_val_source=np.zeros(n, dtype=bool))


def _report_head(sources: list[Source], opts: EstimateOptions, enc, tokens: np.ndarray, docs: Documents,
                 text_bytes: np.ndarray | None, token_count: np.ndarray | None, mode: str) -> dict:
    schemas = sorted({s.schema_name for s in sources})
    report: dict = {
        "dataprep_version": __version__,
        "mode": mode,
        "files": [{"path": s.path, "rows": s.rows, "bytes": s.size, "schema": s.schema_name} for s in sources],
        "schema": schemas[0] if len(schemas) == 1 else "mixed",
        "docs": int(len(tokens)),
        "text_bytes": None if text_bytes is None else int(text_bytes.sum()),
        "tokens": int(tokens.sum()),
        "tokens_source": "tokenizer" if mode == "full" else "token_count column + 1 EOT per document",
        "token_count_column": None if token_count is None else int(token_count.sum()),
        "rules": {
            "min_score": opts.min_score,
            "min_language_score": opts.min_language_score,
            "min_tokens": opts.min_tokens,
            "val_fraction": opts.val_fraction,
            "strip_boilerplate": opts.strip_boilerplate,
        },
    }
    if enc is not None:
        report["tokenizer"] = {
            "name": enc.name,
            "n_vocab": enc.n_vocab,
            "eot": enc.eot_token,
            "bin_dtype": bin_dtype(enc.n_vocab).name,
        }
    report.update(score_section(tokens, docs, opts))
    return report


def score_section(tokens: np.ndarray, docs: Documents, opts: EstimateOptions) -> dict:
    if not (docs.int_score >= 0).any():
        return {"score_present": False, "score_histogram": None, "min_score": None, "tokens_at_or_above_min_score": None}
    threshold = DEFAULT_MIN_SCORE if opts.min_score is None else opts.min_score
    hist = {}
    for k in range(6):
        sel = docs.int_score == k
        hist[str(k)] = {"docs": int(sel.sum()), "tokens": int(tokens[sel].sum())}
    missing = docs.int_score < 0
    if missing.any():
        hist["none"] = {"docs": int(missing.sum()), "tokens": int(tokens[missing].sum())}
    ok = passes_min_score(docs.score, docs.int_score, threshold)
    return {
        "score_present": True,
        "score_histogram": hist,
        "min_score": threshold,
        "docs_at_or_above_min_score": int(ok.sum()),
        "tokens_at_or_above_min_score": int(tokens[ok].sum()),
    }


def _dedup_section(tokens: np.ndarray, d: Decisions, lsh: LSHParams) -> dict:
    bands, rows = lsh.bands_rows
    sizes = d.cluster_sizes()
    bins = {}
    for lo, hi in CLUSTER_SIZE_BINS:
        name = str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+")
        bins[name] = int(((sizes >= lo) & (sizes <= (hi or np.inf))).sum())
    exact = d.reason == "exact-dup"
    near = (d.reason == "near-dup") | (d.reason == "val-contamination")
    return {
        "exact_duplicate_docs": int(exact.sum()),
        "exact_duplicate_tokens": int(tokens[exact].sum()),
        "near_duplicate_docs": int(near.sum()),
        "near_duplicate_tokens": int(tokens[near].sum()),
        "near_duplicate_clusters": int(len(sizes)),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "cluster_sizes": bins,
        "lsh": {
            "num_perm": lsh.num_perm,
            "bands": bands,
            "rows": rows,
            "ngram": lsh.ngram,
            "threshold": lsh.threshold,
            "implied_threshold": lsh.implied_threshold,
            "detection_probability": {str(j): lsh.detection_probability(j) for j in (0.7, 0.8, 0.9)},
        },
    }


def _boilerplate_section(boiler: Boilerplate, removed: np.ndarray, docs: np.ndarray, samples: dict, opts) -> dict:
    order = boiler.top(opts.top_lines)
    return {
        "boilerplate_min_docs": opts.boilerplate_min_docs,
        "boilerplate_lines": int(len(boiler)),
        "boilerplate_docs": int(len(docs)),
        "boilerplate_tokens": int(removed.sum()),
        "boilerplate_top": [
            {"line": samples.get(int(boiler.hashes[i]), ""), "docs": int(boiler.doc_counts[i])} for i in order
        ],
    }


def _add_plan(report: dict, opts: EstimateOptions, shards: int) -> None:
    if opts.plan is not None:
        train = next(r["tokens"] for r in report["waterfall"] if r["stage"] == "train")
        report["plan"] = opts.plan.check(report["effective_tokens"], shards, train)

