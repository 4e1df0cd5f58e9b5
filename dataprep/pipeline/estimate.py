"""``estimate``: how many effective, unique tokens a set of parquet shards holds.

Data flow: read -> (tokenize || scan) per batch, keeping the tokens of each
line -> the decision core over the whole input (``decide.py``: filters, exact,
near, val split, keep rule, the same as build) -> boilerplate among the kept
documents and the tokens of its lines, summed without a second tokenization
(boilerplate.py) -> the report. The effective tokens are what ``build`` with
the same rules writes (train + val): with ``--strip-boilerplate`` the documents
holding boilerplate are tokenized again without it, as build does, so the
forecast stays exact. ``--fast`` reads metadata columns only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from dataprep.dedup.boilerplate import (
    Boilerplate,
    find_boilerplate,
    first_holders,
    line_tokens,
    occurrence_tokens,
    removed_tokens,
    sample_lines,
)
from dataprep.dedup.decide import DEFAULT_MIN_SCORE, BandsInMemory, Decisions, Documents, Rules, decide, filter_reasons, \
    val_keys, waterfall
from dataprep.dedup.diversity import NgramDiversity
from dataprep.errors import DataprepError
from dataprep.dedup.minhash import LSHParams, MinHasher
from dataprep.pipeline.plan import Plan
from dataprep.pipeline.progress import Progress
from dataprep.io.reader import Source, iter_batches, open_sources, read_rows
from dataprep.pipeline.scan import scan_batch, tokens_again
from dataprep.text.scores import complete_scores, passes_min_score
from dataprep.text.tokenizer import bin_dtype, encode_batch, get_encoding, token_byte_lengths
from dataprep.version import __version__

COLUMNS = ("score", "int_score", "token_count", "language_score", "id")
CLUSTER_SIZE_BINS = ((2, 2), (3, 3), (4, 7), (8, 15), (16, 63), (64, None))


@dataclass
class EstimateOptions(Rules):
    """The decision rules (``decide.Rules``, shared with build) and how the measurement runs."""

    text_column: str | None = None
    top_lines: int = 10
    diversity_ngram: int = 13
    fast: bool = False
    batch_rows: int = 2048
    threads: int = 2
    encoding: str = "gpt2"
    tokenizer_backend: str = "tiktoken"  # or "riptoken": the same ids, faster
    plan: Plan | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, low in (("threads", 1), ("batch_rows", 1), ("diversity_ngram", 1), ("top_lines", 0)):
            if getattr(self, name) < low:
                raise DataprepError(f"{name} (--{name.replace('_', '-')}) must be >= {low}, not {getattr(self, name)}")


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
    bands: BandsInMemory  # the near-duplicate band hashes, for decisions over parts of the input (forecast.py)

    def written(self, rules: Rules) -> np.ndarray:
        """Tokens (EOT included) each document takes in what build writes: 0 when dropped."""
        tokens = self.docs.tokens + 1
        if rules.strip_boilerplate:
            tokens = tokens - self.boilerplate_tokens
        return np.where(self.decisions.kept, tokens, 0)


def estimate(paths: list[str], opts: EstimateOptions, progress: bool | None = None) -> dict:
    sources = open_sources(paths, opts.text_column)
    if opts.fast:
        return _estimate_fast(sources, opts, progress)
    return full_report(measure(sources, opts, progress), opts)


def metadata_facts(columns: dict, n: int) -> dict:
    """The metadata columns of ``n`` documents (a batch's, or a file's) as the decision core wants them."""
    score, int_score = complete_scores(columns.get("score"), columns.get("int_score"), n)
    language = columns.get("language_score")
    return {"score": score, "int_score": int_score, "language_score": np.full(n, np.nan) if language is None else language,
            "token_count": columns.get("token_count"), "ids": columns.get("id") or [None] * n}


def measure(sources: list[Source], opts: EstimateOptions, progress: bool | None = None) -> Measured:
    enc = get_encoding(opts.encoding, opts.tokenizer_backend)
    minhasher = MinHasher(opts.lsh)
    diversity = NgramDiversity(n=opts.diversity_ngram)
    token_bytes = token_byte_lengths(enc)
    scans, tokens, line_tok, facts = [], [], [], []
    bar = Progress("estimate", sum(s.rows for s in sources), progress)

    def finish(tokenized, text, scan) -> None:
        flat, lengths = tokenized.result()
        diversity.update(flat, lengths)
        tokens.append(lengths)
        per_line = line_tokens(text, flat, lengths, token_bytes)
        line_tok.append(occurrence_tokens(per_line, scan.line_slot, len(scan.line_hash)))
        scan.line_slot = None  # per raw line: not kept past its batch

    # The tokenizer releases the GIL: batch i is tokenized in the background
    # while this thread scans batch i and counts the n-grams of batch i - 1.
    with ThreadPoolExecutor(max_workers=1) as pool:
        previous = None
        for batch in iter_batches(sources, COLUMNS, opts.batch_rows):
            current = pool.submit(encode_batch, enc, batch.texts(), opts.threads)
            scan = scan_batch(batch, minhasher)
            if previous is not None:
                finish(*previous)
            previous = (current, batch.text, scan)
            scans.append(scan)
            f = metadata_facts(batch.columns, len(batch))
            f["val_key"] = val_keys(f.pop("ids"), scan.digests)
            facts.append(f)
            bar.update(len(batch), int(scan.text_bytes.sum()))
        if previous is not None:
            finish(*previous)
    bar.done()

    def joined(key: str) -> np.ndarray:
        return np.concatenate([f[key] for f in facts])

    docs = Documents(
        digests=np.concatenate([s.digests for s in scans]),
        has_shingles=np.concatenate([s.has_shingles for s in scans]),
        tokens=np.concatenate(tokens),
        score=joined("score"),
        int_score=joined("int_score"),
        language_score=joined("language_score"),
        val_key=joined("val_key"),
        is_val_source=np.zeros(sum(len(s.text_bytes) for s in scans), dtype=bool),
    )
    counts = [f["token_count"] for f in facts]
    near = BandsInMemory(np.concatenate([s.band_hashes for s in scans]))
    decisions = decide(docs, opts, near)
    line_hash = np.concatenate([s.line_hash for s in scans])
    line_doc = np.concatenate([s.line_doc for s in scans])
    text_bytes = np.concatenate([s.text_bytes for s in scans])
    del scans
    kept = decisions.kept
    boiler = find_boilerplate(line_hash, line_doc, kept, opts.boilerplate_min_docs)
    with_boiler = np.unique(line_doc[np.isin(line_hash, boiler.hashes)])
    with_boiler = with_boiler[kept[with_boiler]]
    if opts.strip_boilerplate:  # the forecast of build's bins: exact, as build writes them
        boiler_tokens = _stripped_tokens(sources, docs.tokens, with_boiler, boiler, enc, opts)
    else:
        boiler_tokens = removed_tokens(line_hash, line_doc, np.concatenate(line_tok), boiler.hashes,
                                       np.where(kept, docs.tokens, 0))
    samples = _samples(sources, boiler.hashes[boiler.top(opts.top_lines)], line_hash, line_doc, kept)
    return Measured(
        sources=sources,
        docs=docs,
        text_bytes=text_bytes,
        # Shown beside the exact count only when every document has one (nulls read as -1; the
        # reader refuses negative counts), so that the sum is never quietly short.
        token_count=None if any(c is None or (c < 0).any() for c in counts) else np.concatenate(counts),
        decisions=decisions,
        boilerplate=boiler,
        boilerplate_docs=with_boiler,
        boilerplate_tokens=boiler_tokens,
        samples=samples,
        diversity=diversity,
        tokenizer=enc,
        bands=near,
    )


def full_report(m: Measured, opts: EstimateOptions) -> dict:
    tokens = m.docs.tokens + 1
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
    filtered = [r for r in rows if r["stage"] in ("score", "language-score", "min-tokens")]
    report["filtered_docs"] = sum(r["docs"] for r in filtered)
    report["filtered_tokens"] = sum(r["tokens"] for r in filtered)
    report["effective_docs"] = stage["train"]["docs"] + stage["val"]["docs"]
    report["effective_tokens"] = stage["train"]["tokens"] + stage["val"]["tokens"]
    report["effective_share"] = report["effective_tokens"] / report["tokens"] if report["tokens"] else 0.0
    report["effective_is_upper_bound"] = upper_bound
    report["waterfall"] = rows


def _stripped_tokens(sources: list[Source], tokens: np.ndarray, docs: np.ndarray, boiler: Boilerplate, enc,
                     opts: EstimateOptions) -> np.ndarray:
    """Exact tokens that stripping boilerplate lines removes from each of ``docs``, by tokenizing them again."""
    removed = np.zeros(len(tokens), dtype=np.int64)
    for some, _, lengths in tokens_again(sources, docs, boiler.hashes, enc, opts.batch_rows, opts.threads):
        removed[some] = tokens[some] - lengths  # tokens: without EOT
    return removed


def _samples(sources: list[Source], hashes: np.ndarray, line_hash, line_doc, kept) -> dict[int, str]:
    """One raw text for each of ``hashes``, read from the first kept document holding it."""
    docs = first_holders(line_hash, line_doc, hashes, kept)
    return sample_lines(read_rows(sources, docs), hashes)


def _estimate_fast(sources: list[Source], opts: EstimateOptions, progress: bool | None) -> dict:
    """Filters only, from the metadata columns: no text is read, so nothing is deduplicated."""
    missing = [s.path for s in sources if "token_count" not in s.columns]
    if missing:
        raise DataprepError(f"--fast needs a token_count column, which {missing[0]} lacks; run without --fast")
    facts = []
    bar = Progress("estimate --fast", sum(s.rows for s in sources), progress)
    for batch in iter_batches(sources, COLUMNS, 65536, with_text=False):
        counts = batch.columns["token_count"]
        if (counts < 0).any():  # -1: null (the reader refuses negative counts)
            row = batch.first_row + int(np.flatnonzero(counts < 0)[0])
            raise DataprepError(f"{sources[batch.source].path}: token_count is null at row {row}; --fast needs "
                                "a count for every document: run without --fast")
        facts.append(metadata_facts(batch.columns, len(batch)))
        bar.update(len(batch))
    bar.done()
    counts = np.concatenate([f["token_count"] for f in facts])
    n = len(counts)
    docs = metadata_documents(counts, *(np.concatenate([f[k] for f in facts])
                                        for k in ("score", "int_score", "language_score")))
    reason = filter_reasons(docs, opts)
    split = np.where(reason == None, "train", None).astype(object)  # noqa: E711 (elementwise)
    passed = Decisions(reason=reason, split=split, cluster=np.full(n, -1), representative=np.full(n, -1))
    report = _report_head(sources, opts, None, counts + 1, docs, None, counts, mode="fast")
    for key in ("exact_duplicate_docs", "exact_duplicate_tokens", "near_duplicate_docs", "near_duplicate_tokens"):
        report[key] = None
    report["boilerplate_tokens"] = None
    _effective(report, waterfall(docs, passed, np.where(passed.kept, counts + 1, 0)), upper_bound=True)
    report["diversity"] = None
    _add_plan(report, opts, len(sources))
    return report


def metadata_documents(token_count: np.ndarray, score: np.ndarray, int_score: np.ndarray,
                       language_score: np.ndarray) -> Documents:
    """Documents known from their metadata columns alone: enough for the filters, never a duplicate."""
    n = len(token_count)
    return Documents(digests=np.zeros((n, 2), dtype=np.uint64), has_shingles=np.zeros(n, dtype=bool),
                     tokens=token_count, score=score, int_score=int_score, language_score=language_score,
                     val_key=np.ones(n), is_val_source=np.zeros(n, dtype=bool))


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
        report["plan"] = opts.plan.check(report["effective_tokens"], shards)

