"""Where estimate's wall time goes with N workers: the scan (in parallel) and each serial step after it.

    python bench/estimate_stages.py --corpus realtext --mb 400 --shards 8 --workers 2 [--repeat 2]

The scan's tasks run in worker processes; what follows runs in the driver (its boilerplate pass
hands a task per shard to the same workers). Each stage is timed by wrapping the name estimate.py
calls, so the figures add up to the run's wall time, less the set-up before the scan. This is the
measured split behind docs/scaling.md's arithmetic for more cores.
"""

from __future__ import annotations

import argparse
import os
import time

import corpora

# estimate.py's names for its stages, in order (Scanner.scan is wrapped on its class)
STAGES = {
    "scan (parallel: a task per shard)": "scan",
    "load the scans": "load_scanned",
    "decide (filters, exact, band tasks, components)": "decide",
    "boilerplate (a task per shard, merged in the driver)": "_boilerplate_in",
    "report": "full_report",
}


def timed(spent: dict, key: str, fn):
    def run(*args, **kwargs):
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - began

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    corpora.add_arguments(ap, shards=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    files = corpora.files(args)
    import dataprep.pipeline.estimate as est

    load = os.getloadavg()[0]
    runs = []
    for _ in range(args.repeat):
        spent: dict = {}
        originals = {name: getattr(est, name) for name in STAGES.values() if name != "scan"}
        scan = est.Scanner.scan
        for name, fn in originals.items():
            setattr(est, name, timed(spent, name, fn))
        est.Scanner.scan = timed(spent, "scan", scan)
        began = time.perf_counter()
        try:
            est.estimate(files, est.EstimateOptions(), workers=args.workers, progress=False)
        finally:
            for name, fn in originals.items():
                setattr(est, name, fn)
            est.Scanner.scan = scan
        spent["total"] = time.perf_counter() - began
        runs.append(spent)
    median = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
    print(f"{corpora.describe(args)}, --workers {args.workers}, median of {args.repeat}; "
          f"1-minute load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("| stage | wall s |")
    print("|---|---:|")
    for stage, name in STAGES.items():
        print(f"| {stage} | {median.get(name, 0.0):.2f} |")
    print(f"| whole run | {median['total']:.2f} |")


if __name__ == "__main__":
    main()
