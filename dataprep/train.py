"""Train a GPT on token bins and record the curve that shows when a run has run out of unique data.

One function, ``train(TrainConfig)``, in the shape of nanoGPT's train.py: data in seeded epochs of
non-overlapping windows, a fixed val set (same windows for every run on the same val file), AdamW
with cosine or warmup-stable-decay, checkpoints that resume onto the same curve, and DDP under torchrun.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from dataprep.atomic import atomic_path, write_json
from dataprep.errors import DataprepError
from dataprep.model import GPT, preset_config
from dataprep.tokens import file_digest, find_data, load_tokens

VAL_WINDOW_SEED = 0  # fixed forever: it is what makes val losses of different runs comparable point for point
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense, per GPU
EPOCH_WARNING = "the run has now seen every training token once (epoch 1.0); further steps repeat data"
TIMING_KEYS = ("tokens_per_s", "mfu")  # the only metrics that differ between identical runs


@dataclass
class TrainConfig:
    data_dir: str
    out_dir: str
    val_bin: str | None = None  # score on this file instead of the data dir's val file
    # model: a preset, optionally resized
    model: str = "tiny"
    arch: str = "gpt2"
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    block_size: int | None = None
    vocab_size: int | None = None  # None: the preset's 50304 (GPT-2 padded)
    dropout: float = 0.0
    # length: give exactly one
    max_iters: int | None = None
    max_tokens: int | None = None
    # a step is grad_accum micro-batches of batch_size sequences; batch_size counts all GPUs together,
    # so the curve in tokens does not depend on how many GPUs ran it
    batch_size: int = 16
    grad_accum: int = 1
    # optimizer and schedule
    lr: float = 6e-4
    min_lr: float | None = None  # None: lr / 10
    warmup: int | None = None  # steps; None: 5% of the run
    schedule: str = "cosine"  # or "wsd": warmup, stable, linear decay over the last decay_frac of the steps
    decay_frac: float = 0.2
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # 0 turns clipping off
    # evaluation and logging
    eval_interval: int = 250
    eval_windows: int = 200
    log_interval: int = 10
    patience: int = 3  # evals without a val improvement, while train loss falls, before the overfitting warning
    # system
    seed: int = 1337
    device: str = "auto"  # cuda if available, else cpu
    dtype: str = "auto"  # bfloat16 autocast on CUDA, float32 elsewhere
    compile: bool | str = "auto"  # on for CUDA
    resume: bool = False
    quiet: bool = False


def check_config(cfg: TrainConfig) -> None:
    """Every option a user can get wrong, refused with one line before any work starts."""
    if (cfg.max_iters is None) == (cfg.max_tokens is None):
        raise DataprepError("give exactly one of --max-iters or --max-tokens")
    positive = ["batch_size", "grad_accum", "eval_interval", "eval_windows", "log_interval", "patience"]
    positive += ["max_iters"] if cfg.max_iters is not None else ["max_tokens"]
    for name in positive:
        if getattr(cfg, name) < 1:
            raise DataprepError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if not cfg.lr > 0 or (cfg.min_lr is not None and not 0 <= cfg.min_lr <= cfg.lr):
        raise DataprepError(f"need --lr > 0 and 0 <= --min-lr <= --lr, got lr {cfg.lr}, min_lr {cfg.min_lr}")
    if cfg.warmup is not None and cfg.warmup < 0:
        raise DataprepError(f"--warmup must be >= 0, got {cfg.warmup}")
    if cfg.schedule not in ("cosine", "wsd"):
        raise DataprepError(f"--schedule must be cosine or wsd, got {cfg.schedule!r}")
    if not 0 <= cfg.decay_frac <= 1:
        raise DataprepError(f"decay_frac must be between 0 and 1, got {cfg.decay_frac}")
    if cfg.weight_decay < 0 or cfg.grad_clip < 0 or not all(0 <= b < 1 for b in cfg.betas):
        raise DataprepError("weight_decay and grad_clip must be >= 0 and betas in [0, 1)")
    if cfg.dtype not in ("auto", "float32", "bfloat16"):
        raise DataprepError(f"--dtype must be auto, float32 or bfloat16, got {cfg.dtype!r}")
    if cfg.compile not in ("auto", True, False):
        raise DataprepError(f"compile must be 'auto', True or False, got {cfg.compile!r}")
    if cfg.seed < 0:
        raise DataprepError(f"--seed must be >= 0, got {cfg.seed}")


# ----------------------------------------------------------------------------- data


class WindowLoader:
    """Non-overlapping block_size windows of the train files, in a fresh seeded order every epoch.

    Windows are drawn without replacement, so an epoch shows each window exactly once. The order of
    epoch e depends only on (seed, e), so the loader's whole state is two integers.
    """

    def __init__(self, files: list[np.ndarray], block_size: int, seed: int):
        self.files = files
        self.block_size = block_size
        self.seed = seed
        # a window needs block_size + 1 tokens: its targets run one token past it
        self.window_ends = np.cumsum([(len(f) - 1) // block_size for f in files])
        self.num_windows = int(self.window_ends[-1])
        if self.num_windows == 0:
            raise DataprepError(f"the train data holds fewer than block_size + 1 = {block_size + 1} tokens")
        self.epoch = 0
        self.cursor = 0
        self.order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)

    def state(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state(self, state: dict) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self.order = self._permutation(self.epoch)

    def _next_windows(self, count: int) -> np.ndarray:
        taken = []
        while count:
            n = min(count, self.num_windows - self.cursor)
            taken.append(self.order[self.cursor : self.cursor + n])
            self.cursor += n
            count -= n
            if self.cursor == self.num_windows:
                self.epoch, self.cursor = self.epoch + 1, 0
                self.order = self._permutation(self.epoch)
        return np.concatenate(taken)

    def next_batch(self, rows: int, rank: int = 0, world: int = 1) -> np.ndarray:
        """This rank's share of the next ``rows`` windows, as (rows / world, block_size + 1) int64."""
        windows = self._next_windows(rows)
        share = rows // world
        mine = windows[rank * share : (rank + 1) * share]
        T = self.block_size
        batch = np.empty((len(mine), T + 1), dtype=np.int64)
        for row, window in enumerate(mine):
            file_index = int(np.searchsorted(self.window_ends, window, side="right"))
            first = int(window) - (int(self.window_ends[file_index - 1]) if file_index else 0)
            batch[row] = self.files[file_index][first * T : first * T + T + 1]
        return batch


def val_windows(tokens: np.ndarray, block_size: int, count: int) -> np.ndarray:
    """A fixed sample of the val file's windows; a function of the file, block_size and count only.

    Taking a prefix of one fixed permutation means a run scored on fewer windows uses a subset of these.
    """
    total = (len(tokens) - 1) // block_size
    if total == 0:
        raise DataprepError(f"the val file holds fewer than block_size + 1 = {block_size + 1} tokens")
    picked = np.sort(np.random.default_rng(VAL_WINDOW_SEED).permutation(total)[:count])
    return np.stack([tokens[w * block_size : w * block_size + block_size + 1] for w in picked]).astype(np.int64)


def check_vocab(batch: np.ndarray, vocab_size: int, where: str) -> None:
    top = int(batch.max())
    if top >= vocab_size:
        raise DataprepError(
            f"{where} holds token id {top}, outside the model's vocab_size {vocab_size}; "
            "is the dtype right (meta.json), or does the model need a larger --vocab-size?"
        )


# ----------------------------------------------------------------------------- schedule


@dataclass
class Schedule:
    """Linear warmup, then cosine down to min_lr, or (wsd) stable at lr then linear down over the last decay_frac."""

    kind: str
    lr: float
    min_lr: float
    warmup: int
    max_iters: int
    decay_frac: float = 0.2

    def lr_at(self, step: int) -> float:
        """The lr for the update that takes the model from ``step`` to ``step + 1``."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.kind == "cosine":
            progress = min(1.0, (step - self.warmup) / max(1, self.max_iters - self.warmup))
            return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
        decay_steps = max(1, round(self.decay_frac * self.max_iters))
        decay_start = self.max_iters - decay_steps
        if step < decay_start:
            return self.lr
        progress = min(1.0, (step + 1 - decay_start) / decay_steps)
        return self.lr + (self.min_lr - self.lr) * progress


# ----------------------------------------------------------------------------- warnings


@dataclass
class RunMonitor:
    """Watches the curve for the two signs that a run has used up its unique data."""

    patience: int
    epoch_warned: bool = False
    overfit_warned: bool = False
    best_val: float = math.inf
    best_epoch: float = 0.0
    train_at_best: float | None = None  # mean train loss over the eval interval that ended at the best val
    evals_since_best: int = 0

    def after_step(self, epoch: float) -> str | None:
        if epoch >= 1.0 and not self.epoch_warned:
            self.epoch_warned = True
            return EPOCH_WARNING
        return None

    def after_eval(self, epoch: float, val_loss: float, train_loss: float | None) -> str | None:
        if val_loss < self.best_val:
            self.best_val, self.best_epoch, self.train_at_best = val_loss, epoch, train_loss
            self.evals_since_best = 0
            return None
        self.evals_since_best += 1
        if self.train_at_best is None:  # the best was the untrained model: measure the fall from here
            self.train_at_best = train_loss
        train_falls = train_loss is not None and self.train_at_best is not None and train_loss < self.train_at_best
        if self.evals_since_best < self.patience or not train_falls or self.overfit_warned:
            return None
        self.overfit_warned = True
        return (
            f"overfitting at epoch {epoch:.2f}: val loss has not improved for {self.evals_since_best} evals "
            f"(best {self.best_val:.4f} at epoch {self.best_epoch:.2f}) while train loss still falls "
            f"({self.train_at_best:.4f} -> {train_loss:.4f}); the run is repeating data it has memorised"
        )


# ----------------------------------------------------------------------------- files


class MetricsLog:
    """out_dir/metrics.jsonl, one JSON object per line; only rank 0 writes."""

    def __init__(self, path: Path, enabled: bool):
        self.path = path
        self.enabled = enabled

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def keep_until(self, step: int) -> None:
        """Drop what a crashed run logged after its last checkpoint, so the resumed run rewrites it."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # a line the crash cut short
                continue
            if record["step"] <= step:
                kept.append(line + "\n")
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(kept))


def save_checkpoint(path: Path, state: dict) -> None:
    """Write tmp, fsync, rename: a crash mid-write leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise DataprepError(f"no checkpoint {path} to resume from; start the run without --resume")
    try:
        # weights_only: a checkpoint is tensors and plain values; anything else could run code on load
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataprepError(f"{path} is not a checkpoint this trainer wrote; refusing to load it ({reason})") from None


def check_resumable(ckpt: dict, expected: dict) -> None:
    """A checkpoint only continues the same curve with the same model, data and batch geometry."""
    for key, want in expected.items():
        if ckpt.get(key) != want:
            raise DataprepError(
                f"cannot resume: the checkpoint's {key} is {ckpt.get(key)!r} but this run's is {want!r}"
            )


# ----------------------------------------------------------------------------- system


def start_distributed() -> tuple[int, int, int]:
    """(rank, local_rank, world_size); a process group only when torchrun started several processes."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if "RANK" not in os.environ or world == 1:
        return 0, 0, 1
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), world


def resolve_device(name: str, local_rank: int, world: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and world > 1:
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DataprepError(f"--device {name!r} is not a device torch knows (try cpu or cuda)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DataprepError("--device cuda, but torch sees no CUDA GPU")
        torch.cuda.set_device(device)
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16_ok else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def peak_flops(device: torch.device) -> float | None:
    """The GPU's dense bf16 peak, for MFU; None where we do not know it (CPU, other GPUs)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def say(message: str, quiet: bool = False, is_main: bool = True) -> None:
    if is_main and not quiet:
        print(message, flush=True)


# ----------------------------------------------------------------------------- the loop


@torch.no_grad()
def evaluate(model, windows: torch.Tensor, rows: int, autocast, rank: int, world: int) -> float:
    """Mean loss over the fixed val windows; ranks split the windows and add up."""
    model.eval()
    totals = torch.zeros(2, device=windows.device, dtype=torch.float64)  # loss summed over windows, windows
    for chunk in windows[rank::world].split(rows):
        with autocast:
            _, loss = model(chunk[:, :-1], chunk[:, 1:])
        totals[0] += loss.double() * len(chunk)
        totals[1] += len(chunk)
    if world > 1:
        dist.all_reduce(totals)
    model.train()
    return (totals[0] / totals[1]).item()


def smaller_batch_advice(batch_size: int, grad_accum: int, world: int) -> str:
    """Settings that hold fewer sequences at once for the same tokens per step, or what to shrink instead."""
    rows = batch_size // world  # sequences each GPU holds at once
    # the smallest factor costs the least extra accumulation; 16 -> 8 with twice the micro-batches
    factor = next((f for f in range(2, rows + 1) if rows % f == 0), None)
    if factor is None:
        return "--batch-size is already one sequence per GPU: try a smaller --block-size or a smaller --model"
    return f"try --batch-size {batch_size // factor} --grad-accum {grad_accum * factor}, the same tokens per step"


def forward_backward(model, loader, cfg, vocab_size, device, autocast, rank, world) -> tuple[float, float]:
    """Accumulate one step's gradients and clip them; returns (mean loss over all ranks, grad norm)."""
    total = torch.zeros((), device=device)
    for micro in range(cfg.grad_accum):
        batch = loader.next_batch(cfg.batch_size, rank, world)
        check_vocab(batch, vocab_size, "the train data")
        batch = torch.from_numpy(batch)
        batch = batch.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else batch.to(device)
        # DDP all-reduces gradients on every backward; only the last micro-batch's needs to
        last = micro == cfg.grad_accum - 1
        with model.no_sync() if world > 1 and not last else nullcontext():
            with autocast:
                _, loss = model(batch[:, :-1], batch[:, 1:])
            (loss / cfg.grad_accum).backward()
        total += loss.detach()
    if world > 1:
        dist.all_reduce(total)
    max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return total.item() / (cfg.grad_accum * world), grad_norm.item()


@dataclass
class RunData:
    train_files: list[Path]
    val_file: Path
    train: list[np.ndarray]
    val: np.ndarray
    val_digest: str  # what says two runs were scored on the same val set

    @property
    def train_tokens(self) -> int:
        return sum(len(t) for t in self.train)


def load_data(cfg: TrainConfig) -> RunData:
    train_files, val_file = find_data(cfg.data_dir, cfg.val_bin)
    return RunData(
        train_files=train_files,
        val_file=val_file,
        train=[load_tokens(p) for p in train_files],
        val=load_tokens(val_file),
        val_digest=file_digest(val_file),
    )


def checkpoint_state(identity: dict, raw_model, optimizer, step: int, loader, monitor, device) -> dict:
    """Everything a resume needs to redraw the same curve, as tensors and plain values (weights_only loads it)."""
    return {
        **identity,
        "model": raw_model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "loader": loader.state(),
        "monitor": asdict(monitor),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        },
    }


def restore(ckpt: dict, identity: dict, raw_model, optimizer, loader, device) -> tuple[int, RunMonitor]:
    """Load a checkpoint into the fresh objects; returns (step, monitor)."""
    check_resumable(ckpt, identity)
    raw_model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    loader.load_state(ckpt["loader"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if device.type == "cuda" and ckpt["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    return int(ckpt["step"]), RunMonitor(**ckpt["monitor"])


def terminal_line(record: dict) -> str:
    parts = [f"step {record['step']:>6}"]
    if record.get("train_loss") is not None:
        parts.append(f"loss {record['train_loss']:.4f}")
    if record.get("val_loss") is not None:
        parts.append(f"val {record['val_loss']:.4f}")
    parts.append(f"epoch {record['epoch']:.2f}")
    if record.get("lr") is not None:
        parts.append(f"lr {record['lr']:.2e}")
    if record.get("tokens_per_s"):
        parts.append(f"{record['tokens_per_s']:,.0f} tok/s")
    if record.get("mfu"):
        parts.append(f"mfu {record['mfu']:.1%}")
    return " | ".join(parts)


def train(cfg: TrainConfig) -> Path:
    """Run the training described by ``cfg``; returns the run directory."""
    check_config(cfg)
    rank, local_rank, world = start_distributed()
    try:
        out_dir = _train(cfg, rank, local_rank, world)
        if world > 1:
            # rank 0 still saves the last checkpoint; a rank that exits a moment before its peer closes the gloo
            # connection can abort during interpreter teardown, failing a run that trained to the end
            dist.barrier()
        return out_dir
    finally:
        if world > 1:
            dist.destroy_process_group()


def _train(cfg: TrainConfig, rank: int, local_rank: int, world: int) -> Path:
    is_main = rank == 0
    data = load_data(cfg)
    out_dir = Path(cfg.out_dir)
    ckpt_path = out_dir / "ckpt.pt"
    if ckpt_path.exists() and not cfg.resume:
        raise DataprepError(f"{out_dir} already holds a run; pass --resume to continue it, or choose another --out")
    if cfg.batch_size % world:
        raise DataprepError(f"--batch-size {cfg.batch_size} must divide evenly across {world} GPUs")

    # model, batches and run length
    model_config = preset_config(
        cfg.model, arch=cfg.arch, n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd,
        block_size=cfg.block_size, vocab_size=cfg.vocab_size, dropout=cfg.dropout,
    )
    T = model_config.block_size
    tokens_per_step = cfg.batch_size * cfg.grad_accum * T
    max_iters = cfg.max_iters if cfg.max_iters is not None else math.ceil(cfg.max_tokens / tokens_per_step)
    schedule = Schedule(
        kind=cfg.schedule, lr=cfg.lr, min_lr=cfg.min_lr if cfg.min_lr is not None else cfg.lr / 10,
        warmup=cfg.warmup if cfg.warmup is not None else max_iters // 20, max_iters=max_iters,
        decay_frac=cfg.decay_frac,
    )
    loader = WindowLoader(data.train, T, cfg.seed)
    val_set = val_windows(data.val, T, cfg.eval_windows)
    check_vocab(val_set, model_config.vocab_size, f"val file {data.val_file}")

    # system
    device = resolve_device(cfg.device, local_rank, world)
    dtype = resolve_dtype(cfg.dtype, device)
    dtype_name = str(dtype).removeprefix("torch.")
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    use_compile = device.type == "cuda" if cfg.compile == "auto" else cfg.compile
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for the float32 matmuls autocast leaves

    torch.manual_seed(cfg.seed)
    raw_model = GPT(model_config).to(device)
    optimizer = raw_model.configure_optimizer(cfg.weight_decay, cfg.lr, cfg.betas, device.type)
    monitor = RunMonitor(cfg.patience)
    metrics = MetricsLog(out_dir / "metrics.jsonl", is_main)
    # what must not change between a checkpoint and the run that resumes it
    identity = {
        "model_config": asdict(model_config), "val_digest": data.val_digest, "train_tokens": data.train_tokens,
        "tokens_per_step": tokens_per_step, "seed": cfg.seed,
    }
    step = 0
    if cfg.resume:
        step, monitor = restore(load_checkpoint(ckpt_path), identity, raw_model, optimizer, loader, device)
        metrics.keep_until(step)
    elif is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics.path.unlink(missing_ok=True)

    if is_main:
        for stale in out_dir.glob(".*.tmp-*"):  # a save cut short by a kill; the real checkpoint is intact
            stale.unlink()
    params, flops_per_token = raw_model.num_params(), raw_model.flops_per_token()
    if is_main:
        write_json(out_dir / "config.json", {
            **asdict(cfg),
            "data_dir": str(Path(cfg.data_dir).resolve()),
            "train_files": [str(p.resolve()) for p in data.train_files],
            "val_file": str(data.val_file.resolve()),
            "val_digest": data.val_digest,
            "train_tokens": data.train_tokens,
            "val_tokens": len(data.val),
            "resolved": {
                "max_iters": max_iters, "warmup": schedule.warmup, "min_lr": schedule.min_lr,
                "tokens_per_step": tokens_per_step, "val_windows": len(val_set), "device": str(device),
                "dtype": dtype_name, "compile": use_compile, "world_size": world, "model": asdict(model_config),
                "params": params, "flops_per_token": flops_per_token,
            },
        })
    planned_epochs = max_iters * tokens_per_step / data.train_tokens
    say(f"model {params / 1e6:.2f}M params | train data {data.train_tokens:,} tokens | {max_iters} steps of "
        f"{tokens_per_step:,} tokens = {planned_epochs:.2f} epochs | {device} {dtype_name}", cfg.quiet, is_main)

    model = eval_model = torch.compile(raw_model) if use_compile else raw_model
    if world > 1:
        model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)
    val_set = torch.from_numpy(val_set).to(device)
    eval_rows = max(1, cfg.batch_size // world)
    peak = peak_flops(device)

    def warn(message: str | None) -> None:
        if message and is_main:
            print(f"warning: {message}", file=sys.stderr, flush=True)
            metrics.write({"step": step, "epoch": step * tokens_per_step / data.train_tokens, "warning": message})

    def fail(message: str) -> None:
        metrics.write({"step": step, "error": message})
        raise DataprepError(message)

    def kept() -> str:
        return f"the last good checkpoint {ckpt_path} is kept" if ckpt_path.exists() else "no checkpoint yet"

    def guarded(during: str, work, *args):
        """work(*args), with CUDA running out of memory turned into one line that says what fits."""
        try:
            return work(*args)
        except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError in torch >= 2.5, the same class
            pass
        # handled here, after the except block, so the error's traceback no longer pins the step's tensors
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        fail(f"out of GPU memory {during} with --batch-size {cfg.batch_size} --grad-accum {cfg.grad_accum} "
             f"(block {T}, model {cfg.model}): {smaller_batch_advice(cfg.batch_size, cfg.grad_accum, world)}; "
             f"stopping, {kept()}")

    if step == 0:
        record = {"step": 0, "tokens": 0, "epoch": 0.0, "lr": None, "train_loss": None,
                  "val_loss": guarded("in the eval at step 0", evaluate, eval_model, val_set, eval_rows, autocast,
                                      rank, world)}
        monitor.after_eval(0.0, record["val_loss"], None)
        metrics.write(record)
        say(terminal_line(record), cfg.quiet, is_main)
    elif step >= max_iters:
        say(f"{out_dir} is already at step {step} of {max_iters}; nothing to do", cfg.quiet, is_main)

    # train losses and seconds since the last log line, and losses since the last eval; all are empty at
    # every checkpoint (checkpoints follow evals, and evals are always logged), so a resume needs none of them
    log_losses, log_seconds, eval_losses = [], 0.0, []
    # the step of the checkpoint on disk, for the message after Ctrl-C
    saved_step = step if cfg.resume else None
    try:
        while step < max_iters:
            lr = schedule.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            started = time.perf_counter()
            loss, grad_norm = guarded(f"at step {step + 1}", forward_backward, model, loader, cfg,
                                      model_config.vocab_size, device, autocast, rank, world)
            step += 1
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                # checked before the optimizer step, so neither the weights nor the checkpoint see the bad update
                fail(f"loss became {loss} (grad norm {grad_norm}) at step {step}; stopping, {kept()}; try a lower --lr")
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            log_seconds += time.perf_counter() - started
            log_losses.append(loss)
            eval_losses.append(loss)
            epoch = step * tokens_per_step / data.train_tokens
            warn(monitor.after_step(epoch))

            is_eval = step % cfg.eval_interval == 0 or step == max_iters
            if not is_eval and step % cfg.log_interval:
                continue
            tokens_per_s = len(log_losses) * tokens_per_step / log_seconds if log_seconds > 0 else None
            record = {
                "step": step, "tokens": step * tokens_per_step, "epoch": epoch, "lr": lr,
                "train_loss": sum(log_losses) / len(log_losses), "grad_norm": grad_norm,
                "tokens_per_s": tokens_per_s,
                "mfu": flops_per_token * tokens_per_s / (peak * world) if peak and tokens_per_s else None,
            }
            log_losses, log_seconds = [], 0.0
            overfit_warning = None
            if is_eval:
                record["val_loss"] = guarded(f"in the eval at step {step}", evaluate, eval_model, val_set, eval_rows,
                                             autocast, rank, world)
                if not math.isfinite(record["val_loss"]):
                    fail(f"val loss became {record['val_loss']} at step {step}; stopping, {kept()}")
                train_loss = sum(eval_losses) / len(eval_losses)
                overfit_warning = monitor.after_eval(epoch, record["val_loss"], train_loss)
                eval_losses = []
            metrics.write(record)
            say(terminal_line(record), cfg.quiet, is_main)
            warn(overfit_warning)
            if is_eval:
                if is_main:
                    state = checkpoint_state(identity, raw_model, optimizer, step, loader, monitor, device)
                    save_checkpoint(ckpt_path, state)
                saved_step = step
    except KeyboardInterrupt:
        # said here, where the steps are known; still a KeyboardInterrupt, so callers and the CLI (exit 130)
        # treat it as Ctrl-C. Nothing is saved: resume goes back to the last checkpoint, which is whole.
        if saved_step is None:
            raise KeyboardInterrupt(f"interrupted at step {step}, before the first checkpoint; "
                                    "rerun the same command to start again") from None
        raise KeyboardInterrupt(f"interrupted at step {step}; rerun the same command with --resume to continue "
                                f"from the checkpoint at step {saved_step}") from None
    return out_dir
