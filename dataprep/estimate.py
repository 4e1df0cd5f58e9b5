"""``estimate``: how many effective, unique tokens a set of parquet shards holds.

Data flow: read -> (tokenize || scan) per batch, keeping the tokens of each
line -> decide duplicates over the whole input -> find boilerplate among kept
documents and sum the tokens of its lines (no second tokenization; see
boilerplate.py) -> read one sample of each top boilerplate line -> assemble the
report. ``--fast`` reads metadata columns only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from dataprep.version import __version__
from dataprep.boilerplate import (
    Boilerplate,
    find_boilerplate,
    first_holders,
    line_tokens,
    occurrence_tokens,
    removed_tokens,
    sample_lines,
)
from dataprep.dedup import Duplicates, find_duplicates
from dataprep.diversity import NgramDiversity
from dataprep.errors import DataprepError
from dataprep.minhash import LSHParams, MinHasher
from dataprep.plan import Plan
from dataprep.progress import Progress
from dataprep.reader import Source, iter_batches, open_sources, read_rows
from dataprep.scan import scan_batch
from dataprep.scores import complete_scores, passes_min_score
from dataprep.tokenizer import bin_dtype, encode_batch, get_encoding, token_byte_lengths

SCORE_COLUMNS = ("score", "int_score", "token_count")
DEFAULT_MIN_SCORE = 3.0
CLUSTER_SIZE_BINS = ((2, 2), (3, 3), (4, 7), (8, 15), (16, 63), (64, None))


@dataclass
class EstimateOptions:
    text_column: str | None = None
    min_score: float | None = None  # None: report the mix at 3 but filter nothing
    lsh: LSHParams = field(default_factory=LSHParams)
    boilerplate_min_docs: int = 3
    top_lines: int = 10
    diversity_ngram: int = 13
    fast: bool = False
    batch_rows: int = 2048
    threads: int = 2
    encoding: str = "gpt2"
    tokenizer_backend: str = "tiktoken"  # or "riptoken": the same ids, faster
    plan: Plan | None = None


@dataclass
class Corpus:
    """Per-document arrays for the whole input, in global document order."""

    sources: list[Source]
    tokens: np.ndarray  # int64 incl. one EOT per document
    text_bytes: np.ndarray | None
    score: np.ndarray  # float64, NaN where absent
    int_score: np.ndarray  # int64, -1 where absent
    token_count: np.ndarray | None  # the parquet column, when every file has it


def _scores(batch) -> tuple[np.ndarray, np.ndarray]:
    return complete_scores(batch.columns.get("score"), batch.columns.get("int_score"), len(batch))


def passes_score(corpus: Corpus, min_score: float) -> np.ndarray:
    return passes_min_score(corpus.score, corpus.int_score, min_score)


@dataclass
class Measurement:
    """Everything the full report is computed from, per document where it matters."""

    corpus: Corpus
    duplicates: Duplicates
    boilerplate: Boilerplate
    boilerplate_docs: np.ndarray  # kept documents holding a boilerplate line
    boilerplate_tokens: np.ndarray  # int64 per document: tokens of its boilerplate lines (boilerplate.py)
    samples: dict[int, str]  # one raw text per boilerplate line hash
    diversity: NgramDiversity
    tokenizer: object


def estimate(paths: list[str], opts: EstimateOptions, progress: bool | None = None) -> dict:
    sources = open_sources(paths, opts.text_column)
    if opts.fast:
        return _estimate_fast(sources, opts, progress)
    return full_report(measure(sources, opts, progress), opts)


def measure(sources: list[Source], opts: EstimateOptions, progress: bool | None = None) -> Measurement:
    enc = get_encoding(opts.encoding, opts.tokenizer_backend)
    minhasher = MinHasher(opts.lsh)
    diversity = NgramDiversity(n=opts.diversity_ngram)
    token_bytes = token_byte_lengths(enc)
    scans, tokens, line_tok, scores, int_scores, counts = [], [], [], [], [], []
    bar = Progress("estimate", sum(s.rows for s in sources), progress)

    def finish(tokenized, text, scan) -> None:
        flat, lengths = tokenized.result()
        diversity.update(flat, lengths)
        tokens.append(lengths + 1)
        per_line = line_tokens(text, flat, lengths, token_bytes)
        line_tok.append(occurrence_tokens(per_line, scan.line_slot, len(scan.line_hash)))
        scan.line_slot = None  # per raw line: not kept past its batch

    # The tokenizer releases the GIL: batch i is tokenized in the background
    # while this thread scans batch i and counts the n-grams of batch i - 1.
    with ThreadPoolExecutor(max_workers=1) as pool:
        previous = None
        for batch in iter_batches(sources, SCORE_COLUMNS, opts.batch_rows):
            current = pool.submit(encode_batch, enc, batch.texts(), opts.threads)
            scan = scan_batch(batch, minhasher)
            if previous is not None:
                finish(*previous)
            previous = (current, batch.text, scan)
            scans.append(scan)
            s, i = _scores(batch)
            scores.append(s)
            int_scores.append(i)
            counts.append(batch.columns.get("token_count"))
            bar.update(len(batch), int(scan.text_bytes.sum()))
        if previous is not None:
            finish(*previous)
    bar.done()

    corpus = Corpus(
        sources=sources,
        tokens=np.concatenate(tokens),
        text_bytes=np.concatenate([s.text_bytes for s in scans]),
        score=np.concatenate(scores),
        int_score=np.concatenate(int_scores),
        token_count=None if any(c is None for c in counts) else np.concatenate(counts),
    )
    duplicates = find_duplicates(
        np.concatenate([s.digests for s in scans]),
        np.concatenate([s.band_hashes for s in scans]),
        np.concatenate([s.has_shingles for s in scans]),
        corpus.score,
    )
    line_hash = np.concatenate([s.line_hash for s in scans])
    line_doc = np.concatenate([s.line_doc for s in scans])
    del scans
    boiler = find_boilerplate(line_hash, line_doc, duplicates.kept, opts.boilerplate_min_docs)
    with_boiler = np.unique(line_doc[np.isin(line_hash, boiler.hashes)])
    with_boiler = with_boiler[duplicates.kept[with_boiler]]
    kept_tokens = np.where(duplicates.kept, corpus.tokens - 1, 0)  # without the EOT, which stays
    boiler_tokens = removed_tokens(line_hash, line_doc, np.concatenate(line_tok), boiler.hashes, kept_tokens)
    samples = _samples(sources, boiler.hashes[boiler.top(opts.top_lines)], line_hash, line_doc, duplicates.kept)
    return Measurement(corpus, duplicates, boiler, with_boiler, boiler_tokens, samples, diversity, enc)


def full_report(m: Measurement, opts: EstimateOptions) -> dict:
    corpus, duplicates = m.corpus, m.duplicates
    report = _report_head(corpus.sources, opts, m.tokenizer, corpus, mode="full")
    report.update(_dedup_section(corpus, duplicates, opts.lsh))
    report.update(_boilerplate_section(m.boilerplate, m.boilerplate_tokens, m.boilerplate_docs, m.samples, opts))
    effective = duplicates.kept.copy()
    if opts.min_score is not None:
        effective &= passes_score(corpus, opts.min_score)
    stripped = corpus.tokens - m.boilerplate_tokens
    after_boiler = int(stripped[duplicates.kept].sum())
    effective_tokens = int(stripped[effective].sum())
    report["score_filtered_docs"] = int((duplicates.kept & ~effective).sum())
    report["score_filtered_tokens"] = after_boiler - effective_tokens
    report["effective_docs"] = int(effective.sum())
    report["effective_tokens"] = effective_tokens
    report["effective_share"] = effective_tokens / report["tokens"]
    report["effective_is_upper_bound"] = False
    report["waterfall"] = _waterfall(report)
    report["diversity"] = {
        "ngram": opts.diversity_ngram,
        "ngrams": m.diversity.total,
        "distinct_estimate": round(m.diversity.distinct()),
        "distinct_fraction": m.diversity.fraction(),
    }
    _add_plan(report, opts, len(corpus.sources))
    return report


def _samples(sources: list[Source], hashes: np.ndarray, line_hash, line_doc, kept) -> dict[int, str]:
    """One raw text for each of ``hashes``, read from the first kept document holding it."""
    docs = first_holders(line_hash, line_doc, hashes, kept)
    return sample_lines(read_rows(sources, docs), hashes)


def _estimate_fast(sources: list[Source], opts: EstimateOptions, progress: bool | None) -> dict:
    missing = [s.path for s in sources if "token_count" not in s.columns]
    if missing:
        raise DataprepError(f"--fast needs a token_count column, which {missing[0]} lacks; run without --fast")
    tokens, scores, int_scores = [], [], []
    bar = Progress("estimate --fast", sum(s.rows for s in sources), progress)
    for batch in iter_batches(sources, SCORE_COLUMNS, 65536, with_text=False):
        counts = batch.columns["token_count"]
        if (counts < 0).any():
            raise DataprepError(f"{sources[batch.source].path}: null or negative token_count")
        tokens.append(counts + 1)
        s, i = _scores(batch)
        scores.append(s)
        int_scores.append(i)
        bar.update(len(batch))
    bar.done()
    tok = np.concatenate(tokens)
    corpus = Corpus(
        sources=sources,
        tokens=tok,
        text_bytes=None,
        score=np.concatenate(scores),
        int_score=np.concatenate(int_scores),
        token_count=tok - 1,
    )
    report = _report_head(sources, opts, None, corpus, mode="fast")
    keep = np.ones(len(tok), dtype=bool)
    if opts.min_score is not None:
        keep = passes_score(corpus, opts.min_score)
    for key in ("exact_duplicate_docs", "exact_duplicate_tokens", "near_duplicate_docs", "near_duplicate_tokens"):
        report[key] = None
    report["boilerplate_tokens"] = None
    report["score_filtered_docs"] = int((~keep).sum())
    report["score_filtered_tokens"] = int(tok[~keep].sum())
    report["effective_docs"] = int(keep.sum())
    report["effective_tokens"] = int(tok[keep].sum())
    report["effective_share"] = report["effective_tokens"] / report["tokens"]
    report["effective_is_upper_bound"] = True
    report["waterfall"] = _waterfall(report)
    report["diversity"] = None
    _add_plan(report, opts, len(sources))
    return report


def _report_head(sources: list[Source], opts: EstimateOptions, enc, corpus: Corpus, mode: str) -> dict:
    schemas = sorted({s.schema_name for s in sources})
    report: dict = {
        "dataprep_version": __version__,
        "mode": mode,
        "files": [{"path": s.path, "rows": s.rows, "bytes": s.size, "schema": s.schema_name} for s in sources],
        "schema": schemas[0] if len(schemas) == 1 else "mixed",
        "docs": int(len(corpus.tokens)),
        "text_bytes": None if corpus.text_bytes is None else int(corpus.text_bytes.sum()),
        "tokens": int(corpus.tokens.sum()),
        "tokens_source": "tokenizer" if mode == "full" else "token_count column + 1 EOT per document",
        "token_count_column": None if corpus.token_count is None else int(corpus.token_count.sum()),
    }
    if enc is not None:
        report["tokenizer"] = {
            "name": enc.name,
            "n_vocab": enc.n_vocab,
            "eot": enc.eot_token,
            "bin_dtype": bin_dtype(enc.n_vocab).name,
        }
    report.update(_score_section(corpus, opts))
    return report


def _score_section(corpus: Corpus, opts: EstimateOptions) -> dict:
    present = bool((corpus.int_score >= 0).any())
    threshold = DEFAULT_MIN_SCORE if opts.min_score is None else opts.min_score
    if not present:
        if opts.min_score is not None:
            raise DataprepError("--min-score given but the input has no score or int_score column")
        return {"score_present": False, "score_histogram": None, "min_score": None, "tokens_at_or_above_min_score": None}
    hist = {}
    for k in range(6):
        sel = corpus.int_score == k
        hist[str(k)] = {"docs": int(sel.sum()), "tokens": int(corpus.tokens[sel].sum())}
    missing = corpus.int_score < 0
    if missing.any():
        hist["none"] = {"docs": int(missing.sum()), "tokens": int(corpus.tokens[missing].sum())}
    ok = passes_score(corpus, threshold)
    return {
        "score_present": True,
        "score_histogram": hist,
        "min_score": threshold,
        "docs_at_or_above_min_score": int(ok.sum()),
        "tokens_at_or_above_min_score": int(corpus.tokens[ok].sum()),
    }


def _dedup_section(corpus: Corpus, d: Duplicates, lsh: LSHParams) -> dict:
    bands, rows = lsh.bands_rows
    sizes = d.cluster_sizes()
    bins = {}
    for lo, hi in CLUSTER_SIZE_BINS:
        name = str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+")
        bins[name] = int(((sizes >= lo) & (sizes <= (hi or np.inf))).sum())
    return {
        "exact_duplicate_docs": int(d.exact.sum()),
        "exact_duplicate_tokens": int(corpus.tokens[d.exact].sum()),
        "near_duplicate_docs": int(d.near.sum()),
        "near_duplicate_tokens": int(corpus.tokens[d.near].sum()),
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


def _waterfall(r: dict) -> list[dict]:
    steps = [("raw", 0), ("exact duplicates", r["exact_duplicate_tokens"]), ("near duplicates", r["near_duplicate_tokens"])]
    steps += [("boilerplate lines", r["boilerplate_tokens"]), ("score filter", r["score_filtered_tokens"])]
    out, left = [], r["tokens"]
    for name, minus in steps:
        if minus is None:
            continue
        left -= minus
        out.append({"stage": name, "removed": minus, "tokens": left})
    out.append({"stage": "effective", "removed": 0, "tokens": left})
    return out


def _add_plan(report: dict, opts: EstimateOptions, shards: int) -> None:
    if opts.plan is not None:
        report["plan"] = opts.plan.check(report["effective_tokens"], shards)

