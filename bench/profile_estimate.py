"""Where estimate's time goes: one run under cProfile, the main thread's functions by own CPU time.

    python bench/profile_estimate.py [--corpus synth|realtext] [--shards 1] [--mb 50] [--top 25]

One shard runs in this process (no worker is started), so the profile holds the whole scan, the
decision and the report. The profile's clock is the main thread's CPU time (``time.thread_time``),
so that other work on a shared machine does not inflate it and waiting costs nothing; the
tokenizer's threads are not in it (cProfile follows the main thread only). Also prints the run's
wall time, the whole process's CPU time (the tokenizer's threads included) and the 1-minute load
average.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time

import corpora


# What the driver does after the scans, and the scan itself when it runs here (one shard): the main
# thread's CPU seconds in each (cumulative: callees included).
STAGES = {
    "scan (here only for one shard: tokenizing runs beside it)": ("pipeline/scan.py", "scan_source"),
    "write the scan's state files, each sealed with its sha256": ("pipeline/scan_shards.py", "_write_state"),
    "load the scans (docs.parquet, ids, val keys)": ("pipeline/scan_shards.py", "load_scanned"),
    "decide (filters, exact, band tasks, components)": ("dedup/decide.py", "decide"),
    "boilerplate (count, then reduce places, a shard at a time)": ("pipeline/estimate.py", "_boilerplate_in"),
    "diversity registers merged": ("pipeline/scan_shards.py", "diversity"),
    "report": ("pipeline/estimate.py", "full_report"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    corpora.add_arguments(ap, shards=1)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    files = corpora.files(args)
    from dataprep.io.memory import keep_freed_memory
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    keep_freed_memory()
    load = os.getloadavg()[0]
    profile = cProfile.Profile(time.thread_time)
    cpu0, t0 = time.process_time(), time.perf_counter()
    profile.enable()
    estimate(files, EstimateOptions(), workers=args.workers, progress=False)
    profile.disable()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    print("| stage (this process's main thread) | CPU s |")
    print("|---|---:|")
    for stage, (module, name) in STAGES.items():
        spent = sum(v[3] for (path, _, func), v in stats.stats.items() if func == name and path.endswith(module))
        print(f"| {stage} | {spent:.2f} |")
    print(f"{corpora.describe(args)}: estimate {seconds:.2f} s wall under cProfile, {cpu:.2f} s CPU in this process; "
          f"1-minute load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
