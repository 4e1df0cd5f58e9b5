"""How well ``estimate --forecast`` predicts a build of the first N files, how long it takes, and what it reads.

    python bench/forecast_accuracy.py [--seeds 10] [--shards 40] [--docs 300] [--words 150] [--k 4 6]
                                      [--generators low,mid,high,dumps,sorted] [--data DIR] [--time-repeats 3]

Datasets (``dataprep.synth``, ``--shards`` files of ``--docs`` documents of about ``--words`` words):

* ``low``, ``mid``, ``high``: ``--pool`` of 4, 1 and 1/4 times the documents of the whole dataset, so a
  page is drawn about 0.25, 1 or 4 times: copy groups of Poisson sizes;
* ``dumps``: ``--dumps 20``, a mixed sample of 20 crawls where a page is crawled in c of them,
  P(c) ~ 1/c^2: copy groups far more unequal (most pages once, a few in every dump);
* ``sorted``: ``dumps`` with ``--repeats-last``: every document seen before after all first
  sightings, so later files repeat earlier ones more (not exchangeable: the forecast must say so).

The real value at N files is ``estimate`` of the first N files with the same rules, which is what
``build`` of them writes, train + val (tests/test_forecast.py). For each generator and N in 10, 20,
all: the forecast's error (mean and largest over the seeds), how many seeds fall within the goal
(5% at 10 and 20, 8% at all), how many bands hold the real value, the band's mean half-width, and how
many forecasts said the files read are not alike. Then the time of the forecast against estimate of
the k files read alone (interleaved, median of ``--time-repeats``), and the metadata bytes read;
last, the bytes the loopback hub serves for a forecast of files with FineWeb-Edu-long documents.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

GENERATORS = ("low", "mid", "high", "dumps", "sorted")
CHECKED = (10, 20)  # then every file
GOAL = {10: 0.05, 20: 0.05}
GOAL_ALL = 0.08


def config(name: str, seed: int, args):
    from dataprep.synth import SynthConfig

    total = args.docs * args.shards
    kind = {"low": {"pool": 4 * total}, "mid": {"pool": total}, "high": {"pool": total // 4}, "dumps": {"dumps": 20},
            "sorted": {"dumps": 20, "repeats_last": True}}[name]
    return SynthConfig(docs=args.docs, shards=args.shards, seed=seed, mean_words=args.words, **kind)


def dataset(name: str, seed: int, args) -> list[str]:
    from dataprep.synth import generate

    d = Path(args.data) / f"{name}-{args.shards}x{args.docs}x{args.words}-{seed}"
    if not d.is_dir():
        generate(d, config(name, seed, args))
    return sorted(str(p) for p in d.glob("*.parquet"))


def real_values(files: list[str], opts) -> dict[int, int]:
    """Effective tokens of the first N files: estimate of them, which build of them writes (kept beside
    the dataset, for reruns with other k)."""
    import json

    from dataprep.pipeline.estimate import estimate

    saved = Path(files[0]).parent.with_suffix(".real.json")
    if saved.exists():
        return {int(n): v for n, v in json.loads(saved.read_text()).items()}
    real = {n: estimate(files[:n], opts, progress=False)["effective_tokens"] for n in (*CHECKED, len(files))}
    saved.write_text(json.dumps(real))
    return real


def forecast(files: list[str], opts, k: int) -> dict:
    from dataprep.pipeline.forecast import ForecastOptions, forecast_dataset, local_dataset

    return forecast_dataset(local_dataset(files), opts, ForecastOptions(k), progress=False)["forecast"]


def accuracy(args, opts) -> None:
    print(f"\n{args.shards} files of {args.docs} documents (~{args.words} words), {args.seeds} seeds; rules: "
          "estimate's defaults (--min-score 3, --val-fraction 0.0005)\n")
    print("| generator | k | N | error: mean | largest | within goal | band holds it | band half-width | not alike |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.generators:
        rows: dict[tuple[int, int], list] = {}
        for seed in range(1, args.seeds + 1):
            files = dataset(name, seed, args)
            real = real_values(files, opts)
            for k in args.k:
                f = forecast(files, opts, k)
                for n, value in real.items():
                    at = f["curve"][n - 1]
                    rows.setdefault((k, n), []).append((at["effective_tokens"] / value - 1, at["low"] <= value <= at["high"],
                                                        (at["high"] - at["low"]) / 2 / value, not f["alike"]["alike"]))
        for (k, n), v in sorted(rows.items()):
            err = np.array([r[0] for r in v])
            goal = GOAL.get(n, GOAL_ALL)
            print(f"| {name} | {k} | {n} | {err.mean():+.1%} | {np.abs(err).max():.1%} | "
                  f"{int((np.abs(err) <= goal).sum())}/{len(v)} (±{goal:.0%}) | {sum(r[1] for r in v)}/{len(v)} | "
                  f"{np.mean([r[2] for r in v]):.1%} | {sum(r[3] for r in v)}/{len(v)} |", flush=True)


def timing(args, opts) -> None:
    """The forecast of all files against estimate of the k files it reads in full, alternated."""
    from dataprep.pipeline.estimate import estimate
    from dataprep.pipeline.forecast import files_read

    print(f"\nload average before: {os.getloadavg()[0]:.2f}\n")
    print("| generator | k | estimate of the k files (s) | forecast of all files (s) | ratio | metadata bytes / other files' bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.generators:
        files = dataset(name, 1, args)
        for k in args.k:
            read = [files[i] for i in files_read(len(files), k)]
            alone, whole, f = [], [], None
            for _ in range(args.time_repeats):
                t0 = time.perf_counter()
                estimate(read, opts, progress=False)
                alone.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                f = forecast(files, opts, k)
                whole.append(time.perf_counter() - t0)
            a, w = statistics.median(alone), statistics.median(whole)
            print(f"| {name} | {k} | {a:.2f} | {w:.2f} | {w / a:.2f} | "
                  f"{f['metadata_bytes']:,} / {f['metadata_file_bytes']:,} ({f['metadata_bytes'] / f['metadata_file_bytes']:.2%}) |",
                  flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


def bytes_at_hub(args) -> None:
    """The forecast of a dataset on the loopback hub (tests/hubserver.py), its bytes counted by the server:
    files of FineWeb-Edu-long documents (about 600 words), the default k."""
    import json
    import subprocess
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from hubserver import FakeHub

    from dataprep.synth import SynthConfig, generate

    d = Path(args.data) / f"hub-{args.hub_files}x150x600"
    if not d.is_dir():
        generate(d, SynthConfig(docs=150, shards=args.hub_files, seed=4, pool=100 * args.hub_files, mean_words=600))
    names = {f"sample/10BT/{i:03d}_00000.parquet": p.read_bytes() for i, p in enumerate(sorted(d.glob("*.parquet")))}
    hub = FakeHub({"HuggingFaceFW/fineweb-edu": names})
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(Path(args.data) / "hub-cache-run")}
    subprocess.run(["rm", "-rf", env["HF_HUB_CACHE"]], check=True)
    out = subprocess.run([sys.executable, "-m", "dataprep_cli.main", "estimate", "--forecast", "--dataset",
                          "HuggingFaceFW/fineweb-edu", "--subset", "sample/10BT", "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    hub.close()
    read = {r["path"] for r in json.loads(out)["forecast"]["read_in_full"]}
    full = sum(len(names[p]) for p in read)
    others = sum(len(b) for p, b in names.items() if p not in read)
    served_full = sum(hub.served.get(p, 0) for p in read)
    served_others = sum(hub.served.get(p, 0) for p in names if p not in read)
    print(f"\nloopback hub, {len(names)} files of 150 documents of ~600 words: the {len(read)} files read in full "
          f"({full:,} bytes) served {served_full:,} bytes; the other {len(names) - len(read)} ({others:,} bytes) served "
          f"{served_others:,} bytes, {served_others / others:.2%} of them (goal: at most 3%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--shards", type=int, default=40)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--words", type=int, default=150)
    ap.add_argument("--k", type=int, nargs="+", default=[4])
    ap.add_argument("--generators", type=lambda s: s.split(","), default=list(GENERATORS))
    ap.add_argument("--data", default="out/bench-forecast", help="generated datasets, kept for reruns")
    ap.add_argument("--time-repeats", type=int, default=3)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--hub-files", type=int, default=20, help="files of the loopback hub dataset whose bytes are counted")
    args = ap.parse_args()
    from dataprep.pipeline.estimate import EstimateOptions

    opts = EstimateOptions(threads=os.cpu_count() or 1)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    if not args.skip_accuracy:
        accuracy(args, opts)
    if not args.skip_timing:
        timing(args, opts)
        bytes_at_hub(args)


if __name__ == "__main__":
    main()
