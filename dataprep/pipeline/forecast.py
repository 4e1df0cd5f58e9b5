"""``estimate --forecast``: effective tokens after the first N shards of a whole dataset, N = 1 .. all,
from the metadata of every file and k files read in full.

1. Totals: the metadata columns of every file (``io/metadata.py``: footer and those column chunks,
   by byte ranges) give each file's exact raw tokens (``token_count`` + 1 EOT per document), its score
   mix, and the tokens that pass the filters, for a few percent of its bytes.
2. Duplication: k files (the first k - 1 and the last) are read in full and measured once, as
   estimate measures (``measure``); the decision core then runs on parts of those documents,
   without reading anything again: each file alone (duplication within a file),
   each pair (links across two files, and whether the files are alike), and all k (how many of the
   other files read hold a copy of each document).
3. The forecast (``forecast_model.py``): the share of the filtered tokens that survives after N files,
   times the filtered tokens of the first N files, with a band that widens with N / k.

``check_build`` puts a build's measured effective tokens beside the forecast, shard step by step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from itertools import combinations

import numpy as np

from dataprep.dedup.decide import MAX_VAL_SHARE, MIN_VAL_DOCS, Rules, decide, filter_reasons
from dataprep.errors import DataprepError
from dataprep.io.metadata import read_metadata, storage_range
from dataprep.io.reader import resolve_paths
from dataprep.io.storage import is_url
from dataprep.pipeline import forecast_model as model
from dataprep.pipeline.budget import TokenTarget
from dataprep.pipeline.build_command import budget_command
from dataprep.pipeline.estimate import EstimateOptions, Measured, full_report, measure, metadata_documents, \
    score_section

DEFAULT_SHARDS_READ = 4  # docs/estimate.md: the benchmark that chose it
METADATA_READERS = 8  # files whose metadata is read at once


@dataclass(frozen=True)
class ForecastOptions:
    shards_read: int = DEFAULT_SHARDS_READ  # k: files read in full

    def __post_init__(self) -> None:
        if not (isinstance(self.shards_read, int) and self.shards_read >= 2):
            raise DataprepError(f"shards_read (--forecast-shards) must be at least 2 (a pair of files shows "
                                f"duplication across files), not {self.shards_read}")


@dataclass
class Dataset:
    """The files of a dataset in order: their names, a ranged read of each, and each read in full."""

    description: str
    as_options: list[str]  # how the command line names the dataset (--input ..., or --dataset ... --subset ...)
    names: list[str]
    ranged: Callable[[int], tuple[int, Callable[[int, int], bytes]]]  # i -> (size, fetch(start, end))
    local: Callable[[int], str]  # i -> a local path of the whole file (downloaded, for a hub)
    local_files: bool = False  # on this machine: reading one costs no round trip

    def __len__(self) -> int:
        return len(self.names)


def local_dataset(paths: list[str]) -> Dataset:
    """Files, directories (every parquet file below, sorted) and globs, as estimate and build resolve them."""
    files = resolve_paths(paths)
    return Dataset(", ".join(paths), ["--input", *paths], files, lambda i: storage_range(files[i]), lambda i: files[i],
                   local_files=not any(is_url(f) for f in files))


def hub_dataset(dataset: str, subset: str, progress: bool | None = None) -> Dataset:
    """The parquet files under ``subset`` of a Hugging Face dataset: ranged reads at the listing's commit,
    and the files read in full downloaded into the hub cache, verified (``io/hub.py``)."""
    from dataprep.io.hub import HubShards

    hub = HubShards(dataset, subset, progress=progress)
    sizes = [f.size for f in hub.files]
    if None in sizes:  # offline, the cache was listed: no sizes, and no range requests either
        raise DataprepError(f"--forecast reads byte ranges of every file of {hub.where}, which HF_HUB_OFFLINE=1 "
                            "forbids; unset HF_HUB_OFFLINE")
    return Dataset(hub.description, hub.as_options, [f.path for f in hub.files],
                   lambda i: (sizes[i], lambda start, end: hub.read_range(i, start, end)), lambda i: str(hub.fetch(i)))


def files_read(files: int, k: int) -> list[int]:
    """The first k - 1 files and the last one (every file when there are no more than k).

    The first files are the ones a build takes first, so the forecast starts from the curve a build
    would measure; the last one shows whether the end of the dataset is like its start (``_alike``).
    """
    if files <= k:
        return list(range(files))
    return list(range(k - 1)) + [files - 1]


def forecast_dataset(ds: Dataset, opts: EstimateOptions, fopts: ForecastOptions, target: TokenTarget | None = None,
                     progress: bool | None = None) -> dict:
    """estimate's report of the files read in full, with the forecast of the whole dataset as ``forecast``."""
    picks = files_read(len(ds), fopts.shards_read)
    local = [ds.local(i) for i in picks]
    totals = dataset_totals(ds, dict(zip(picks, local)), opts)
    measured = measure(local, opts, progress=progress, bands=True)
    report = full_report(measured, opts)
    report["forecast"] = _section(ds, picks, totals, measured, opts, target)
    if target is not None:
        report["forecast"]["target"]["build_command"] = budget_command(ds.as_options, target, opts)
        if "plan" in report:  # the forecast knows how many files of the dataset the budget takes
            report["plan"]["build_command"] = report["forecast"]["target"]["build_command"]
            report["plan"]["build_note"] = "the dataset forecast below says how many of its files this takes"
    return report


def dataset_totals(ds: Dataset, local: dict[int, str], opts: EstimateOptions) -> dict:
    """Per file: documents, raw tokens (token_count + EOT), tokens passing the filters; the dataset's
    score mix; and the bytes read for them (files read in full are read from their local copy).
    Remote files are read METADATA_READERS at a time (each costs a few round trips), summed in order."""
    columns = ("token_count", "score", "int_score") + (("language_score",) if opts.min_language_score is not None else ())

    def read(i: int):
        size, fetch = storage_range(local[i]) if i in local else ds.ranged(i)
        return size, read_metadata(ds.names[i], size, fetch, columns, opts.text_column)

    out: dict = {"rows": [], "tokens": [], "filtered": [], "sizes": [], "metadata_bytes": 0, "histogram": None}
    with ThreadPoolExecutor(max_workers=1 if ds.local_files else METADATA_READERS) as pool:
        for i, (size, fm) in enumerate(pool.map(read, range(len(ds)))):
            _add_file(out, ds.names[i], size, fm, 0 if i in local else fm.bytes_read, opts)
    return out


def _add_file(out: dict, name: str, size: int, fm, bytes_read: int, opts: EstimateOptions) -> None:
    """One file's metadata added to the totals."""
    counts = fm.columns.get("token_count")
    if counts is None or (counts < 0).any():
        raise DataprepError(f"{name}: --forecast needs a token_count for every document (FineWeb and FineWeb-Edu "
                            "have one); this file has none or a null, so its tokens are unknown without reading it")
    docs = metadata_documents({name: [(fm.columns.get(name), fm.source.rows)] for name in fm.columns}, fm.source.rows)
    raw = counts + 1
    out["rows"].append(fm.source.rows)
    out["tokens"].append(int(raw.sum()))
    out["filtered"].append(int(raw[filter_reasons(docs, opts) == None].sum()))  # noqa: E711 (elementwise)
    out["sizes"].append(size)
    out["metadata_bytes"] += bytes_read
    out["histogram"] = _add_histogram(out["histogram"], score_section(raw, docs, opts)["score_histogram"])


def _add_histogram(total: dict | None, more: dict | None) -> dict | None:
    if more is None:
        return total
    total = total or {}
    for key, row in more.items():
        have = total.setdefault(key, {"docs": 0, "tokens": 0})
        have["docs"] += row["docs"]
        have["tokens"] += row["tokens"]
    return total


@dataclass
class Duplication:
    """What the files read in full say: survival within a file, the pairs' links, and the link law."""

    d1: float  # share of the filtered tokens a file keeps alone
    singles: list[float]  # that share, file by file
    law: np.ndarray  # share of survivors' tokens with copies in y = 0..k-1 other files read
    survivors: int  # documents kept in their own file
    pairs: list[dict]  # per pair, in read order: files, documents linked, documents, link rate
    files: list[dict]  # per file read: documents passing the filters, removed within the file
    measured: list[tuple[int, float]]  # (files, surviving share) over the parts decided: 1, 2 and all k files


def duplication(m: Measured, rows: list[int], filtered: list[int], opts: Rules) -> Duplication:
    """Decisions over each file read alone, each pair and all of them, from one measurement."""
    k = len(rows)
    shard = np.repeat(np.arange(k), rows)
    written = m.docs.token_counts + 1 - (m.boilerplate_tokens if opts.strip_boilerplate else 0)

    def kept(files: tuple[int, ...]) -> np.ndarray:
        idx = np.flatnonzero(np.isin(shard, files))
        mask = np.zeros(len(shard), dtype=bool)
        mask[idx[decide(m.docs.take(idx), opts, m.bands.take(idx)).kept]] = True
        return mask

    passing = m.decisions.cluster >= 0  # the filters' verdict, the same in any part
    alone = np.zeros(len(shard), dtype=bool)
    for s in range(k):
        alone |= kept((s,))
    files = [{"documents": int((passing & (shard == s)).sum()),
              "removed": int((passing & ~alone & (shard == s)).sum())} for s in range(k)]
    single = np.array([written[alone & (shard == s)].sum() / max(filtered[s], 1) for s in range(k)])
    pairs, pair_kept, pair_filtered = [], 0, 0
    for a, b in combinations(range(k), 2):
        both = kept((a, b))
        n = int((alone & ((shard == a) | (shard == b))).sum())
        linked = n - int(both.sum())
        pairs.append({"files": [a, b], "linked": linked, "documents": n, "rate": 2 * linked / max(n, 1)})
        pair_kept += int(written[both].sum())
        pair_filtered += filtered[a] + filtered[b]
    y = model.copies_elsewhere(m.decisions.cluster, shard, k)
    all_kept = float(written[m.decisions.kept].sum()) / max(sum(filtered), 1)
    d1 = float(written[alone].sum()) / max(sum(filtered), 1)
    return Duplication(d1=d1, singles=[float(x) for x in single],
                       law=model.link_law(y[alone], written[alone], k), survivors=int(alone.sum()), pairs=pairs,
                       files=files,
                       measured=sorted({1: d1, **({2: pair_kept / pair_filtered} if pairs else {}), k: all_kept}.items()))


def _section(ds: Dataset, picks: list[int], totals: dict, m: Measured, opts: EstimateOptions,
             target: TokenTarget | None) -> dict:
    files, k = len(ds), len(picks)
    dup = duplication(m, [totals["rows"][i] for i in picks], [totals["filtered"][i] for i in picks], opts)
    survival, low, high, alike = survival_curve(dup, k, files)
    filtered = np.cumsum(totals["filtered"])
    # A file added never takes effective tokens away, so no edge of the band falls as N grows.
    median, low, high = (np.maximum.accumulate(filtered * x) for x in (survival, low, high))
    curve = [{"shards": n + 1, "raw_tokens": int(raw), "filtered_tokens": int(f), "effective_tokens": round(s),
              "low": round(lo), "high": round(hi)}
             for n, (raw, f, s, lo, hi) in enumerate(zip(np.cumsum(totals["tokens"]), filtered, median, low, high))]
    kept_doc_tokens = float(m.docs.token_counts[m.decisions.kept].mean() + 1) if m.decisions.kept.any() else 1.0
    for row in curve:
        row["train_tokens"] = round(row["effective_tokens"] * (1 - _val_share(row["effective_tokens"] / kept_doc_tokens,
                                                                               opts.val_fraction)))
    unread = [i for i in range(files) if i not in picks]
    return {
        "dataset": ds.description,
        "files": files,
        "docs": int(sum(totals["rows"])),
        "tokens": int(sum(totals["tokens"])),
        "filtered_tokens": int(sum(totals["filtered"])),
        "score_histogram": totals["histogram"],
        "metadata_bytes": totals["metadata_bytes"],
        "metadata_file_bytes": int(sum(totals["sizes"][i] for i in unread)),
        "read_in_full": [{"file": i + 1, "path": ds.names[i], "bytes": totals["sizes"][i]} for i in picks],
        "dataset_files": [{"path": name, "bytes": size} for name, size in zip(ds.names, totals["sizes"])],
        "rules": rules_of(opts),
        "extrapolation": files / k,
        "within_file_survival": dup.d1,
        "pairs": [{**p, "files": [picks[a] + 1 for a in p["files"]]} for p in dup.pairs],
        "alike": alike,
        "links": [float(x) for x in dup.law],
        "measured": [{"shards": n, "effective_tokens": round(filtered[n - 1] * s)} for n, s in dup.measured if n <= files],
        "curve": curve,
        "target": None if target is None else shards_for(target, curve),
    }


def survival_curve(dup: Duplication, k: int, files: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """The surviving share of the filtered tokens after N = 1..files files: median, band, and whether
    the pairs read look alike (when not, the band also spans what the least and the most linked pair say)."""
    grid = model.posterior(dup.law, dup.survivors, k)
    median, low, high = (dup.d1 * x for x in model.survival_band(grid, files))
    shard_sd = float(np.std(dup.singles, ddof=1)) if k > 1 else 0.0
    relative_se = shard_sd / max(dup.d1, 1e-12) / np.sqrt(k)
    low, high = model.widened(median, low, high, dup.d1, k, relative_se, model.realization_sd(shard_sd, files, files))
    alike = _alike(dup)
    if not alike["alike"]:
        rates = [p["rate"] for p in dup.pairs]
        low = np.minimum(low, model.homogeneous(min(dup.singles), max(rates), files))
        high = np.maximum(high, model.homogeneous(max(dup.singles), min(rates), files))
    return median, low, np.minimum(high, 1.0), alike  # no corpus keeps more than its filtered tokens


def _alike(dup: Duplication) -> dict:
    """Are the files read alike, as exchangeable shards are? Each test is a number of standard errors:
    the link rates of the first and the last pair read, the spread of all pairs' rates, and the same
    two for duplication within each file alone."""
    pairs, files = dup.pairs, dup.files
    tests = {
        "first_last_pair_z": model.rate_difference_z(*((p["linked"], p["documents"]) for p in (pairs[0], pairs[-1]))),
        "pairs_z": model.pairs_spread_z([p["linked"] for p in pairs], [p["documents"] for p in pairs]),
        "first_last_file_z": model.rate_difference_z(*((f["removed"], f["documents"]) for f in (files[0], files[-1]))),
        "files_z": model.pairs_spread_z([f["removed"] for f in files], [f["documents"] for f in files]),
    } if pairs else {}
    tests = {name: round(z, 2) for name, z in tests.items()}
    return {"alike": all(abs(z) <= model.EXCHANGEABLE_Z for z in tests.values()), **tests}


def _val_share(docs: float, val_fraction: float) -> float:
    """The share of the effective documents that go to val: the fraction, or the floor of a small corpus."""
    if val_fraction == 0:
        return 0.0
    return max(val_fraction, min(MIN_VAL_DOCS / max(docs, 1.0), MAX_VAL_SHARE))


def shards_for(target: TokenTarget, curve: list[dict]) -> dict:
    """The fewest first files whose forecast train split holds the budget: at the median, and at each
    edge of the band (None: not within the dataset)."""
    need = target.train_tokens

    def first(key: str) -> int | None:  # the train split is the same share of each edge of the band
        for row in curve:
            if row["train_tokens"] * row[key] / max(row["effective_tokens"], 1) >= need:
                return row["shards"]
        return None

    return {**target.as_dict(), "train_tokens_needed": need, "shards": first("effective_tokens"),
            "shards_if_high": first("high"), "shards_if_low": first("low")}


def rules_of(rules: Rules) -> dict:
    """The decision rules alone (``decide.Rules``'s fields), as build's meta.json writes them in ``options``."""
    return {f.name: asdict(rules)[f.name] for f in fields(Rules)}


def forecast_of(report: dict) -> dict:
    """The forecast section of an estimate report (``estimate --forecast --json``), or why there is none."""
    f = report.get("forecast") if isinstance(report, dict) else None
    if not isinstance(f, dict) or not all(key in f for key in ("curve", "rules", "dataset_files", "dataset")):
        raise DataprepError("this is not the JSON that `dataprep estimate --forecast --json` prints: it has no "
                            "forecast in it, or one of another version")
    return f


def check_build(report: dict, meta: dict) -> dict:
    """A build's effective tokens beside the forecast of ``report`` (estimate --forecast --json), at every
    shard step a ``--tokens`` build recorded (else at its one size), with what each step added."""
    f = forecast_of(report)
    steps = (meta.get("target") or {}).get("steps") or [
        {"shard": len(meta["sources"]), "effective_tokens": meta["train_tokens"] + meta["val_tokens"], "added_share": None}]
    curve = f["curve"]
    rows = []
    for s in steps:
        n = s["shard"]
        if n > len(curve):
            break
        at, before = curve[n - 1], curve[n - 2] if n > 1 else None
        added = at["effective_tokens"] - (before["effective_tokens"] if before else 0)
        own = at["raw_tokens"] - (before["raw_tokens"] if before else 0)
        rows.append({"shards": n, "measured": s["effective_tokens"], "forecast": at["effective_tokens"],
                     "low": at["low"], "high": at["high"], "within_band": at["low"] <= s["effective_tokens"] <= at["high"],
                     "measured_added_share": s["added_share"], "forecast_added_share": added / own if own else 0.0})
    return {"dataset": f["dataset"], "rows": rows, "differences": _differences(f, meta)}


def _differences(f: dict, meta: dict) -> list[str]:
    """Why the build may not be the forecast's: other rules, or inputs that are not the dataset's first files."""
    out = [f"{name} is {meta['options'].get(name)!r} in the build, {value!r} in the forecast"
           for name, value in f["rules"].items() if meta["options"].get(name) != value]
    files = f["dataset_files"]
    for i, src in enumerate(meta["sources"]):
        want = files[i] if i < len(files) else None
        if want is None or os.path.basename(want["path"]) != os.path.basename(src["path"]) or want["bytes"] != src["bytes"]:
            out.append(f"input {i + 1} ({os.path.basename(src['path'])}, {src['bytes']:,} bytes) is not file {i + 1} of "
                       "the forecast's dataset")
            break
    return out
