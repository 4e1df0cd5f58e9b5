"""The decision core: which documents a corpus keeps, and why. estimate and build both run it.

One order, whoever asks:

1. filters: edu score, language score, length (``Rules``);
2. exact duplicates among the documents that pass: the first copy stays;
3. near-duplicate clusters among what remains (LSH bands, ``NearDuplicates``);
4. the validation split, and decontamination: a val document whose cluster
   holds a train document goes;
5. the keep rule: one document per cluster, the highest score, then the earliest.

Boilerplate lines are then found among the kept documents (``boilerplate.py``).
estimate runs this in memory over one or more shards; build runs step 3 as
engine tasks across shards (``bands.py``). Everything is per-document arrays in
global (file, row) order, so the same input gives the same decisions either way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Protocol

import numpy as np

from dataprep.dedup.components import cluster_keep, connected_components, exact_duplicates, lsh_edges
from dataprep.errors import DataprepError, named
from dataprep.dedup.minhash import LSHParams
from dataprep.text.scores import complete_scores, passes_min_score

DEFAULT_MIN_SCORE = 3.0  # FineWeb-Edu's own threshold
VAL_SPLITS = ("fraction", "files", "reused")
FILTERS = ("score", "language-score", "min-tokens")  # the reasons a document's metadata decides alone
REASONS = FILTERS + ("exact-dup", "near-dup", "val-contamination", "val-overlap")


@dataclass
class Rules:
    """What decides which documents a corpus keeps. estimate and build take the same rules and defaults."""

    min_score: float | None = DEFAULT_MIN_SCORE  # applied only where a score column exists; None keeps every score
    min_language_score: float | None = None
    min_tokens: int = 0
    lsh: LSHParams = field(default_factory=LSHParams)
    val_fraction: float = 0.0005
    strip_boilerplate: bool = False
    boilerplate_min_docs: int = 3

    def __post_init__(self) -> None:
        # Messages name the field and its command-line option, for library callers and CLI users alike.
        if not 0 <= self.val_fraction < 1:
            raise DataprepError(f"{named('val_fraction')} must be in [0, 1), not {self.val_fraction}")
        if self.min_tokens < 0:
            raise DataprepError(f"{named('min_tokens')} must be >= 0, not {self.min_tokens}")
        if self.boilerplate_min_docs < 2:
            raise DataprepError(f"{named('boilerplate_min_docs')} must be >= 2, not {self.boilerplate_min_docs}")
        for name in ("min_score", "min_language_score"):
            value = getattr(self, name)
            if value is not None and not np.isfinite(value):
                raise DataprepError(f"{named(name)} must be a number, not {value}")


@dataclass
class Documents:
    """The per-document facts a decision needs, in global order."""

    digests: np.ndarray  # (n, 2) uint64 of the normalised text
    has_shingles: np.ndarray  # bool: at least one word
    token_counts: np.ndarray  # int64 tokens of each document, without EOT
    score: np.ndarray  # float64, NaN where unknown
    int_score: np.ndarray  # int64, -1 where unknown
    language_score: np.ndarray  # float64, NaN where unknown
    val_key: np.ndarray  # float64 in [0, 1) from the id: below val_fraction is val
    is_val_source: np.ndarray  # bool: read from a --val-from file

    def __len__(self) -> int:
        return len(self.token_counts)

    def take(self, docs: np.ndarray) -> "Documents":
        """The facts of ``docs`` (indices, in the order given) as a corpus of their own."""
        return Documents(**{f.name: getattr(self, f.name)[docs] for f in fields(self)})


def documents_of(column, n: int, val_key: np.ndarray, is_val_source: np.ndarray) -> Documents:
    """The ``Documents`` of ``n`` documents whose facts ``column(name, fill, dtype)`` gives as an array
    (``fill`` where the input lacks the column): scan columns (``digest0``, ``digest1``, ``has_shingles``,
    ``tokens``) and the parquet metadata (``score``, ``int_score``, ``language_score``)."""
    score, int_score = complete_scores(column("score", np.nan, np.float64), column("int_score", -1, np.int64), n)
    return Documents(
        digests=np.stack([column("digest0", 0, np.uint64), column("digest1", 0, np.uint64)], axis=1),
        has_shingles=column("has_shingles", False, bool),
        token_counts=column("tokens", 0, np.int64),
        score=score,
        int_score=int_score,
        language_score=column("language_score", np.nan, np.float64),
        val_key=val_key,
        is_val_source=is_val_source,
    )


def val_keys(ids: list, digests: np.ndarray) -> np.ndarray:
    """A stable number in [0, 1) per document from its id (its text digest when it has none).

    Hashing the id, not the position, keeps the val split the same when shards are added.
    """
    out = np.empty(len(ids), dtype=np.float64)
    for i, doc_id in enumerate(ids):
        key = doc_id.encode() if doc_id is not None else digests[i].tobytes()
        out[i] = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") / 2.0**64
    return out


# The validation split's floor. --val-fraction's default (0.0005) suits billions of tokens; on a
# small corpus it would give no val document at all, and training would fail. So val takes at least
# MIN_VAL_DOCS of the documents that may go to val, but never more than MAX_VAL_SHARE of them.
MIN_VAL_DOCS = 100
MAX_VAL_SHARE = 0.1


class NearDuplicates(Protocol):
    def clusters(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Label of every document (the smallest member of its cluster), joining active documents
        that share a band; and which documents share a band with a reused val set."""


@dataclass
class BandsInMemory:
    """Near duplicates from an (n, bands) array of band hashes held in memory (estimate)."""

    band_hashes: np.ndarray

    def clusters(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(active)
        ids = np.flatnonzero(active)
        return connected_components(n, *lsh_edges(self.band_hashes[ids], ids)), np.zeros(n, dtype=bool)

    def take(self, docs: np.ndarray) -> "BandsInMemory":
        """The band hashes of ``docs`` (indices, in the order given), as ``Documents.take`` cuts the facts."""
        return BandsInMemory(self.band_hashes[docs])


@dataclass
class Decisions:
    reason: np.ndarray  # object array: one of REASONS, None for kept documents
    split: np.ndarray  # object array: "train", "val" or None
    cluster: np.ndarray  # int64 cluster label (smallest member), -1 for filtered documents
    representative: np.ndarray  # int64 kept document of the cluster, -1 when none
    val_floor: dict | None = None  # when the floor raised the val candidates: {"fraction_gave", "took"}

    @property
    def kept(self) -> np.ndarray:
        return self.split != None  # noqa: E711 (elementwise)

    def cluster_sizes(self) -> np.ndarray:
        """Sizes of the near-duplicate clusters with two or more members (exact copies not counted)."""
        members = (self.cluster >= 0) & (self.reason != "exact-dup")
        _, sizes = np.unique(self.cluster[members], return_counts=True)
        return sizes[sizes > 1]


def filter_reasons(docs: Documents, rules: Rules) -> np.ndarray:
    """Step 1: the filter each document fails first (object array), None where it passes them all."""
    reason = np.full(len(docs), None, dtype=object)
    if rules.min_score is not None:
        reason[(docs.int_score >= 0) & ~passes_min_score(docs.score, docs.int_score, rules.min_score)] = "score"
    if rules.min_language_score is not None:
        low = np.nan_to_num(docs.language_score, nan=np.inf) < rules.min_language_score
        reason[low & (reason == None)] = "language-score"  # noqa: E711
    reason[(docs.token_counts < rules.min_tokens) & (reason == None)] = "min-tokens"  # noqa: E711
    return reason


def decide(docs: Documents, rules: Rules, near: NearDuplicates, val_split: str = "fraction") -> Decisions:
    """Steps 1 to 5 over the whole corpus. ``val_split`` says where val comes from: ``"fraction"``
    of the documents by id (``val_candidates``), the ``"files"`` marked ``is_val_source``, or none
    here because an earlier build's val is ``"reused"``."""
    if val_split not in VAL_SPLITS:
        raise ValueError(f"val_split must be one of {VAL_SPLITS}, not {val_split!r}")
    n = len(docs)
    reason = filter_reasons(docs, rules)
    passing = reason == None  # noqa: E711

    ids = np.arange(n, dtype=np.int64)
    exact_of = ids.copy()
    exact_of[passing] = ids[passing][exact_duplicates(docs.digests[passing])]
    exact = exact_of != ids
    reason[exact] = "exact-dup"

    cluster, overlap = near.clusters(passing & ~exact & docs.has_shingles)
    reason[overlap] = "val-overlap"

    member = passing & ~exact & ~overlap
    floor = None
    if val_split == "reused":
        is_val = np.zeros(n, dtype=bool)
    elif val_split == "files":
        is_val = docs.is_val_source
    else:
        is_val, floor = val_candidates(docs.val_key, rules.val_fraction, member)
    has_train = np.zeros(n, dtype=bool)
    has_train[cluster[member & ~is_val]] = True
    contaminated = member & is_val & has_train[cluster]
    reason[contaminated] = "val-contamination"
    eligible = member & ~contaminated
    keep = np.zeros(n, dtype=bool)
    sel = np.flatnonzero(eligible)
    keep[sel] = cluster_keep(cluster[sel], docs.score[sel])
    reason[eligible & ~keep] = "near-dup"
    split = np.full(n, None, dtype=object)
    split[keep & is_val] = "val"
    split[keep & ~is_val] = "train"

    kept_of = np.full(n, -1, dtype=np.int64)
    kept_of[cluster[keep]] = ids[keep]
    group = np.where(passing, cluster[exact_of], -1)
    representative = np.where(group >= 0, kept_of[np.maximum(group, 0)], -1)
    return Decisions(reason=reason, split=split, cluster=group, representative=representative, val_floor=floor)


def val_candidates(fraction_of: np.ndarray, fraction: float, member: np.ndarray) -> tuple[np.ndarray, dict | None]:
    """Documents whose id hash falls below ``fraction``, or, when that is fewer than the floor
    (MIN_VAL_DOCS, at most MAX_VAL_SHARE of the ``member`` documents), the floor's count of members
    with the smallest hashes: the same rule with the fraction raised just enough, so a larger
    corpus that reaches the floor keeps these documents in val. ``fraction`` 0 asks for no val.
    """
    is_val = fraction_of < fraction
    floor = min(MIN_VAL_DOCS, int(MAX_VAL_SHARE * np.count_nonzero(member)))
    have = int(np.count_nonzero(is_val & member))
    if fraction == 0 or have >= floor:
        return is_val, None
    threshold = np.sort(fraction_of[member])[floor - 1]
    return is_val | (fraction_of <= threshold), {"fraction_gave": have, "took": floor}


def waterfall(docs: Documents, d: Decisions, written: np.ndarray) -> list[dict]:
    """Documents and tokens (EOT included) entering, removed by each reason, and kept per split.

    ``written`` is the tokens each document takes in the output (EOT included, 0 when dropped), so
    what boilerplate stripping removes is the difference. estimate and build report this same table.
    """
    tokens = docs.token_counts + 1
    train_in = ~docs.is_val_source
    rows = [{"stage": "input", "docs": int(train_in.sum()), "tokens": int(tokens[train_in].sum())}]
    if docs.is_val_source.any():
        rows.append({"stage": "val input", "docs": int((~train_in).sum()), "tokens": int(tokens[~train_in].sum())})
    for r in REASONS:
        sel = d.reason == r
        rows.append({"stage": r, "docs": int(sel.sum()), "tokens": int(tokens[sel].sum())})
    rows.append({"stage": "boilerplate stripped", "docs": 0, "tokens": int((tokens - written)[d.kept].sum())})
    for s in ("train", "val"):
        sel = d.split == s
        rows.append({"stage": s, "docs": int(sel.sum()), "tokens": int(written[sel].sum())})
    return rows


def tokens_left(rows: list[dict], filters_only: bool = False) -> list[tuple[str, int, int]]:
    """(stage, tokens removed, tokens left) for the input, each stage that removed something, and what is
    kept; ``filters_only``: the rows hold the filters alone (estimate --fast), so what is left is named
    for what it is, not "kept"."""
    start = sum(r["tokens"] for r in rows if r["stage"] in ("input", "val input"))
    out, left = [("input", 0, start)], start
    for r in rows:
        if r["stage"] not in ("input", "val input", "train", "val") and r["tokens"]:
            left -= r["tokens"]
            out.append((r["stage"], r["tokens"], left))
    out.append(("after filters" if filters_only else "kept", 0, left))
    return out
