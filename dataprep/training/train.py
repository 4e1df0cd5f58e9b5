"""Train a GPT on token bins and record the curve that shows when a run has run out of unique data.

One function, ``train(TrainConfig)``, in the shape of nanoGPT's train.py: data in seeded epochs of
non-overlapping windows, a fixed val set (same windows for every run on the same val file), AdamW
with cosine or warmup-stable-decay, checkpoints that resume onto the same curve, and DDP under torchrun.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from dataprep.io.atomic import atomic_path, write_json
from dataprep.io.lock import try_lock, unlock
from dataprep.errors import DataprepError, printable
from dataprep.tables import duration
from dataprep.training.config import (COMPUTE_SWITCHES, DEFAULT_BATCH, MIN_LR_DIVISOR, WARMUP_PERCENT, TrainConfig,
                                      check_config, preset_config)
from dataprep.training.model import GPT
from dataprep.training.system import System, distributed_env, end_process_group, resolve_system, start_process_group
from dataprep.io.digest import sampled_digest
from dataprep.io.tokens import file_digest, open_data

VAL_WINDOW_SEED = 0  # fixed forever: it is what makes val losses of different runs comparable point for point
EPOCH_WARNING = "the run has now seen every training token once (epoch 1.0); further steps repeat data"
TIMING_KEYS = ("tokens_per_s", "mfu")  # the only metrics that differ between identical runs


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
        file_of = np.searchsorted(self.window_ends, mine, side="right")
        first_token = (mine - np.concatenate(([0], self.window_ends[:-1]))[file_of]) * T
        span = np.arange(T + 1)
        batch = np.empty((len(mine), T + 1), dtype=np.int64)
        for f in np.unique(file_of):  # one gather per file rather than a Python step per window
            rows_of_f = np.flatnonzero(file_of == f)
            batch[rows_of_f] = self.files[f][first_token[rows_of_f, None] + span]
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


def check_vocab(tokens: np.ndarray, vocab_size: int, where: str, chunk: int = 1 << 24) -> None:
    """Refuse token ids the model has no embedding for; run once per file at load, in chunks so a memmap stays cheap."""
    top = max(int(tokens[i : i + chunk].max()) for i in range(0, len(tokens), chunk))
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
            with writing(self.path), open(self.path, "a") as f:
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
        with writing(self.path), atomic_path(self.path) as tmp:
            tmp.write_text("".join(kept))


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """A failed write (full disk, lost permission) as one line naming the file."""
    try:
        yield
    except OSError as exc:
        raise DataprepError(f"cannot write {path}: {exc.strerror or exc}") from None


def save_checkpoint(path: Path, state: dict) -> None:
    """Write tmp, fsync, rename: a crash mid-write leaves the previous checkpoint intact."""
    with writing(path), atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)  # through a Python file, so a full disk is an OSError rather than a C++ assertion


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


# ----------------------------------------------------------------------------- data on disk


@dataclass
class RunData:
    train_files: list[Path]
    val_file: Path
    train: list[np.ndarray]
    val: np.ndarray
    val_digest: str  # what says two runs were scored on the same val set
    train_digest: str  # what says a resume continues on the same train data

    @property
    def train_tokens(self) -> int:
        return sum(len(t) for t in self.train)


def load_data(cfg: TrainConfig, vocab_size: int) -> RunData:
    """The token files (a dataprep build's checked against its meta.json), each checked once against the model's
    vocab, so the step loop never has to."""
    train_files, val_file, train, val = open_data(cfg.data_dir, cfg.val_bin)
    for path, tokens in zip(train_files, train):
        check_vocab(tokens, vocab_size, f"train file {path}")
    check_vocab(val, vocab_size, f"val file {val_file}")
    return RunData(
        train_files=train_files, val_file=val_file, train=train, val=val, val_digest=file_digest(val_file),
        train_digest=sampled_digest(train_files),
    )


RUN_FILES = ("ckpt.pt", "metrics.jsonl", "config.json")  # everything the trainer writes into a run directory


@contextmanager
def run_dir_lock(out_dir: Path) -> Iterator[None]:
    """The run directory locked (flock) for the whole run, so that a second trainer into it refuses instead
    of writing its steps between this one's. A directory this created and left empty (the run stopped
    before writing anything) is removed again."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataprepError(f"--out {out_dir} is a file, not a run directory")
    created = not out_dir.exists()
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = try_lock(out_dir)
    if fd is None:
        raise DataprepError(f"another dataprep train is running in {out_dir}; wait for it to end or choose another "
                            "--out")
    try:
        yield
    finally:
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()
        unlock(fd)


def prepare_run_dir(out_dir: Path, run_config: dict, resume: bool) -> None:
    """Refuse a run directory that holds something this run must not replace; clear our own stale temporaries.

    Called under ``run_dir_lock``: no other trainer writes here, so every temporary of ours is a dead one's.
    """
    if (out_dir / "ckpt.pt").exists() and not resume:
        raise DataprepError(f"{out_dir} already holds a run; pass --resume to continue it, or choose another --out")
    if not resume and ((out_dir / "metrics.jsonl").exists() or (out_dir / "config.json").exists()):
        # a run stopped before its first checkpoint may start again (its own message says so), but only the
        # same run: another run's curve is never overwritten without a word
        if not same_run(read_json(out_dir / "config.json"), run_config):
            raise DataprepError(f"{out_dir} holds the log of another run (no checkpoint); choose another --out "
                                "or delete that directory")
    for name in RUN_FILES:
        for stale in out_dir.glob(f".{name}.tmp-*"):  # a save cut short by a kill; the real file is intact
            stale.unlink(missing_ok=True)


def same_run(a: dict | None, b: dict) -> bool:
    """Two config.json say the same run; --quiet, --resume, --no-checkpoint, the label and how the step computes
    change what is printed, kept or how fast, not the curve."""
    if not isinstance(a, dict):
        return False
    b = json.loads(json.dumps(b))  # as read back from disk: tuples become lists
    ignored = ("quiet", "resume", "checkpoint", "label", *COMPUTE_SWITCHES)
    return {k: v for k, v in a.items() if k not in ignored} == {k: v for k, v in b.items() if k not in ignored}


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_config(cfg: TrainConfig, data: RunData, resolved: dict) -> dict:
    """config.json: the options as given, the data they ran on, and every default the run resolved."""
    return {
        **asdict(cfg),
        "data_dir": str(Path(cfg.data_dir).resolve()),
        "train_files": [str(p.resolve()) for p in data.train_files],
        "val_file": str(data.val_file.resolve()),
        "val_digest": data.val_digest,
        "train_tokens": data.train_tokens,
        "val_tokens": len(data.val),
        "resolved": resolved,
    }


# ----------------------------------------------------------------------------- one step


def say(message: str, quiet: bool = False, is_main: bool = True) -> None:
    if is_main and not quiet:
        print(printable(message), flush=True)


@torch.no_grad()
def evaluate(model, windows: torch.Tensor, rows: int, system: System, rank: int, world: int, static: bool) -> float:
    """Mean loss over the fixed val windows; ranks split the windows and add up.

    ``static``: every chunk has ``rows`` rows, the last one padded with rows whose targets are ignored, so
    a compiled model sees one shape in every eval.
    """
    model.eval()
    totals = torch.zeros(2, device=windows.device, dtype=torch.float64)  # loss summed over windows, windows
    for chunk in windows[rank::world].split(rows):
        inputs, targets = padded(chunk, rows) if static else (chunk[:, :-1], chunk[:, 1:])
        with system.compute():
            _, loss = model(inputs, targets)  # the mean over the chunk's real windows: padding has no targets
        totals[0] += loss.double() * len(chunk)
        totals[1] += len(chunk)
    if world > 1:
        dist.all_reduce(totals)
    model.train()
    return (totals[0] / totals[1]).item()


def padded(windows: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of ``windows`` grown to ``rows`` rows: token 0 in, target -1 (ignored) out."""
    missing = rows - len(windows)
    inputs = torch.cat([windows[:, :-1], windows.new_zeros(missing, windows.size(1) - 1)])
    targets = torch.cat([windows[:, 1:], windows.new_full((missing, windows.size(1) - 1), -1)])
    return inputs, targets


def smaller_batch_advice(batch_size: int, grad_accum: int, world: int) -> str:
    """Settings that hold fewer sequences at once for the same tokens per step, or what to shrink instead."""
    rows = batch_size // world  # sequences each GPU holds at once
    # the smallest factor costs the least extra accumulation; 16 -> 8 with twice the micro-batches
    factor = next((f for f in range(2, rows + 1) if rows % f == 0), None)
    if factor is None:
        return "--batch-size is already one sequence per GPU: try a smaller --block-size or a smaller --model"
    return f"try --batch-size {batch_size // factor} --grad-accum {grad_accum * factor}, the same tokens per step"


def forward_backward(model, loader, cfg, system: System, rank, world) -> tuple[torch.Tensor, torch.Tensor]:
    """Accumulate one step's gradients and clip them; returns (mean loss over all ranks, grad norm) as tensors.

    Nothing here waits for the GPU: the losses are read in one go at the next log line, so the CPU
    gathers and copies the next batch while the GPU still works on this one.
    """
    total = torch.zeros((), device=system.device)
    for micro in range(cfg.grad_accum):
        batch = system.to_device(loader.next_batch(cfg.batch_size, rank, world))
        # DDP all-reduces gradients on every backward; only the last micro-batch's needs to
        last = micro == cfg.grad_accum - 1
        with model.no_sync() if world > 1 and not last else nullcontext():
            with system.compute():
                _, loss = model(batch[:, :-1], batch[:, 1:])
            (loss / cfg.grad_accum).backward()
        total += loss.detach()
    if world > 1:
        dist.all_reduce(total)
    max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return total / (cfg.grad_accum * world), grad_norm


def checkpoint_state(identity: dict, raw_model, optimizer, step: int, loader, monitor, system: System) -> dict:
    """Everything a resume needs to redraw the same curve, as tensors and plain values (weights_only loads it)."""
    return {
        **identity,
        "model": raw_model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "loader": loader.state(),
        "monitor": asdict(monitor),
        "rng": system.rng_state(),
    }


def finite_weights(model) -> bool:
    """No nan or infinity in any parameter: one wait for the GPU, paid at each checkpoint."""
    return bool(torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all())


def restore(ckpt: dict, identity: dict, raw_model, optimizer, loader, system: System) -> tuple[int, RunMonitor]:
    """Load a checkpoint into the fresh objects; returns (step, monitor)."""
    check_resumable(ckpt, identity)
    raw_model.load_state_dict(ckpt["model"])
    if not finite_weights(raw_model):
        raise DataprepError(f"the checkpoint at step {ckpt['step']} holds nan or infinite weights, so it cannot "
                            "continue the run; start it again without --resume")
    optimizer.load_state_dict(ckpt["optimizer"])  # moves the moments onto this run's device, GPU or CPU
    loader.load_state(ckpt["loader"])
    system.set_rng_state(ckpt["rng"])
    return int(ckpt["step"]), RunMonitor(**ckpt["monitor"])


def terminal_line(record: dict, eta_s: float | None = None) -> str:
    """One progress line: step, losses, epoch, lr, speed and, given ``eta_s``, the time left."""
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
    if eta_s is not None:
        parts.append(f"eta {duration(eta_s)}")
    return " | ".join(parts)


# ----------------------------------------------------------------------------- the run


def train(cfg: TrainConfig) -> Path:
    """Run the training described by ``cfg``; returns the run directory."""
    check_config(cfg)
    if cfg.batch_size is None:
        cfg = replace(cfg, batch_size=DEFAULT_BATCH[cfg.model])
    rank, local_rank, world = distributed_env()
    system = resolve_system(cfg.device, cfg.dtype, cfg.compile, local_rank, world, cfg.attention)
    start_process_group(system)
    succeeded = False
    try:
        out_dir = Run(cfg, system, rank, world).train()
        succeeded = True
        return out_dir
    finally:
        end_process_group(system, succeeded)


class Run:
    """One training run: its data, model, log and checkpoint, and the step it has reached."""

    def __init__(self, cfg: TrainConfig, system: System, rank: int, world: int):
        self.cfg, self.system, self.rank, self.world = cfg, system, rank, world
        self.is_main = rank == 0
        if cfg.batch_size % world:
            raise DataprepError(f"--batch-size {cfg.batch_size} must divide evenly across {world} GPUs")
        self.model_config = preset_config(
            cfg.model, arch=cfg.arch, n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd,
            block_size=cfg.block_size, vocab_size=cfg.vocab_size, dropout=cfg.dropout,
        )
        self.data = load_data(cfg, self.model_config.vocab_size)
        T = self.model_config.block_size
        self.tokens_per_step = cfg.batch_size * cfg.grad_accum * T
        max_iters = cfg.max_iters if cfg.max_iters is not None else math.ceil(cfg.max_tokens / self.tokens_per_step)
        self.schedule = Schedule(
            kind=cfg.schedule, lr=cfg.lr, min_lr=cfg.min_lr if cfg.min_lr is not None else cfg.lr / MIN_LR_DIVISOR,
            warmup=cfg.warmup if cfg.warmup is not None else max_iters * WARMUP_PERCENT // 100, max_iters=max_iters,
            decay_frac=cfg.decay_frac,
        )
        self.loader = WindowLoader(self.data.train, T, cfg.seed)
        self.val_set = val_windows(self.data.val, T, cfg.eval_windows)
        self.out_dir = Path(cfg.out_dir)
        self.ckpt_path = self.out_dir / "ckpt.pt"
        self.metrics = MetricsLog(self.out_dir / "metrics.jsonl", self.is_main)
        self.monitor = RunMonitor(cfg.patience)
        self.step = 0
        self.saved_step: int | None = None  # the step of the checkpoint on disk, for the message after Ctrl-C

    @property
    def epoch(self) -> float:
        return self.step * self.tokens_per_step / self.data.train_tokens

    @property
    def max_iters(self) -> int:
        return self.schedule.max_iters

    def say(self, message: str) -> None:
        say(self.cfg.label + message, self.cfg.quiet, self.is_main)

    def warn(self, message: str | None) -> None:
        if message and self.is_main:
            print(printable(f"{self.cfg.label}warning: {message}"), file=sys.stderr, flush=True)
            self.metrics.write({"step": self.step, "epoch": self.epoch, "warning": message})

    def fail(self, message: str, step: int | None = None) -> None:
        self.metrics.write({"step": self.step if step is None else step, "error": message})
        raise DataprepError(message)

    def kept(self) -> str:
        # only a checkpoint this run saved or resumed from, whose weights were checked finite, is called good
        if self.saved_step is not None:
            return f"the last good checkpoint {self.ckpt_path} is kept"
        return "no checkpoint yet" if self.cfg.checkpoint else "no checkpoint is written (--no-checkpoint)"

    def guarded(self, during: str, work, *args):
        """work(*args), with the GPU running out of memory turned into one line that says what fits."""
        try:
            return work(*args)
        except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError in torch >= 2.5, the same class
            pass
        # handled here, after the except block, so the error's traceback no longer pins the step's tensors
        self.optimizer.zero_grad(set_to_none=True)
        self.system.free_cached_memory()
        cfg = self.cfg
        self.fail(f"out of GPU memory {during} with --batch-size {cfg.batch_size} --grad-accum {cfg.grad_accum} "
                  f"(block {self.model_config.block_size}, model {cfg.model}): "
                  f"{smaller_batch_advice(cfg.batch_size, cfg.grad_accum, self.world)}; stopping, {self.kept()}")

    def build_model(self) -> None:
        cfg, system = self.cfg, self.system
        if system.cuda:
            torch.set_float32_matmul_precision("high")  # TF32 for the float32 matmuls autocast leaves
        torch.manual_seed(cfg.seed)
        self.raw_model = GPT(self.model_config, chunked_loss=cfg.chunked_loss, fused_modern=cfg.fused_modern,
                             compute_dtype=system.dtype).to(system.device)
        self.optimizer = self.raw_model.configure_optimizer(cfg.weight_decay, cfg.lr, cfg.betas, system.device.type)
        # what must not change between a checkpoint and the run that resumes it
        self.identity = {
            "model_config": asdict(self.model_config), "val_digest": self.data.val_digest,
            "train_tokens": self.data.train_tokens, "train_digest": self.data.train_digest,
            "tokens_per_step": self.tokens_per_step, "seed": cfg.seed,
        }
        if system.compile:
            # dynamic=None lets torch.compile turn the batch symbolic after a second shape; False keeps it fixed
            self.model = torch.compile(self.raw_model, dynamic=False if cfg.static_shapes else None)
        else:
            self.model = self.raw_model
        self.eval_model = self.model
        if self.world > 1:
            self.model = DDP(self.model, device_ids=[system.device.index] if system.cuda else None)

    def evaluate(self) -> float:
        return self.guarded(f"in the eval at step {self.step}", evaluate, self.eval_model, self.val_device,
                            max(1, self.cfg.batch_size // self.world), self.system, self.rank, self.world,
                            self.cfg.static_shapes)

    def save(self) -> None:
        if not self.cfg.checkpoint:
            return
        if not finite_weights(self.raw_model):
            self.fail(f"the weights became nan or infinite at step {self.step}; stopping, {self.kept()}; "
                      "try a lower --lr")
        if self.is_main:
            state = checkpoint_state(self.identity, self.raw_model, self.optimizer, self.step, self.loader,
                                     self.monitor, self.system)
            save_checkpoint(self.ckpt_path, state)
        self.saved_step = self.step

    def train(self) -> Path:
        cfg, system = self.cfg, self.system
        self.build_model()
        params, flops_per_token = self.raw_model.num_params(), self.raw_model.flops_per_token()
        resolved = {
            "max_iters": self.max_iters, "warmup": self.schedule.warmup, "min_lr": self.schedule.min_lr,
            "tokens_per_step": self.tokens_per_step, "val_windows": len(self.val_set), "device": str(system.device),
            "dtype": system.dtype_name, "compile": system.compile, "world_size": self.world,
            "model": asdict(self.model_config), "params": params, "flops_per_token": flops_per_token,
        }
        config = run_config(cfg, self.data, resolved)
        self.flops_per_token = flops_per_token
        with run_dir_lock(self.out_dir) if self.is_main else nullcontext():
            return self.run(config, params)

    def run(self, config: dict, params: int) -> Path:
        """The run itself, under the run directory's lock."""
        cfg, system = self.cfg, self.system
        if self.is_main:
            prepare_run_dir(self.out_dir, config, cfg.resume)
        if cfg.resume:
            self.step, self.monitor = restore(load_checkpoint(self.ckpt_path), self.identity, self.raw_model,
                                              self.optimizer, self.loader, system)
            self.saved_step = self.step
            self.metrics.keep_until(self.step)
        elif self.is_main:
            self.metrics.path.unlink(missing_ok=True)
        if self.is_main:
            with writing(self.out_dir / "config.json"):
                write_json(self.out_dir / "config.json", config)
        planned_epochs = self.max_iters * self.tokens_per_step / self.data.train_tokens
        self.say(f"model {params / 1e6:.2f}M params | train data {self.data.train_tokens:,} tokens | "
                 f"{self.max_iters} steps of {self.tokens_per_step:,} tokens = {planned_epochs:.2f} epochs | "
                 f"{system.device} {system.dtype_name}")
        self.val_device = torch.from_numpy(self.val_set).to(system.device)

        if self.step == 0:
            record = {"step": 0, "tokens": 0, "epoch": 0.0, "lr": None, "train_loss": None, "val_loss": self.evaluate()}
            self.monitor.after_eval(0.0, record["val_loss"], None)
            self.metrics.write(record)
            self.say(terminal_line(record))
        elif self.step >= self.max_iters:
            self.say(f"{self.out_dir} is already at step {self.step} of {self.max_iters}; nothing to do")
        try:
            self.loop()
        except KeyboardInterrupt:
            # said here, where the steps are known; still a KeyboardInterrupt, so callers and the CLI (exit 130)
            # treat it as Ctrl-C. Nothing is saved: resume goes back to the last checkpoint, which is whole.
            if self.saved_step is None:
                raise KeyboardInterrupt(f"interrupted at step {self.step}, before the first checkpoint; "
                                        "rerun the same command to start again") from None
            raise KeyboardInterrupt(f"interrupted at step {self.step}; rerun the same command with --resume to "
                                    f"continue from the checkpoint at step {self.saved_step}") from None
        return self.out_dir

    def loop(self) -> None:
        """Steps until max_iters; the host waits for the GPU only at log lines and evals."""
        cfg = self.cfg
        # (loss, grad norm) tensors of the steps since the last log line, and their losses since the last eval:
        # both are empty at every checkpoint (checkpoints follow evals), so a resume needs neither
        pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        eval_losses: list[float] = []
        interval_started = started = time.perf_counter()
        start_step = self.step
        while self.step < self.max_iters:
            lr = self.schedule.lr_at(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss, grad_norm = self.guarded(f"at step {self.step + 1}", forward_backward, self.model, self.loader,
                                           cfg, self.system, self.rank, self.world)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            pending.append((loss, grad_norm))
            self.warn(self.monitor.after_step(self.epoch))

            is_eval = self.step % cfg.eval_interval == 0 or self.step == self.max_iters
            if not is_eval and self.step % cfg.log_interval:
                continue
            values = torch.stack([torch.stack(p) for p in pending]).tolist()  # the one wait for the GPU
            seconds = time.perf_counter() - interval_started
            first = self.step - len(values) + 1
            for step, (step_loss, step_norm) in enumerate(values, start=first):
                if not (math.isfinite(step_loss) and math.isfinite(step_norm)):
                    # found before the next eval, so the checkpoint on disk never holds the bad update
                    self.fail(f"loss became {step_loss} (grad norm {step_norm}) at step {step}; stopping, "
                              f"{self.kept()}; try a lower --lr", step=step)
            losses = [v[0] for v in values]
            tokens_per_s = len(values) * self.tokens_per_step / seconds if seconds > 0 else None
            peak = self.system.peak_flops
            record = {
                "step": self.step, "tokens": self.step * self.tokens_per_step, "epoch": self.epoch, "lr": lr,
                "train_loss": sum(losses) / len(losses), "grad_norm": values[-1][1], "tokens_per_s": tokens_per_s,
                "mfu": self.flops_per_token * tokens_per_s / (peak * self.world) if peak and tokens_per_s else None,
            }
            pending = []
            eval_losses += losses
            overfit_warning = None
            if is_eval:
                record["val_loss"] = self.evaluate()
                if not math.isfinite(record["val_loss"]):
                    self.fail(f"val loss became {record['val_loss']} at step {self.step}; stopping, {self.kept()}")
                overfit_warning = self.monitor.after_eval(self.epoch, record["val_loss"],
                                                          sum(eval_losses) / len(eval_losses))
                eval_losses = []
            self.metrics.write(record)
            # the time left at the pace since this loop started, evals and saves included
            self.say(terminal_line(record, (time.perf_counter() - started) / (self.step - start_step)
                                   * (self.max_iters - self.step)))
            self.warn(overfit_warning)
            if is_eval:
                self.save()
            interval_started = time.perf_counter()  # evals and saves are not training time
