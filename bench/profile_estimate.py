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
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    print(f"{corpora.describe(args)}: estimate {seconds:.2f} s wall under cProfile, {cpu:.2f} s CPU in this process; "
          f"1-minute load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
