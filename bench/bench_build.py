"""build against its peers on the same shards, side by side in one run.

    python bench/bench_build.py [--corpus synth|realtext] [--shards 20] [--docs 18000] [--mb 50] [--repeat 3]

Variants, each in its own process tree (peak RSS = the largest sum of the
tree's resident sets, sampled every 0.1 s):
  llmc      llm.c dev/data/fineweb.py's approach: multiprocessing pool, tiktoken
            per document, EOT first, uint16 shards with the 256-int header; no dedup
  nanogpt   nanoGPT data/openwebtext/prepare.py's approach: HF datasets map with
            tiktoken over num_proc processes, concatenated into train.bin; no dedup
  dataprep  dataprep build --no-score-filter (exact + near dedup across all shards)
  dataprep-riptoken  the same with --tokenizer riptoken (identical bins, faster tokenizer)
  dataprep-ray  the same with --engine ray on a local Ray instance (Ray's start-up included)
  dataprep-add1  the last shard added to a build of the others (a growth): its seconds are the growth's
            alone; the build of the others, and a build of the added shard by itself (whose scan is
            "that shard's scan"), run first in the same process (so its peak RSS is theirs too)
  dataprep@REF  dataprep build as it was at git commit REF (exported to bench/out/src-REF); REF must
             have today's package layout (1bd446c or later: module paths differ before it)
Needs `pip install datasets` for the nanogpt variant (a benchmark-only dependency).
Rounds run every variant once, in alternating order, so load on a shared machine falls on all
alike; the table gives each variant's median time and its median ratio to llm.c's in the same round.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import corpora
from proctree import run_sampled

corpora.follow_source()  # spawned build workers of a dataprep@REF run import that commit's code too
OUT = corpora.OUT
EOT = 50256


def iter_texts(files: list[str]):
    import pyarrow.parquet as pq

    for f in files:
        pf = pq.ParquetFile(f)
        for rg in range(pf.num_row_groups):
            yield from pf.read_row_group(rg, columns=["text"])["text"].to_pylist()


_enc = None


def _llmc_tokenize(text: str) -> np.ndarray:
    global _enc
    if _enc is None:
        from dataprep.text.tokenizer import get_encoding

        _enc = get_encoding()
    tokens = [EOT]
    tokens.extend(_enc.encode_ordinary(text))
    return np.array(tokens, dtype=np.uint16)


def run_llmc(files: list[str], out: Path, workers: int) -> dict:
    from dataprep.io.binfile import llmc_header

    shard_size = 10**8
    buf = np.empty(shard_size, dtype=np.uint16)
    filled, index, total = 0, 0, 0

    def flush(n: int) -> None:
        nonlocal index
        split = "val" if index == 0 else "train"
        with open(out / f"fineweb_{split}_{index:06d}.bin", "wb") as f:
            f.write(llmc_header(n))
            f.write(buf[:n].tobytes())
        index += 1

    with mp.get_context("fork").Pool(workers) as pool:
        for tokens in pool.imap(_llmc_tokenize, iter_texts(files), chunksize=16):
            total += len(tokens)
            while len(tokens):
                take = min(len(tokens), shard_size - filled)
                buf[filled : filled + take] = tokens[:take]
                filled += take
                tokens = tokens[take:]
                if filled == shard_size:
                    flush(filled)
                    filled = 0
    if filled:
        flush(filled)
    return {"tokens": total}


def run_nanogpt(files: list[str], out: Path, workers: int) -> dict:
    from datasets import disable_progress_bars, load_dataset

    from dataprep.text.tokenizer import get_encoding

    disable_progress_bars()
    enc = get_encoding()
    cache = out / "hf-cache"
    ds = load_dataset("parquet", data_files=files, split="train", cache_dir=str(cache))
    split = ds.train_test_split(test_size=0.0005, seed=2357, shuffle=True)
    split["val"] = split.pop("test")

    def process(example):
        ids = enc.encode_ordinary(example["text"])
        ids.append(EOT)
        return {"ids": ids, "len": len(ids)}

    tokenized = split.map(process, remove_columns=split["train"].column_names, num_proc=workers,
                          load_from_cache_file=False)
    total = 0
    for name, dset in tokenized.items():
        arr_len = int(np.sum(dset["len"], dtype=np.uint64))
        arr = np.memmap(out / f"{name}.bin", dtype=np.uint16, mode="w+", shape=(arr_len,))
        idx = 0
        pieces = min(64, len(dset))
        for i in range(pieces):
            batch = dset.shard(num_shards=pieces, index=i, contiguous=True).with_format("numpy")
            chunk = np.concatenate(batch["ids"])
            arr[idx : idx + len(chunk)] = chunk
            idx += len(chunk)
        arr.flush()
        total += arr_len
    return {"tokens": total}


def run_dataprep(files: list[str], out: Path, workers: int, backend: str = "tiktoken", engine: str = "local") -> dict:
    from dataprep.pipeline.build import BuildOptions, build

    stats: dict = {}
    opts = BuildOptions(min_score=None, tokenizer_backend=backend)
    meta = build(files, out / "build", opts, workers=workers, progress=False, stats=stats, engine=engine)
    removed = {r["stage"]: r["docs"] for r in meta["waterfall"]}
    return {"tokens": meta["train_tokens"] + meta["val_tokens"], "exact_removed": removed["exact-dup"],
            "near_removed": removed["near-dup"], **stats}


def run_dataprep_add1(files: list[str], out: Path, workers: int) -> dict:
    from dataprep.pipeline.build import BuildOptions, build

    opts = BuildOptions(min_score=None)
    alone: dict = {}
    build(files[-1:], out / "alone", opts, workers=workers, progress=False, stats=alone)
    build(files[:-1], out / "build", opts, workers=workers, progress=False)
    stats: dict = {}
    t0 = time.perf_counter()
    meta = build(files, out / "build", opts, workers=workers, progress=False, stats=stats)
    seconds = time.perf_counter() - t0
    state = sum(p.stat().st_size for p in (out / "build" / ".state").rglob("*") if p.is_file())
    removed = {r["stage"]: r["docs"] for r in meta["waterfall"]}
    return {"tokens": meta["train_tokens"] + meta["val_tokens"], "exact_removed": removed["exact-dup"],
            "near_removed": removed["near-dup"], **stats, "seconds": seconds,
            "shard_scan_seconds": alone["scan_seconds"], "state_bytes_per_doc": state / removed["input"]}


VARIANTS = {
    "llmc": run_llmc,
    "nanogpt": run_nanogpt,
    "dataprep": run_dataprep,
    "dataprep-riptoken": lambda files, out, workers: run_dataprep(files, out, workers, "riptoken"),
    "dataprep-ray": lambda files, out, workers: run_dataprep(files, out, workers, engine="ray"),
    "dataprep-add1": run_dataprep_add1,
}


def text_bytes(files: list[str]) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    return sum(pc.sum(pc.binary_length(pq.read_table(f, columns=["text"])["text"])).as_py() for f in files)


def measure(variant: str, files: list[str], workers: int) -> dict:
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        cmd = [sys.executable, __file__, "--child", variant, "--out", tmp, "--workers", str(workers), *files]
        out, peak, pss = run_sampled(cmd)
        result = json.loads(out.strip().splitlines()[-1])
        result["peak_rss_mb"], result["peak_pss_mb"] = peak, pss
        return result


def main() -> None:
    ap = argparse.ArgumentParser()
    corpora.add_arguments(ap, shards=20)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        variant, _, ref = args.child.partition("@")
        if ref:
            corpora.use_source_at(ref)
        from dataprep.io.memory import keep_freed_memory

        keep_freed_memory()
        t0 = time.perf_counter()
        result = VARIANTS[variant](args.files, Path(args.out), args.workers)
        result.setdefault("seconds", time.perf_counter() - t0)  # add1 times its growth alone
        print(json.dumps(result))
        return
    OUT.mkdir(exist_ok=True)
    files = corpora.files(args)
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    text_mb = text_bytes(files) / 1e6
    variants = args.variants.split(",")
    load_before = os.getloadavg()[0]
    runs = []
    for k in range(args.repeat):
        results = {}
        for v in variants if k % 2 == 0 else variants[::-1]:
            results[v] = measure(v, files, args.workers)
            print(f"round {k + 1} {v}: {results[v]}", file=sys.stderr)
        runs.append(results)
    median = {v: statistics.median(r[v]["seconds"] for r in runs) for v in variants}
    if "dataprep" in median and "dataprep-ray" in median:
        ray = statistics.median(r["dataprep-ray"]["seconds"] / r["dataprep"]["seconds"] for r in runs)
        print(f"ray engine / local engine wall time: {ray:.2f}", file=sys.stderr)
    print(f"\n{corpora.describe(args)} ({text_mb:.0f} MB of text, {mb:.0f} MB of parquet), {args.workers} workers, "
          f"median of {args.repeat} interleaved rounds; 1-minute load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after\n")
    print("| variant | seconds | x llm.c time | tokens written | peak RSS MB (process tree) | peak PSS MB (process tree) |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in variants:
        ratio = statistics.median(r[v]["seconds"] / r["llmc"]["seconds"] for r in runs) if "llmc" in variants else None
        rss = statistics.median(r[v]["peak_rss_mb"] for r in runs)
        pss = statistics.median(r[v]["peak_pss_mb"] for r in runs)
        print(f"| {v} | {median[v]:.1f} | {'-' if ratio is None else f'{ratio:.2f}'} | {runs[0][v]['tokens']:,} | {rss:.0f} "
              f"| {pss:.0f} |")
    for name in (v for v in variants if v.startswith("dataprep") and v != "dataprep-add1"):
        stage = {k: statistics.median(r[name][k] for r in runs) for k in ("scan_seconds", "decide_seconds", "write_seconds")}
        r = runs[0][name]
        print(f"\n{name} stages (medians): scan {stage['scan_seconds']:.1f} s, decide {stage['decide_seconds']:.1f} s, "
              f"write {stage['write_seconds']:.1f} s; dedup state {r['dedup_state_bytes_per_doc']:.0f} bytes/document; "
              f"removed {r['exact_removed']:,} exact and {r['near_removed']:,} near duplicates; "
              f"scan {text_mb / stage['scan_seconds'] / args.workers:.1f} MB of text per core-second")
    if "dataprep-add1" in variants:
        add = {k: statistics.median(r["dataprep-add1"][k] for r in runs)
               for k in ("seconds", "scan_seconds", "decide_seconds", "write_seconds", "shard_scan_seconds")}
        # The goal compares the growth with that shard's scan and the decide and write stages of a build
        # of all the shards (the dataprep variant's, when it ran; else the growth's own).
        ref = "dataprep" if "dataprep" in variants else "dataprep-add1"
        decide = statistics.median(r[ref]["decide_seconds"] for r in runs)
        write = statistics.median(r[ref]["write_seconds"] for r in runs)
        bound = 1.3 * add["shard_scan_seconds"] + decide + write
        print(f"\ndataprep-add1 (medians): adding shard {args.shards} to a build of {args.shards - 1} took "
              f"{add['seconds']:.1f} s (scan {add['scan_seconds']:.1f}, decide {add['decide_seconds']:.1f}, write "
              f"{add['write_seconds']:.1f}); that shard's scan alone {add['shard_scan_seconds']:.1f} s; {ref}'s decide "
              f"{decide:.1f} s and write {write:.1f} s; goal 1.3 x scan + decide + write = {bound:.1f} s: "
              f"growth / goal = {add['seconds'] / bound:.2f}; state kept in .state: "
              f"{runs[0]['dataprep-add1']['state_bytes_per_doc']:.0f} bytes/document")


if __name__ == "__main__":
    main()
