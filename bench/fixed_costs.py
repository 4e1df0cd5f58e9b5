"""The fixed costs of estimate and build: what a run pays before and besides its text.

    python bench/fixed_costs.py [--repeat 5]

Each figure is the median of ``--repeat`` fresh processes (a cold start is what a user's run
pays). Printed as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBES = {
    "import dataprep.pipeline.estimate": "import dataprep.pipeline.estimate",
    "import dataprep.pipeline.build": "import dataprep.pipeline.build",
    "import tiktoken + numpy (the floor's imports)": "import dataprep.text.tokenizer",
    "GPT-2 encoding (bundled ranks, checked)": "from dataprep.text.tokenizer import get_encoding as g; T(); g()",
    "token byte lengths (estimate's line counts)":
        "from dataprep.text.tokenizer import get_encoding as g, token_byte_lengths as b; e = g(); T(); b(e)",
    "accent table (first non-ASCII line)": "from dataprep.text.normalize import accent_map as a; T(); a()",
    "compiled kernels loaded (numba imported, cache read; a process's share of 128 MB or more)":
        "import numpy as np; from dataprep.text.compiled import kernels; T(); "
        "kernels().words(np.zeros(1, np.uint8), np.zeros(2, np.int64))",
    "2 spawned build workers, ready (import + encoding)":
        "from dataprep.pipeline.engine import LocalEngine; from fixed_costs import ready; T(); "
        "list(LocalEngine(2).map(ready, [0, 1]))",
    "2 forkserver workers, build's modules preloaded in the server, ready":
        "import multiprocessing as mp; from concurrent.futures import ProcessPoolExecutor; from fixed_costs import ready; "
        "T(); c = mp.get_context('forkserver'); c.set_forkserver_preload(['dataprep.pipeline.build', 'fixed_costs']); "
        "p = ProcessPoolExecutor(2, mp_context=c); list(p.map(ready, [0, 1])); p.shutdown()",
    "2 forked workers (the llm.c approach's pool)":
        "import multiprocessing as mp; T(); p = mp.get_context('fork').Pool(2); p.map(abs, [0, 1]); p.close()",
}


def ready(_: int) -> int:
    """What a build worker does before its first shard: import the build, load the tokenizer."""
    import dataprep.pipeline.build  # noqa: F401  (scan_shard's module)
    from dataprep.text.tokenizer import get_encoding

    get_encoding()
    return 0


def probe(code: str) -> float:
    """Seconds from T() (or the start) to the end of ``code``, in a fresh interpreter."""
    script = (
        "import time, sys; sys.path.insert(0, 'bench'); t0 = time.perf_counter()\n"
        "def T():\n    global t0\n    t0 = time.perf_counter()\n"
        f"{code}\n"
        "print(time.perf_counter() - t0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = {name: [] for name in PROBES}
    for _ in range(args.repeat):  # interleaved, so load falls on all alike
        for name, code in PROBES.items():
            rows[name].append(probe(code))
    print("| fixed cost | seconds (median) |")
    print("|---|---:|")
    for name, times in rows.items():
        print(f"| {name} | {statistics.median(times):.3f} |")
    print(json.dumps({k: statistics.median(v) for k, v in rows.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
