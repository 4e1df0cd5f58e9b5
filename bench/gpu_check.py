"""The one prepared GPU check, in two parts that each end within 5 minutes.

``--part throughput``: nanoGPT's unmodified train.py and ``dataprep train`` in each of its speed variants, side
by side on the same random GPT-2 token bins with the same model and batch (124M, block 1024, batch 32 x
grad-accum 2 = 65,536 tokens/step, bf16, compile), one table of tokens/s, MFU and the ratio to nanoGPT. No run
writes a checkpoint. Runs go in the order of VARIANTS, the most wanted first, and a run that would end past
``--budget-s`` (270 s; estimated from the longest run so far) is listed as not run instead: rerun those with
``--variants``.

``--part demo``: ``dataprep demo`` (single-file vs many-shard on generated text) on the GPU, and its figure.

Before the GPU window, where the repository and a package index are (dist/ is git-ignored: take it along):

    pip wheel --no-deps --no-build-isolation -w dist .

On the GPU machine (torch and numpy installed, no network), from the repository root:

    pip install --no-deps --no-index dist/dataprep-*.whl        # all that --part throughput needs
    python bench/gpu_check.py --part throughput --nanogpt ../shared/peers/nanoGPT --out /tmp/gpu-check
    python bench/gpu_check.py --part demo --out /tmp/gpu-check   # needs the data path's libraries too:
    # beforehand `pip wheel -w wheelhouse .` (the project and every dependency), there
    # `pip install --no-index --find-links wheelhouse dataprep`

On CPU, ``--smoke`` runs both parts on a tiny model in a minute or so (tests/test_gpu_check.py), so the script
cannot rot between GPU sessions; its figures measure nothing.

Each trainer runs through its command line as a user would, with ``--device auto``. Throughput is the median
over the log intervals after the warm-up steps (compile, first allocations), in tokens per second; MFU uses
dataprep's FLOP count per token of each arch for every row, so the rows are comparable.
"""

from __future__ import annotations

import argparse
import json
import pickle
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
SMOKE_VOCAB = 512  # a tiny model's vocab: smoke runs check the script, and a 50k vocab would be most of their time
BUDGET_S = 270  # the throughput part's runs end within this; the data and the table take seconds
RUN_TIMEOUT_S = 240  # one trainer's run: a 124M compile takes about a minute, its timed steps seconds
DEMO_TIMEOUT_S = 540  # the demo part's limit, under a 10-minute limit per command


@dataclass
class Shape:
    """One model and batch for every trainer."""

    model: str  # dataprep preset
    vocab: int  # token ids in the bins, and the vocab of every trainer
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


GPU = Shape("gpt2-124m", GPT2_VOCAB, 12, 12, 768, 1024, batch_size=32, grad_accum=2, steps=30, log_interval=5,
            warmup_steps=10)
SMOKE = Shape("tiny", SMOKE_VOCAB, 2, 2, 64, 64, batch_size=4, grad_accum=2, steps=8, log_interval=2, warmup_steps=2)


@dataclass(frozen=True)
class Variant:
    arch: str
    flags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return " ".join(["dataprep --arch", self.arch, *self.flags])


NANOGPT = "nanoGPT train.py"
# The trainer's speed switches (docs/benchmarks.md), in the order they run: the defaults first, then each switch
# alone against them, then all that could win together.
VARIANTS = (
    Variant("gpt2"),
    Variant("gpt2", ("--no-static-shapes",)),  # the trainer before static shapes: the baseline of issue 22
    Variant("modern"),
    Variant("modern", ("--fused-modern",)),
    Variant("gpt2", ("--attention", "cudnn")),
    Variant("gpt2", ("--chunked-loss",)),
    Variant("modern", ("--fused-modern", "--attention", "cudnn", "--chunked-loss")),
    Variant("gpt2", ("--attention", "cudnn", "--chunked-loss")),
)


def random_bins(directory: Path, vocab: int, train_tokens: int, val_tokens: int, seed: int = 0) -> Path:
    """train.bin and val.bin of random ids below ``vocab``; a smaller vocab than GPT-2's goes in nanoGPT's meta.pkl."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    rng.integers(0, vocab, train_tokens, dtype=np.uint16).tofile(directory / "train.bin")
    rng.integers(0, vocab, val_tokens, dtype=np.uint16).tofile(directory / "val.bin")
    if vocab != GPT2_VOCAB:
        with open(directory / "meta.pkl", "wb") as f:  # where nanoGPT's train.py reads a dataset's vocab size
            pickle.dump({"vocab_size": vocab}, f)
    return directory


class RunFailed(Exception):
    pass


def run(cmd: list[str], timeout: float, cwd: Path | None = None) -> str:
    """stdout of ``cmd``; RunFailed, with its last output, when it fails or passes ``timeout`` seconds."""
    print("$", " ".join(cmd), flush=True)
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"timed out after {timeout:.0f} s") from None
    if result.returncode != 0:
        print(f"failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}", flush=True)
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise RunFailed(f"exit {result.returncode}: {last[:200]}")
    return result.stdout


def dataprep_throughput(data: Path, out: Path, shape: Shape, variant: Variant, smoke: bool) -> tuple[float, dict]:
    """(median tokens/s over the timed log intervals, the run's resolved config)."""
    cmd = [
        sys.executable, "-m", "dataprep_cli.main", "train", str(data), "--out", str(out), "--model", shape.model,
        "--arch", variant.arch, "--batch-size", str(shape.batch_size), "--grad-accum", str(shape.grad_accum),
        "--max-iters", str(shape.steps), "--eval-interval", str(shape.steps), "--eval-windows", "8",
        "--log-interval", str(shape.log_interval), "--quiet", "--no-checkpoint", *variant.flags,
    ]
    if smoke:
        cmd += ["--n-layer", str(shape.n_layer), "--n-head", str(shape.n_head), "--n-embd", str(shape.n_embd),
                "--block-size", str(shape.block_size), "--vocab-size", str(shape.vocab)]
    run(cmd, RUN_TIMEOUT_S)
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
    out = run(cmd, RUN_TIMEOUT_S, cwd=work)
    times = [float(ms) for it, ms in re.findall(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", out)
             if int(it) > shape.warmup_steps]
    if not times:
        sys.exit(f"no timed iterations in nanoGPT's output:\n{out[-2000:]}")
    return shape.tokens_per_step / (statistics.median(times) / 1000)


def throughput(args, shape: Shape, out: Path) -> None:
    """Every trainer that fits the budget, then one table."""
    started = time.monotonic()
    tokens = shape.tokens_per_step * (shape.steps + 2)  # one epoch covers the run: no repeats while timing
    data = random_bins(out / "random", shape.vocab, tokens, 64 * (shape.block_size + 1))
    jobs: list[tuple[str, Variant | None]] = [(NANOGPT, None)] if args.nanogpt else []
    jobs += [(v.name, v) for v in VARIANTS if args.variants is None or v.name in args.variants]
    rows: dict[str, tuple | str] = {}  # name -> (tokens/s, resolved config or None, wall s), or why it has no figure
    longest = 0.0
    for i, (name, variant) in enumerate(jobs):
        if rows and longest > args.budget_s - (time.monotonic() - started):  # the first always runs
            rows[name] = f"not run: it would end past the {args.budget_s:.0f} s budget"
            continue
        run_started = time.monotonic()
        try:
            if variant is None:
                result = nanogpt_throughput(args.nanogpt, data, out / "nanogpt", shape, args.smoke), None
            else:
                result = dataprep_throughput(data, out / f"dataprep-{i}", shape, variant, args.smoke)
            rows[name] = (*result, time.monotonic() - run_started)
        except RunFailed as exc:  # one variant failing (a kernel this GPU lacks) leaves the others' figures
            rows[name] = f"failed: {exc}"
        longest = max(longest, time.monotonic() - run_started)
    print_table(rows, shape, time.monotonic() - started)


def print_table(rows: dict, shape: Shape, seconds: float) -> None:
    ran = {name: row for name, row in rows.items() if isinstance(row, tuple)}
    resolved = [row[1] for row in ran.values() if row[1] is not None]
    setup = f"{resolved[0]['dtype']}, compile {resolved[0]['compile']}, " if resolved else ""
    device = device_in_use()
    print(f"\n{shape.model}-shaped model ({shape.n_layer}x{shape.n_embd}), block {shape.block_size}, batch "
          f"{shape.batch_size} x grad-accum {shape.grad_accum} = {shape.tokens_per_step:,} tokens/step, {setup}"
          f"{device}; median of steps {shape.warmup_steps + 1}-{shape.steps}; {seconds:.0f} s in all\n")
    base = NANOGPT if NANOGPT in ran else next(iter(ran), None)
    # nanoGPT's FLOPs per token are those of dataprep's gpt2 arch: the same model
    gpt2_flops = next((r["flops_per_token"] for r in resolved if r["model"]["arch"] == "gpt2"), None)
    peak = peak_of(device)
    print(f"| trainer | tokens/s | MFU | x {(base or NANOGPT).split()[0]} | wall s |\n|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"| {name} | {row} | | | |")
            continue
        tokens_per_s, resolved_row, wall = row
        flops = resolved_row["flops_per_token"] if resolved_row else gpt2_flops
        mfu = f"{flops * tokens_per_s / peak:.1%}" if peak and flops else "-"
        print(f"| {name} | {tokens_per_s:,.0f} | {mfu} | {tokens_per_s / ran[base][0]:.2f} | {wall:.0f} |")


def demo(args, out: Path) -> None:
    iters = args.demo_iters if args.demo_iters is not None else (25 if args.smoke else 600)
    cmd = [sys.executable, "-m", "dataprep_cli.main", "demo", "--out", str(out / "demo"), "--iters", str(iters)]
    try:
        print(run(cmd + (["--shards", "3"] if args.smoke else []), DEMO_TIMEOUT_S))
    except RunFailed as exc:
        sys.exit(f"the demo failed: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("throughput", "demo"), required=True)
    parser.add_argument("--nanogpt", type=Path, help="a checkout of karpathy/nanoGPT (train.py, model.py, ...)")
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU: checks the script, measures nothing")
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--variants", nargs="+", metavar="NAME", choices=[v.name for v in VARIANTS],
                        help="run only these dataprep variants (their names as the table prints them)")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S,
                        help=f"throughput: no run starts that would likely end past this many seconds (default "
                        f"{BUDGET_S})")
    parser.add_argument("--demo-iters", type=int, help="steps of each single-vs-multi run (default 600, smoke 25)")
    args = parser.parse_args()
    if args.nanogpt and not (args.nanogpt / "train.py").is_file():
        parser.error(f"--nanogpt {args.nanogpt} holds no train.py: give a checkout of karpathy/nanoGPT")
    out = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if args.part == "throughput":
        throughput(args, SMOKE if args.smoke else GPU, out)
    else:
        demo(args, out)
    print(f"gpu_check --part {args.part} done in {time.time() - started:.0f} s; runs under {out}")


def device_in_use() -> str:
    """What dataprep's --device auto takes in one process, with the GPU's name."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:0 ({torch.cuda.get_device_name(0)})"


def peak_of(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    from dataprep.training.system import peak_flops

    return peak_flops(torch.device("cuda", 0))


if __name__ == "__main__":
    main()
