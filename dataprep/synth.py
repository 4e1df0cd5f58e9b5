"""FineWeb-Edu-like parquet shards with planted duplicates and known answers.

Every document is one of:

* ``original``: fresh paragraphs of Zipf-distributed words;
* ``exact``: a copy of an earlier original, either byte-identical or differing
  only in case, punctuation and spacing (the same normalised text);
* ``near``: a copy of an earlier original with each word replaced by a random
  word with probability ``edit_rate`` (rates drawn from ``near_edit_rates``);
* originals that are never copied may carry planted boilerplate lines.

Copies may point at documents in earlier shards, so cross-shard deduplication
has something to find. ``SynthTruth`` records what was planted so that tests
can assert exact counts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.errors import DataprepError
from dataprep.text.tokenizer import get_encoding

COMMON_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there one all we their has been would more when if will its so no out up into than "
    "them can only other new some time could these two may then first any like now my such our over also most "
    "use many made people water energy learning students system cells history study children research school "
    "found example between important because different process example during through while where each those"
).split()
SYLLABLES = (
    "ka ri to ne mo la su vi de ra po li an el or us ta be ko mi sa fe no du ga he ji lu ma pe qui ro sy "
    "tor ven dal mar sen pol gri bra chu fin lok nus pra sel tim vor zen"
).split()
ACCENTED = ["café", "naïve", "façade", "résumé", "über", "año", "crème", "señor", "Zürich", "São"]
PUNCT_SWAPS = {".": "!", ",": ";"}
BOILERPLATE_STEMS = [
    "Subscribe to our newsletter for weekly updates about",
    "Copyright 2023 All rights reserved by",
    "Click here to read more articles on",
    "This page was last edited by the team of",
    "Share this post on social media with your friends at",
    "Cookies help us deliver our services to readers of",
]
SCHEMAS = ("fineweb-edu", "fineweb", "text")


@dataclass
class SynthConfig:
    docs: int = 1000
    shards: int = 1
    seed: int = 0
    schema: str = "fineweb-edu"
    exact_rate: float = 0.05  # share of documents that are exact copies
    near_rate: float = 0.05  # share of documents that are near copies
    near_edit_rates: tuple[float, ...] = (0.01, 0.02, 0.05)
    boilerplate_lines: int = 6  # distinct planted lines
    boilerplate_docs: tuple[int, int] = (3, 40)  # each line lands in this many documents (inclusive range)
    mean_words: int = 350
    vocab_size: int = 30000
    row_group_size: int = 256
    # Draw every document from this many distinct ones, with replacement: a document seen before is a
    # copy (exact or near, in the ratio of the two rates), so each shard repeats more of the earlier
    # ones, as a crawl does. None: originals and copies at exact_rate and near_rate.
    pool: int | None = None
    # A mixed sample of this many crawl dumps instead: each page is crawled in c of them, P(c) falling
    # as 1/c^2 (most pages once, a few in every dump), and its crawls after the first are copies
    # spread over all shards, since the sample mixes the dumps. Copy groups then vary in size far more
    # than a pool's, whose sizes are Poisson. None: no dumps.
    dumps: int | None = None
    # With pool or dumps: put every document seen before after all first sightings, so that later
    # shards repeat earlier ones more and the shards are not exchangeable (a corpus sorted by crawl).
    repeats_last: bool = False

    def __post_init__(self) -> None:
        if self.pool is not None and self.dumps is not None:
            raise DataprepError("give pool (--pool) or dumps (--dumps), not both")
        for name in ("pool", "dumps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise DataprepError(f"{name} (--{name}) must be at least 1, not {getattr(self, name)}")
        if self.repeats_last and self.pool is None and self.dumps is None:
            raise DataprepError("repeats_last (--repeats-last) needs pool (--pool) or dumps (--dumps)")


@dataclass
class SynthTruth:
    """What was planted, indexed by global document number (shard order, then row)."""

    kind: list[str] = field(default_factory=list)  # original | exact | near
    source: list[int] = field(default_factory=list)  # document copied, -1 for originals
    edit_rate: list[float] = field(default_factory=list)
    boilerplate: dict[str, list[int]] = field(default_factory=dict)  # line -> documents holding it
    files: list[str] = field(default_factory=list)
    rows_per_file: list[int] = field(default_factory=list)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))


def _vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    words = set(COMMON_WORDS)
    out = list(COMMON_WORDS)
    while len(out) < size:
        n = int(rng.integers(2, 5))
        w = "".join(rng.choice(SYLLABLES, n))
        if w not in words:
            words.add(w)
            out.append(w)
    return np.array(out, dtype=object)


class _Writer:
    """Draws words and sentences; one instance per generated corpus."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng
        self.vocab = _vocabulary(rng, cfg.vocab_size)
        ranks = np.arange(1, len(self.vocab) + 1)
        p = 1.0 / ranks**1.05
        self.cdf = np.cumsum(p / p.sum())

    def words(self, n: int) -> list[str]:
        idx = np.searchsorted(self.cdf, self.rng.random(n))
        idx = np.minimum(idx, len(self.vocab) - 1)
        return list(self.vocab[idx])

    def paragraph(self) -> list[str]:
        """Words of one paragraph, with sentence punctuation attached."""
        out: list[str] = []
        for _ in range(int(self.rng.integers(2, 6))):
            n = int(self.rng.integers(8, 26))
            ws = self.words(n)
            ws[0] = ws[0].capitalize()
            if self.rng.random() < 0.3:
                ws[n // 2] += ","
            if self.rng.random() < 0.05:
                ws[n // 3] = str(self.rng.choice(ACCENTED))
            if self.rng.random() < 0.05:
                ws[1] = str(int(self.rng.integers(1800, 2030)))
            ws[-1] += "."
            out.extend(ws)
        return out

    def document(self) -> list[list[str]]:
        target = max(20, int(self.rng.lognormal(np.log(self.cfg.mean_words), 0.6)))
        paras: list[list[str]] = []
        total = 0
        while total < target:
            p = self.paragraph()
            paras.append(p)
            total += len(p)
        return paras


def _render(paras: list[list[str]]) -> str:
    return "\n".join(" ".join(p) for p in paras)


def _restyle(text: str, rng: np.random.Generator) -> str:
    """Change case, punctuation and spacing without changing the normalised text."""
    style = int(rng.integers(0, 3))
    if style == 0:
        return text.upper()
    if style == 1:
        return "".join(PUNCT_SWAPS.get(c, c) for c in text)
    return text.replace(" ", "  ").replace("\n", " \n\n")


def _edit(paras: list[list[str]], rate: float, w: _Writer) -> list[list[str]]:
    """Replace each word with probability ``rate``; at least one word always changes."""
    flat = [word for p in paras for word in p]
    hits = np.flatnonzero(w.rng.random(len(flat)) < rate)
    if len(hits) == 0:
        hits = w.rng.integers(0, len(flat), 1)
    for i in hits:
        new = w.words(1)[0]
        while new.lower() == flat[i].strip(".,").lower():
            new = w.words(1)[0]
        flat[i] = new
    out, k = [], 0
    for p in paras:
        out.append(flat[k : k + len(p)])
        k += len(p)
    return out


def _metadata(cfg: SynthConfig, rng: np.random.Generator, n: int, start: int, shard: int) -> dict[str, list]:
    cols: dict[str, list] = {}
    if cfg.schema == "text":
        return cols
    cols["id"] = [f"<urn:uuid:{shard:04d}-{start + i:012d}>" for i in range(n)]
    cols["dump"] = ["CC-MAIN-2024-10"] * n
    cols["url"] = [f"https://site{int(u)}.example/page/{start + i}" for i, u in enumerate(rng.integers(0, 5000, n))]
    cols["date"] = ["2024-02-21T12:00:00Z"] * n
    cols["file_path"] = [f"s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/{shard}/warc.gz"] * n
    cols["language"] = ["en"] * n
    cols["language_score"] = list(np.round(rng.uniform(0.65, 1.0, n), 4))
    return cols


def generate(out: str | Path, cfg: SynthConfig) -> SynthTruth:
    """Write ``cfg.shards`` parquet files and return what was planted.

    ``out`` is a file path when ``shards == 1`` and a directory otherwise
    (files ``shard_00000.parquet``, ...). The plan comes first (cheap arrays), then the text
    shard by shard, so memory holds one shard plus the documents that later copies still need.
    """
    if cfg.schema not in SCHEMAS:
        raise ValueError(f"schema must be one of {SCHEMAS}")
    rng = np.random.default_rng(cfg.seed)
    w = _Writer(cfg, rng)
    enc = get_encoding("gpt2")
    truth = SynthTruth()
    _plan_copies(cfg, rng, truth)
    prefix, suffix = _plant_boilerplate(cfg, rng, w, truth)
    scores = np.round(rng.beta(2.0, 2.0, cfg.docs * cfg.shards) * 5.0, 4)
    if cfg.pool is not None or cfg.dumps is not None:  # a page crawled again scores as it did
        copies = np.flatnonzero(np.array(truth.source) >= 0)
        scores[copies] = scores[np.array(truth.source)[copies]]
    texts_of = _TextSource(truth, w, rng, prefix, suffix)
    for shard, path in enumerate(_shard_paths(Path(out), cfg.shards)):
        lo, hi = shard * cfg.docs, (shard + 1) * cfg.docs
        cols: dict[str, list] = {"text": [texts_of(i) for i in range(lo, hi)]}
        cols.update(_metadata(cfg, rng, hi - lo, lo, shard))
        if cfg.schema != "text":
            cols["token_count"] = [len(t) for t in enc.encode_ordinary_batch(cols["text"])]
        if cfg.schema == "fineweb-edu":
            cols["score"] = list(scores[lo:hi])
            cols["int_score"] = list(np.rint(np.clip(scores[lo:hi], 0, 5)).astype(np.int64))
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(pa.table(cols), tmp, row_group_size=cfg.row_group_size)
        tmp.replace(path)
        truth.files.append(str(path))
        truth.rows_per_file.append(hi - lo)
    return truth


def _shard_paths(out: Path, shards: int) -> list[Path]:
    if shards == 1:
        out.parent.mkdir(parents=True, exist_ok=True)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    return [out / f"shard_{i:05d}.parquet" for i in range(shards)]


def _plan_copies(cfg: SynthConfig, rng: np.random.Generator, truth: SynthTruth) -> None:
    """Which documents are originals, exact copies or near copies (of which earlier original, at what edit rate)."""
    n_total = cfg.docs * cfg.shards
    if cfg.pool is not None or cfg.dumps is not None:
        drawn = _pages(cfg, rng, n_total)
        _, first = np.unique(drawn, return_index=True)
        first_of = np.full(int(drawn.max()) + 1, -1, dtype=np.int64)
        first_of[drawn[first]] = first
        source = first_of[drawn]
        exact_share = cfg.exact_rate / (cfg.exact_rate + cfg.near_rate) if cfg.exact_rate + cfg.near_rate else 1.0
        kinds = np.where(rng.random(n_total) < exact_share, "exact", "near").astype(object)
        kinds[source == np.arange(n_total)] = "original"
        source[kinds == "original"] = -1
    else:
        kinds = rng.choice(
            ["original", "exact", "near"],
            size=n_total,
            p=[1 - cfg.exact_rate - cfg.near_rate, cfg.exact_rate, cfg.near_rate],
        )
        kinds[0] = "original"
        originals = np.flatnonzero(kinds == "original")
        earlier = np.searchsorted(originals, np.arange(n_total))  # originals before each document
        source = np.where(kinds == "original", -1, originals[(rng.random(n_total) * earlier).astype(np.int64)])
    rates = np.where(kinds == "near", rng.choice(np.array(cfg.near_edit_rates), n_total), 0.0)
    truth.kind = [str(k) for k in kinds]
    truth.source = [int(x) for x in source]
    truth.edit_rate = [float(x) for x in rates]


def _pages(cfg: SynthConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """The page each of ``n`` documents is a crawl of: drawn from a pool, or crawled in several dumps."""
    if cfg.pool is not None:
        drawn = rng.integers(0, cfg.pool, n)
    else:
        sizes = np.arange(1, cfg.dumps + 1)
        law = sizes**-2.0
        crawls = rng.choice(sizes, size=n, p=law / law.sum())  # more pages than needed: n crawls at least
        drawn = rng.permutation(np.repeat(np.arange(n), crawls))[:n]
    if cfg.repeats_last:
        seen = np.ones(n, dtype=bool)
        seen[np.unique(drawn, return_index=True)[1]] = False
        drawn = np.concatenate([drawn[~seen], drawn[seen]])
    return drawn


def _plant_boilerplate(cfg: SynthConfig, rng: np.random.Generator, w: _Writer,
                       truth: SynthTruth) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """The boilerplate lines each document starts and ends with.

    They go only into originals nobody copies, so every planted line's document count is the same
    before and after deduplication.
    """
    copied = set(truth.source) - {-1}
    singles = [i for i, kind in enumerate(truth.kind) if kind == "original" and i not in copied]
    prefix: dict[int, list[str]] = {}
    suffix: dict[int, list[str]] = {}
    for b in range(cfg.boilerplate_lines):
        line = f"{BOILERPLATE_STEMS[b % len(BOILERPLATE_STEMS)]} {' '.join(w.words(4))} ({b})."
        lo, hi = cfg.boilerplate_docs
        k = min(len(singles), int(rng.integers(lo, hi + 1)))
        docs = sorted(int(d) for d in rng.choice(singles, size=k, replace=False))
        where = suffix if rng.random() < 0.5 else prefix
        for d in docs:
            where.setdefault(d, []).append(line)
        truth.boilerplate[line] = docs
    return prefix, suffix


class _TextSource:
    """The text of document i, written in order; keeps the originals that later copies still need."""

    def __init__(self, truth: SynthTruth, w: _Writer, rng: np.random.Generator, prefix: dict, suffix: dict):
        self.truth, self.w, self.rng, self.prefix, self.suffix = truth, w, rng, prefix, suffix
        self.copied = set(truth.source) - {-1}
        self.kept_paras: dict[int, list[list[str]]] = {}
        self.kept_text: dict[int, str] = {}

    def __call__(self, i: int) -> str:
        kind, src = self.truth.kind[i], self.truth.source[i]
        if kind == "exact":
            return self.kept_text[src] if self.rng.random() < 0.5 else _restyle(self.kept_text[src], self.rng)
        if kind == "near":
            return _render(_edit(self.kept_paras[src], self.truth.edit_rate[i], self.w))
        paras = self.w.document()
        text = _render(paras)
        if i in self.copied:
            self.kept_paras[i], self.kept_text[i] = paras, text
        return "\n".join(self.prefix.get(i, []) + [text] + self.suffix.get(i, []))
