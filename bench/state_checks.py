"""What checking a build's kept state costs before it is reused (the scans' sizes and sha256).

    python bench/state_checks.py [--shards 4] [--docs 18000]

Builds ``--shards`` generated shards, then times, in this process, the check every later build of
the same inputs makes before reusing the scans (``scan_shards.scan_problem`` over each scan
directory, tokens files included while they are kept), and prints the state's bytes per document,
the seconds, and the rate, beside the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpora  # noqa: E402

from dataprep.io.storage import Store, input_identity  # noqa: E402
from dataprep.pipeline.build import BuildOptions, build  # noqa: E402
from dataprep.pipeline.scan_shards import STATE_FILES, scan_dirs, scan_key, scan_options, scan_problem  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    corpora.add_arguments(ap, shards=4)
    args = ap.parse_args()
    files = corpora.files(args)
    opts = BuildOptions(min_score=None)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        stats: dict = {}
        build(files, out, opts, progress=False, stats=stats)
        state = Store(out / ".state")
        dirs = scan_dirs(len(files), 0)
        keys = [scan_key(input_identity(f), scan_options(opts)) for f in files]
        size = sum(state.size(f"{d}/{name}") for d in dirs for name in STATE_FILES)
        start = time.perf_counter()
        problems = [scan_problem(state, d, k) for d, k in zip(dirs, keys)]
        seconds = time.perf_counter() - start
    assert problems == [None] * len(files), problems
    print(f"{corpora.describe(args)}; load average {os.getloadavg()[0]:.2f}")
    print("| state kept | per document | checked in | rate |\n|---:|---:|---:|---:|")
    print(f"| {size / 1e6:.1f} MB | {stats['dedup_state_bytes_per_doc']:.0f} bytes | {seconds:.2f} s | "
          f"{size / seconds / 1e6:.0f} MB/s |")


if __name__ == "__main__":
    main()
