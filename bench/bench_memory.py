"""Peak memory of estimate on a large shard (the target: under 2 GB for a 2 GB shard).

    python bench/bench_memory.py [--gb 2.0]

Writes a FineWeb-sized text shard of random Zipf-distributed words in
streaming row groups (quick to make, no planted duplicates), then runs
``dataprep estimate --json`` on it in a child process and reads its peak
resident set (VmHWM) from /proc.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent / "out"


def write_shard(path: Path, gigabytes: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    syll = np.array("ka ri to ne mo la su vi de ra po li an el or us ta be ko mi sa fe no du ga he".split())
    vocab = np.array(["".join(rng.choice(syll, rng.integers(1, 4))) for _ in range(50000)], dtype=object)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    cdf = np.cumsum(p / p.sum())
    written = 0
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, pa.schema([("text", pa.string()), ("id", pa.string())])) as w:
        doc = 0
        while written < gigabytes * 1e9:
            n = 5000
            lengths = np.maximum(20, rng.lognormal(np.log(450), 0.7, n).astype(int))
            ids = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), len(vocab) - 1)
            words = vocab[ids]
            # Sentence ends every ~15 words and line breaks every ~70 keep lines realistic.
            words[rng.random(len(words)) < 1 / 15] += "."
            words[rng.random(len(words)) < 1 / 70] += "\n"
            cuts = np.cumsum(lengths)[:-1]
            texts = [" ".join(chunk) for chunk in np.split(words, cuts)]
            written += sum(len(t) for t in texts)
            w.write_table(pa.table({"text": texts, "id": [f"doc-{doc + i}" for i in range(n)]}), row_group_size=n)
            doc += n
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=2.0)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"big_{args.gb:g}gb.parquet"
    if not path.exists():
        t0 = time.time()
        write_shard(path, args.gb)
        print(f"wrote {path} in {time.time() - t0:.0f}s", file=sys.stderr)
    code = (
        "import json, sys, time; from pathlib import Path\n"
        "from dataprep.io.memory import keep_freed_memory; keep_freed_memory()\n"
        "from dataprep.pipeline.estimate import EstimateOptions, estimate\n"
        "t0 = time.perf_counter(); r = estimate([sys.argv[1]], EstimateOptions(), progress=False)\n"
        "hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM')][0]\n"
        "print(json.dumps({'seconds': time.perf_counter() - t0, 'peak_rss_mb': int(hwm.split()[1]) / 1024,"
        " 'docs': r['docs'], 'text_bytes': r['text_bytes'], 'tokens': r['tokens']}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    gb = r["text_bytes"] / 1e9
    print("| shard | docs | text GB | tokens | seconds | MB/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {path.name} | {r['docs']:,} | {gb:.2f} | {r['tokens']:,} | {r['seconds']:.0f} | "
        f"{r['text_bytes'] / 1e6 / r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |"
    )


if __name__ == "__main__":
    main()
