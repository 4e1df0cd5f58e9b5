"""How often a finished two-process torchrun run still fails at exit.

    python bench/torchrun_exits.py [--launches 80]

Trains a tiny model on CPU under ``torchrun --nproc_per_node 2`` again and
again (the same run as tests/test_train.py's torchrun test) and counts the
launches that exit non-zero, printing the first line each failing rank
wrote. Before train() waited at a barrier after the last step, a rank could
abort during interpreter teardown ("terminate called without an active
exception") in about one launch in twenty.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from dataprep.training.train import TrainConfig

RUN = "import json, sys\nfrom dataprep.training.train import TrainConfig, train\ntrain(TrainConfig(**json.loads(sys.argv[1])))\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=80)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="torchrun-exits-"))
    data = work / "data"
    data.mkdir()
    pattern = np.random.default_rng(0).integers(0, 64, 40)
    np.tile(pattern, 150).astype("<u2").tofile(data / "train.bin")
    np.tile(pattern, 30)[3:].astype("<u2").tofile(data / "val.bin")
    (work / "run.py").write_text(RUN)
    failures: Counter[str] = Counter()
    for launch in range(args.launches):
        cfg = TrainConfig(data_dir=str(data), out_dir=str(work / f"run{launch}"), n_layer=2, n_head=2, n_embd=32,
                          block_size=16, vocab_size=64, batch_size=8, max_iters=6, eval_interval=3, grad_accum=2,
                          eval_windows=16, lr=1e-2, device="cpu", quiet=True)
        result = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--tee", "3",
             str(work / "run.py"), json.dumps(asdict(cfg))],
            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        if result.returncode != 0:
            said = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if line.startswith("[default")]
            failures[said[0] if said else f"exit {result.returncode}"] += 1
        print(f"\rlaunch {launch + 1}/{args.launches}: {sum(failures.values())} failed", end="", file=sys.stderr)
    print(file=sys.stderr)
    print(f"| launches | failed |\n|---:|---:|\n| {args.launches} | {sum(failures.values())} |")
    for line, count in failures.most_common():
        print(f"- {count} x {line}")


if __name__ == "__main__":
    main()
