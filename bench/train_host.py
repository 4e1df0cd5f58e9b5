"""Host-side cost of one micro-batch: what the CPU spends per step before the GPU can start.

    python bench/train_host.py [--batch 32] [--block 1024] [--tokens 200M]

Times, on a memory-mapped uint16 train.bin of random GPT-2 ids: nanoGPT's get_batch (a Python list of
slices, stacked twice); dataprep's WindowLoader.next_batch (one gather per file); the per-window loop
that next_batch used before it; and the per-micro-batch vocab check the trainer used to run (now once per
file at load). On a GPU these costs overlap with the previous step's kernels once no host sync waits for
them, so they matter when they approach the step time (about 130 ms for 124M at 65k tokens on an H200).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dataprep.training.train import WindowLoader, check_vocab


def per_window_loop(loader: WindowLoader, rows: int) -> np.ndarray:
    """next_batch as it was: one Python step per window."""
    windows, T = loader._next_windows(rows), loader.block_size
    batch = np.empty((len(windows), T + 1), dtype=np.int64)
    for row, window in enumerate(windows):
        f = int(np.searchsorted(loader.window_ends, window, side="right"))
        first = int(window) - (int(loader.window_ends[f - 1]) if f else 0)
        batch[row] = loader.files[f][first * T : first * T + T + 1]
    return batch


def nanogpt_get_batch(data: np.ndarray, rows: int, T: int, rng: np.random.Generator):
    ix = rng.integers(0, len(data) - T, rows)
    x = torch.stack([torch.from_numpy(data[i : i + T].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1 : i + 1 + T].astype(np.int64)) for i in ix])
    return x, y


def median_ms(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--tokens", type=float, default=200e6)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.bin"
        np.random.default_rng(0).integers(0, 50257, int(args.tokens), dtype=np.uint16).tofile(path)
        data = np.memmap(path, dtype=np.uint16, mode="r")
        loader, rng = WindowLoader([data], args.block, seed=0), np.random.default_rng(0)
        rows = [
            ("nanoGPT get_batch (x and y)", median_ms(lambda: nanogpt_get_batch(data, args.batch, args.block, rng),
                                                      args.repeats)),
            ("dataprep next_batch, per-window loop (before)", median_ms(lambda: per_window_loop(loader, args.batch),
                                                                       args.repeats)),
            ("dataprep next_batch, one gather (now)", median_ms(lambda: loader.next_batch(args.batch), args.repeats)),
        ]
        batch = loader.next_batch(args.batch)
        rows.append(("vocab check of one micro-batch (before: every micro-batch)",
                     median_ms(lambda: check_vocab(batch, 50304, "bench"), args.repeats)))
        started = time.perf_counter()
        check_vocab(data, 50304, "bench")
        once = (time.perf_counter() - started) * 1000
    print(f"batch {args.batch} x block {args.block}, train.bin of {args.tokens / 1e6:.0f}M tokens, median of "
          f"{args.repeats}\n\n| host work per micro-batch | ms |\n|---|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} |")
    print(f"| vocab check of the whole train.bin, once at load (now) | {once:.1f} |")


if __name__ == "__main__":
    main()
