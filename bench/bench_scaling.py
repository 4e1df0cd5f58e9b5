"""How the LSH and clustering stages grow with the number of documents.

    python bench/bench_scaling.py [--sizes 10000,100000,1000000,10000000]

For each size, one child process writes synthetic scan results (band hashes
band-major, as a build's scan stage does; 5% of documents are near copies of
an earlier one sharing 12 of 14 bands, 1% are members of chains) and a second
runs the build's own band tasks and component step on them, timing each and
reading its peak RSS. Prints a table and a power-law fit, time ~ a * n^b.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BANDS = 14


def synthetic_bands(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bands = rng.integers(0, 2**63, (BANDS, n), dtype=np.uint64)
    copies = rng.choice(np.arange(1, n), size=n // 20, replace=False)
    sources = (rng.random(len(copies)) * copies).astype(np.int64)
    shared = rng.random((BANDS, len(copies))) < 12 / 14
    for j in range(BANDS):
        bands[j, copies[shared[j]]] = bands[j, sources[shared[j]]]
    chain = np.sort(rng.choice(n, size=n // 100, replace=False))
    bands[0, chain[1::2]] = bands[0, chain[0:-1:2]]  # pairs joined in band 0, chained in band 1
    bands[1, chain[2::2]] = bands[1, chain[1:-1:2]]
    return bands


def make(n: int, shards: int, work_dir: str) -> None:
    """Write the synthetic scan results (its own process, so its memory is not counted)."""
    from dataprep.io.storage import Store

    work = Store(work_dir)
    bands = synthetic_bands(n)
    cuts = np.linspace(0, n, shards + 1).astype(np.int64)
    for i in range(shards):
        work.save_array(f"scan/{i:05d}/bands.npy", np.ascontiguousarray(bands[:, cuts[i] : cuts[i + 1]]))
    work.save_array("active.npy", np.ones(n, dtype=bool))


def measure(n: int, shards: int, work_dir: str) -> dict:
    """The build's band tasks and component step on the files ``make`` wrote."""
    from dataprep.pipeline.bands import band_edges, band_jobs, components
    from dataprep.pipeline.engine import LocalEngine
    from dataprep.io.memory import keep_freed_memory
    from dataprep.io.storage import Store

    keep_freed_memory()
    work = Store(work_dir)
    dirs = [f"scan/{i:05d}" for i in range(shards)]
    t0 = time.perf_counter()
    results = [band_edges(job) for job in band_jobs(work, work, dirs, BANDS, n, False)]
    t1 = time.perf_counter()
    edges = sum(r["count"] for r in results)
    labels = components(work, n, [r["edges"] for r in results], edges, LocalEngine(1))
    t2 = time.perf_counter()
    hwm = [ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM")][0]
    return {
        "docs": n,
        "band_seconds": t1 - t0,
        "components_seconds": t2 - t1,
        "edges": edges,
        "clusters": int((np.bincount(labels) > 1).sum()),
        "band_state_mb": n * BANDS * 8 / 1e6,
        "peak_rss_mb": int(hwm.split()[1]) / 1024,
    }


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    b, log_a = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(np.exp(log_a)), float(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000")
    ap.add_argument("--shards", type=int, default=20)
    ap.add_argument("--make", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        make(args.make, args.shards, args.work)
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.shards, args.work)))
        return
    (Path(__file__).parent / "out").mkdir(exist_ok=True)
    rows = []
    for n in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as work:
            common = ["--shards", str(args.shards), "--work", work]
            subprocess.run([sys.executable, __file__, "--make", str(n), *common], check=True)
            out = subprocess.run([sys.executable, __file__, "--measure", str(n), *common],
                                 capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    print("| documents | band tasks s | components s | edges | edges/doc | clusters | band state MB | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['docs']:,} | {r['band_seconds']:.2f} | {r['components_seconds']:.2f} | {r['edges']:,} | "
              f"{r['edges'] / r['docs']:.3f} | {r['clusters']:,} | {r['band_state_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    tail = rows[-3:]  # the largest sizes: fixed costs no longer dominate
    docs = [r["docs"] for r in tail]
    for key in ("band_seconds", "components_seconds"):
        a, b = fit(docs, [r[key] for r in tail])
        print(f"\n{key}: ~ {a:.3g} * n^{b:.2f} (fit on the {len(tail)} largest sizes)", end="")
    big = [r for r in rows if r["docs"] >= 1_000_000] or rows[-1:]
    per_doc = np.mean([(r["peak_rss_mb"] - rows[0]["peak_rss_mb"]) * 1e6 / r["docs"] for r in big])
    print(f"\npeak RSS growth: {per_doc:.0f} bytes per document")


if __name__ == "__main__":
    main()
