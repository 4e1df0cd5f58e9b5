"""estimate against its peers, side by side on one generated corpus.

    python bench/bench_estimate.py [--docs 18000] [--repeat 1]

Variants, each in its own process so peak RSS is its own:
  tiktoken   tiktoken's fastest call over all texts, encode_to_numpy on every core
             (the floor: estimate must tokenize)
  tiktoken-lists  encode_ordinary_batch: the same ids as Python lists (what the usual call costs)
  datasketch the same tokenizing + MinHash.bulk + MinHashLSH (a straightforward pipeline)
  estimate   dataprep estimate, full mode
  fast       dataprep estimate --fast (metadata only)
  estimate-riptoken  dataprep estimate --tokenizer riptoken (same report, faster tokenizer)
Prints a markdown table of wall time, MB/s, ratios and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def corpus(docs: int, seed: int) -> Path:
    path = OUT / f"corpus_{docs}_{seed}.parquet"
    if not path.exists():
        from dataprep.synth import SynthConfig, generate

        OUT.mkdir(exist_ok=True)
        generate(path, SynthConfig(docs=docs, seed=seed, row_group_size=1024))
    return path


def read_texts(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["text"])["text"].to_pylist()


def run_tiktoken(path: Path) -> dict:
    from dataprep.tokenizer import encode_batch, get_encoding

    enc = get_encoding()
    texts = read_texts(path)
    _, lengths = encode_batch(enc, texts, os.cpu_count() or 1)
    return {"tokens": int(lengths.sum()) + len(texts)}


_PUNCT = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")


def run_tiktoken_lists(path: Path) -> dict:
    from dataprep.tokenizer import get_encoding

    enc = get_encoding()
    ids = enc.encode_ordinary_batch(read_texts(path), num_threads=os.cpu_count() or 1)
    return {"tokens": sum(len(x) + 1 for x in ids)}


def run_datasketch(path: Path) -> dict:
    import unicodedata

    from datasketch import MinHash, MinHashLSH

    from dataprep.tokenizer import encode_batch, get_encoding

    enc = get_encoding()
    texts = read_texts(path)
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


def run_estimate(path: Path, fast: bool = False, backend: str = "tiktoken") -> dict:
    from dataprep.estimate import EstimateOptions, estimate

    opts = EstimateOptions(fast=fast, threads=os.cpu_count() or 1, tokenizer_backend=backend)
    r = estimate([str(path)], opts, progress=False)
    return {"tokens": r["tokens"], "near_removed": r["near_duplicate_docs"]}


VARIANTS = {
    "tiktoken": run_tiktoken,
    "tiktoken-lists": run_tiktoken_lists,
    "datasketch": run_datasketch,
    "estimate": run_estimate,
    "fast": lambda p: run_estimate(p, fast=True),
    "estimate-riptoken": lambda p: run_estimate(p, backend="riptoken"),
}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss can carry a parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(variant: str, path: Path) -> None:
    from dataprep.memory import keep_freed_memory

    keep_freed_memory()
    t0 = time.perf_counter()
    result = VARIANTS[variant](path)
    result["seconds"] = time.perf_counter() - t0
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=18000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per variant; the fastest is reported")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.path))
        return
    path = corpus(args.docs, args.seed)
    texts = read_texts(path)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    del texts
    runs: dict[str, list[dict]] = {v: [] for v in args.variants.split(",")}
    for _ in range(args.repeat):  # variants interleaved, so machine noise hits all alike
        for v in runs:
            out = subprocess.run(
                [sys.executable, __file__, "--child", v, "--path", str(path)], capture_output=True, text=True, check=True
            )
            runs[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{v}: {runs[v][-1]}", file=sys.stderr)
    rows = {v: min(r, key=lambda x: x["seconds"]) for v, r in runs.items()}
    base = rows.get("tiktoken", {}).get("seconds")
    print(f"\ncorpus: {path.name}, {args.docs:,} docs, {mb:.1f} MB of text, {os.cpu_count()} cores\n")
    print("| variant | seconds | MB/s | x tiktoken time | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for v, r in rows.items():
        ratio = f"{r['seconds'] / base:.2f}" if base else "-"
        print(f"| {v} | {r['seconds']:.2f} | {mb / r['seconds']:.1f} | {ratio} | {r['peak_rss_mb']:.0f} |")
    if "datasketch" in rows and "estimate" in rows:
        print(f"\nestimate is {rows['datasketch']['seconds'] / rows['estimate']['seconds']:.2f}x faster than datasketch")
    if "fast" in rows and "estimate" in rows:
        print(f"--fast is {rows['estimate']['seconds'] / rows['fast']['seconds']:.1f}x faster than full estimate")


if __name__ == "__main__":
    main()
