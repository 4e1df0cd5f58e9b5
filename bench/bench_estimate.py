"""estimate against its peers, side by side on one corpus (generated or real text).

    python bench/bench_estimate.py [--corpus synth|realtext] [--shards 1] [--docs 18000] [--mb 50] [--repeat 3]

Variants, each in its own process so peak RSS is its own:
  tiktoken   tiktoken's fastest call over all texts, encode_to_numpy on every core
             (the floor: estimate must tokenize)
  tiktoken-lists  encode_ordinary_batch: the same ids as Python lists (what the usual call costs)
  datasketch the same tokenizing + MinHash.bulk + MinHashLSH (a straightforward pipeline)
  estimate   dataprep estimate, full mode
  fast       dataprep estimate --fast (metadata only)
  estimate-riptoken  dataprep estimate --tokenizer riptoken (same report, faster tokenizer)
  estimate-numpy  dataprep estimate without its compiled kernels (DATAPREP_NUMBA=0): the numpy code
  estimate-compiled  dataprep estimate with the kernels loaded whatever the input's size (in-process scans)
  estimate-workers1, estimate-workers2  dataprep estimate --workers 1 / --workers 2 (the scaling goal:
             several shards; estimate alone runs one worker per core)
  estimate@REF  dataprep estimate as it was at git commit REF (its dataprep/ exported to
             bench/out/src-REF), to measure a change side by side with the code before it;
             REF must have today's package layout (1bd446c or later: module paths differ before it)
Rounds run every variant once, in alternating order (A B C, then C B A, ...), so load on a
shared machine falls on all alike; the table gives each variant's median time and its median
ratio to the tiktoken floor of the same round. Times include each variant's imports and reading
the parquet text, as a user's run would. Prints a markdown table of wall time, MB/s, ratios and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import re
import resource
import sys
import time
from pathlib import Path

import corpora
from proctree import run_sampled


def read_texts(files: list[str]) -> list[str]:
    import pyarrow.parquet as pq

    return [t for f in files for t in pq.read_table(f, columns=["text"])["text"].to_pylist()]


def run_tiktoken(files: list[str]) -> dict:
    from dataprep.text.tokenizer import encode_batch, get_encoding

    enc = get_encoding()
    texts = read_texts(files)
    _, lengths = encode_batch(enc, texts, os.cpu_count() or 1)
    return {"tokens": int(lengths.sum()) + len(texts)}


_PUNCT = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")


def run_tiktoken_lists(files: list[str]) -> dict:
    from dataprep.text.tokenizer import get_encoding

    enc = get_encoding()
    ids = enc.encode_ordinary_batch(read_texts(files), num_threads=os.cpu_count() or 1)
    return {"tokens": sum(len(x) + 1 for x in ids)}


def run_datasketch(files: list[str]) -> dict:
    import unicodedata

    from datasketch import MinHash, MinHashLSH

    from dataprep.text.tokenizer import encode_batch, get_encoding

    enc = get_encoding()
    texts = read_texts(files)
    _, lengths = encode_batch(enc, texts, os.cpu_count() or 1)
    tokens = int(lengths.sum()) + len(texts)
    shingle_sets = []
    for t in texts:
        t = unicodedata.normalize("NFD", t.lower())
        t = "".join(c for c in t if unicodedata.category(c) != "Mn")
        words = _PUNCT.sub(" ", _DIGIT.sub("0", t)).split()
        grams = {" ".join(words[i : i + 5]).encode() for i in range(max(len(words) - 4, 1))}
        shingle_sets.append(list(grams))
    mhs = MinHash.bulk(shingle_sets, num_perm=128)
    lsh = MinHashLSH(threshold=0.7, num_perm=128)
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(mhs):
        for j in lsh.query(m):
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
        lsh.insert(i, m)
    removed = sum(1 for i in range(len(texts)) if find(i) != i)
    return {"tokens": tokens, "near_removed": removed}


def run_estimate(files: list[str], fast: bool = False, backend: str = "tiktoken", workers: int | None = None,
                 compiled: bool | None = None) -> dict:
    """``compiled``: None as estimate chooses, False never the kernels, True the kernels whatever the size
    (this process's scans only: one shard, or --workers 1)."""
    if compiled is False:
        os.environ["DATAPREP_NUMBA"] = "0"  # read when the kernels are first asked for (text/compiled.py)
    if compiled:
        from dataprep.text import compiled as kernels

        kernels.WORTH_LOADING = 0
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    opts = EstimateOptions(fast=fast, tokenizer_backend=backend)
    r = estimate(files, opts, workers=workers, progress=False)
    return {"tokens": r["tokens"], "near_removed": r["near_duplicate_docs"]}


VARIANTS = {
    "tiktoken": run_tiktoken,
    "tiktoken-lists": run_tiktoken_lists,
    "datasketch": run_datasketch,
    "estimate": run_estimate,
    "fast": lambda f: run_estimate(f, fast=True),
    "estimate-riptoken": lambda f: run_estimate(f, backend="riptoken"),
    "estimate-numpy": lambda f: run_estimate(f, compiled=False),
    "estimate-compiled": lambda f: run_estimate(f, compiled=True),
    "estimate-workers1": lambda f: run_estimate(f, workers=1),
    "estimate-workers2": lambda f: run_estimate(f, workers=2),
}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss can carry a parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its children that ended (pool workers), user and system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(variant: str, files: list[str]) -> None:
    if "@" in variant:
        variant, ref = variant.split("@")
        corpora.use_source_at(ref)
    from dataprep.io.memory import keep_freed_memory

    keep_freed_memory()
    t0 = time.perf_counter()
    result = VARIANTS[variant](files)
    result["seconds"] = time.perf_counter() - t0
    result["cpu_seconds"] = cpu_seconds()
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def rounds(variants: list[str], files: list[str], repeat: int) -> list[dict[str, dict]]:
    """``repeat`` rounds of every variant, each in a fresh process, the order reversed every other round."""
    out = []
    for k in range(repeat):
        order = variants if k % 2 == 0 else variants[::-1]
        results = {}
        for v in order:
            stdout, tree_rss, tree_pss = run_sampled([sys.executable, __file__, "--child", v, *files])
            results[v] = {**json.loads(stdout.strip().splitlines()[-1]), "tree_peak_rss_mb": tree_rss,
                          "tree_peak_pss_mb": tree_pss}
            print(f"round {k + 1} {v}: {results[v]}", file=sys.stderr)
        out.append(results)
    return out


def _paired(runs: list[dict[str, dict]], v: str, base: str, key: str) -> str:
    """The median over rounds of ``v``'s ``key`` over ``base``'s in the same round ("-" without ``base``)."""
    if base not in runs[0]:
        return "-"
    return f"{statistics.median(r[v][key] / r[base][key] for r in runs):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    corpora.add_arguments(ap, shards=1)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.files)
        return
    files = corpora.files(args)
    texts = read_texts(files)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    docs = len(texts)
    del texts
    variants = args.variants.split(",")
    for v in variants:
        if "@" in v:
            corpora.source_at(v.split("@")[1])
    load_before = os.getloadavg()[0]
    runs = rounds(variants, files, args.repeat)
    print(f"\ncorpus: {corpora.describe(args)}: {docs:,} docs, {mb:.1f} MB of text, {os.cpu_count()} cores, "
          f"median of {args.repeat} interleaved rounds; 1-minute load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after\n")
    print("| variant | seconds | MB/s | x tiktoken time | CPU s | x tiktoken CPU | peak RSS MB (driver) | peak RSS MB "
          "(process tree) | peak PSS MB (process tree) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    median = {v: statistics.median(r[v]["seconds"] for r in runs) for v in variants}
    for v in variants:
        ratio, cpu_ratio = (_paired(runs, v, "tiktoken", key) for key in ("seconds", "cpu_seconds"))
        cpu = statistics.median(r[v]["cpu_seconds"] for r in runs)
        rss = statistics.median(r[v]["peak_rss_mb"] for r in runs)
        tree = statistics.median(r[v]["tree_peak_rss_mb"] for r in runs)
        pss = statistics.median(r[v]["tree_peak_pss_mb"] for r in runs)
        print(f"| {v} | {median[v]:.2f} | {mb / median[v]:.1f} | {ratio} | {cpu:.1f} | {cpu_ratio} | {rss:.0f} | {tree:.0f} "
              f"| {pss:.0f} |")
    tokens = {r[v]["tokens"] for r in runs for v in variants}
    print(f"\ntokens (EOT included): {', '.join(f'{t:,}' for t in sorted(tokens))}")
    if "datasketch" in median and "estimate" in median:
        print(f"estimate is {median['datasketch'] / median['estimate']:.2f}x faster than datasketch")
    if "estimate-workers1" in median and "estimate-workers2" in median:
        speedup = _paired(runs, "estimate-workers1", "estimate-workers2", "seconds")
        print(f"--workers 2 is {speedup}x faster than --workers 1 (median of the rounds' ratios; goal: 1.7x)")
    if "fast" in median and "estimate" in median:
        print(f"--fast is {median['estimate'] / median['fast']:.1f}x faster than full estimate")


if __name__ == "__main__":
    main()
