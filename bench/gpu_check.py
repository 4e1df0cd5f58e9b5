"""The one prepared GPU check: trainer throughput against nanoGPT, then single-file vs many-shard on built data.

    python bench/gpu_check.py --nanogpt ../shared/peers/nanoGPT        # on a GPU, about 6 minutes
    python bench/gpu_check.py --smoke --nanogpt ../shared/peers/nanoGPT  # on CPU, a minute: keeps it from rotting

Makes its own data (random GPT-2 token ids for throughput; `dataprep demo`'s generated world text for the
curves), needs no network, and runs each trainer through its command line exactly as a user would, with
`--device auto`. Throughput is the median over the timed steps after the warm-up (compile), in tokens per
second; MFU uses dataprep's FLOP count for both trainers so the two are comparable.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GPT2_VOCAB = 50257


@dataclass
class Shape:
    """One model and batch for both trainers."""

    model: str  # dataprep preset
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    batch_size: int
    grad_accum: int
    steps: int
    log_interval: int  # dataprep's; nanoGPT logs every step, as its own README run does
    warmup_steps: int  # left out of the median: torch.compile and the first allocations

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.block_size


GPU = Shape("gpt2-124m", 12, 12, 768, 1024, batch_size=32, grad_accum=2, steps=50, log_interval=5, warmup_steps=10)
SMOKE = Shape("tiny", 2, 2, 64, 64, batch_size=4, grad_accum=2, steps=12, log_interval=2, warmup_steps=4)


def random_bins(directory: Path, train_tokens: int, val_tokens: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    rng.integers(0, GPT2_VOCAB, train_tokens, dtype=np.uint16).tofile(directory / "train.bin")
    rng.integers(0, GPT2_VOCAB, val_tokens, dtype=np.uint16).tofile(directory / "val.bin")
    return directory


def run(cmd: list[str], cwd: Path | None = None) -> str:
    print("$", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def dataprep_throughput(data: Path, out: Path, shape: Shape, arch: str, smoke: bool) -> tuple[float, dict]:
    """(median tokens/s over the timed log intervals, the run's resolved config)."""
    cmd = [
        sys.executable, "-m", "dataprep_cli.main", "train", str(data), "--out", str(out), "--model", shape.model,
        "--arch", arch, "--batch-size", str(shape.batch_size), "--grad-accum", str(shape.grad_accum),
        "--max-iters", str(shape.steps), "--eval-interval", str(shape.steps), "--eval-windows", "8",
        "--log-interval", str(shape.log_interval), "--quiet",
    ]
    if smoke:
        cmd += ["--n-layer", str(shape.n_layer), "--n-head", str(shape.n_head), "--n-embd", str(shape.n_embd),
                "--block-size", str(shape.block_size)]
    run(cmd)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r["tokens_per_s"] for r in rows if r.get("tokens_per_s") and r["step"] > shape.warmup_steps]
    return statistics.median(timed), json.loads((out / "config.json").read_text())["resolved"]


def nanogpt_throughput(nanogpt: Path, data: Path, work: Path, shape: Shape, smoke: bool) -> float:
    """nanoGPT's train.py, unmodified, on the same bins and batch; median tokens/s of its timed iterations."""
    work.mkdir(parents=True)
    for name in ("train.py", "model.py", "configurator.py"):  # it reads configurator.py from its working dir
        shutil.copy(nanogpt / name, work / name)
    (work / "data").mkdir()
    (work / "data" / "bench").symlink_to(data.resolve())
    cmd = [
        sys.executable, "train.py", "--dataset=bench", f"--batch_size={shape.batch_size}",
        f"--block_size={shape.block_size}", f"--gradient_accumulation_steps={shape.grad_accum}",
        f"--n_layer={shape.n_layer}", f"--n_head={shape.n_head}", f"--n_embd={shape.n_embd}",
        "--bias=True",  # GPT-2 has biases, and so does dataprep's gpt2 arch
        f"--max_iters={shape.steps}", f"--lr_decay_iters={shape.steps}", "--eval_interval=100000",
        "--eval_iters=1", "--log_interval=1", "--always_save_checkpoint=False", f"--out_dir={work / 'out'}",
    ]
    cmd += ["--device=cpu", "--compile=False", "--dtype=float32"] if smoke else ["--compile=True", "--dtype=bfloat16"]
    out = run(cmd, cwd=work)
    times = [float(ms) for it, ms in re.findall(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", out)
             if int(it) > shape.warmup_steps]
    if not times:
        sys.exit(f"no timed iterations in nanoGPT's output:\n{out[-2000:]}")
    return shape.tokens_per_step / (statistics.median(times) / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nanogpt", type=Path, help="a checkout of karpathy/nanoGPT (train.py, model.py, ...)")
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU: checks the script, measures nothing")
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--demo-iters", type=int, help="steps of each single-vs-multi run (default 600, smoke 25)")
    args = parser.parse_args()
    shape = SMOKE if args.smoke else GPU
    out = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    tokens = shape.tokens_per_step * (shape.steps + 2)  # one epoch covers the run: no repeats while timing
    data = random_bins(out / "random", tokens, 64 * (shape.block_size + 1))
    rows = []
    for arch in ("gpt2", "modern"):
        tokens_per_s, resolved = dataprep_throughput(data, out / f"dataprep-{arch}", shape, arch, args.smoke)
        rows.append((f"dataprep train --arch {arch}", tokens_per_s, resolved))
    if args.nanogpt:
        reference = rows[0][2]  # the same model, so the same FLOPs per token
        rows.insert(0, ("nanoGPT train.py", nanogpt_throughput(args.nanogpt, data, out / "nanogpt", shape, args.smoke),
                        reference))

    device = rows[-1][2]["device"]
    print(f"\n{shape.model}-shaped model ({shape.n_layer}x{shape.n_embd}), block {shape.block_size}, batch "
          f"{shape.batch_size} x grad-accum {shape.grad_accum} = {shape.tokens_per_step:,} tokens/step, "
          f"{rows[-1][2]['dtype']}, compile {rows[-1][2]['compile']}, device {device}; median of steps "
          f"{shape.warmup_steps + 1}-{shape.steps}\n")
    base = rows[0][1]
    print(f"| trainer | tokens/s | MFU | x {rows[0][0].split()[0]} |\n|---|---:|---:|---:|")
    for name, tokens_per_s, resolved in rows:
        peak = peak_of(device)
        mfu = f"{resolved['flops_per_token'] * tokens_per_s / peak:.1%}" if peak else "-"
        print(f"| {name} | {tokens_per_s:,.0f} | {mfu} | {tokens_per_s / base:.2f} |")

    demo = out / "demo"
    iters = args.demo_iters or (25 if args.smoke else 600)
    demo_cmd = [sys.executable, "-m", "dataprep_cli.main", "demo", "--out", str(demo), "--iters", str(iters)]
    print(run(demo_cmd + (["--shards", "3"] if args.smoke else [])))
    print(f"gpu_check done in {time.time() - started:.0f} s; runs and figure under {out}")


def peak_of(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    from dataprep.training.system import peak_flops

    return peak_flops(torch.device(device))


if __name__ == "__main__":
    main()
