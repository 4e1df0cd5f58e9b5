"""What a training run is asked for, and the model it trains: plain dataclasses that check themselves.

No torch here: the command line builds its help text from these defaults, where torch may not be installed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dataprep.errors import DataprepError

ARCHS = ("gpt2", "modern")
ATTENTION = ("auto", "cudnn")  # --attention: torch's choice of kernel, or cuDNN's first (training/system.py)
COMPUTE_SWITCHES = ("static_shapes", "attention", "chunked_loss", "fused_modern")  # TrainConfig's: how, not what


@dataclass
class GPTConfig:
    vocab_size: int = 50304  # GPT-2's 50257 padded to a multiple of 64: faster matmuls, unused rows never trained
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    arch: str = "gpt2"
    dropout: float = 0.0
    bias: bool = True  # gpt2 only; the modern arch has no biases

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise DataprepError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise DataprepError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise DataprepError(f"n_embd {self.n_embd} must be divisible by n_head {self.n_head}")
        if self.arch == "modern" and (self.n_embd // self.n_head) % 2:
            raise DataprepError(f"RoPE needs an even head size; n_embd/n_head is {self.n_embd // self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise DataprepError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def use_bias(self) -> bool:
        return self.bias and self.arch == "gpt2"


PRESETS = {
    "tiny": dict(n_layer=4, n_head=4, n_embd=128, block_size=64),  # trains on a laptop CPU
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024),
    "gpt2-350m": dict(n_layer=24, n_head=16, n_embd=1024, block_size=1024),
}


def preset_config(name: str, **overrides) -> GPTConfig:
    """The preset's sizes with any non-None override applied."""
    if name not in PRESETS:
        raise DataprepError(f"model must be one of {', '.join(PRESETS)}, got {name!r}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(GPTConfig(**PRESETS[name]), **given)


# sequences per micro-batch when --batch-size is not given; docs/train.md has the memory each takes
DEFAULT_BATCH = {"tiny": 16, "gpt2-124m": 32, "gpt2-350m": 16}
MIN_LR_DIVISOR = 10  # min_lr when not given: lr divided by this
WARMUP_PERCENT = 5  # warmup steps when not given: this percentage of the steps, rounded down


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
    # so the curve in tokens does not depend on how many GPUs ran it. None: DEFAULT_BATCH of the preset
    batch_size: int | None = None
    grad_accum: int = 1
    # optimizer and schedule
    lr: float = 6e-4
    min_lr: float | None = None  # None: lr / MIN_LR_DIVISOR
    warmup: int | None = None  # steps; None: WARMUP_PERCENT of the steps
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
    label: str = ""  # put before every progress and warning line: the demo trains two runs side by side
    # how the step computes, not what: each changes speed or memory, the curve only by float rounding, and a run
    # resumes across any of them. bench/gpu_check.py --part throughput measures each against nanoGPT on a GPU.
    static_shapes: bool = True  # evals in chunks of the training micro-batch (the last one padded), compiled for
    # fixed shapes, so the step is never recompiled for a symbolic batch; False: the last chunk is smaller
    attention: str = "auto"  # or "cudnn": cuDNN's attention kernel first, then flash (on CUDA; Hopper has cuDNN's)
    chunked_loss: bool = False  # lm_head and cross-entropy a slice of rows at a time: the logits never whole
    fused_modern: bool = False  # modern arch: gate and up as one matmul, RoPE tables kept in the compute dtype
    checkpoint: bool = True  # False: no ckpt.pt at all (a benchmark's run, which is never resumed)

    def __post_init__(self):
        check_config(self)


def check_config(cfg: TrainConfig) -> None:
    """Every option a user can get wrong, refused with one line before any work starts."""
    if (cfg.max_iters is None) == (cfg.max_tokens is None):
        raise DataprepError("give exactly one of --max-iters or --max-tokens")
    if cfg.model not in DEFAULT_BATCH:
        raise DataprepError(f"model must be one of {', '.join(DEFAULT_BATCH)}, got {cfg.model!r}")
    positive = ["grad_accum", "eval_interval", "eval_windows", "log_interval", "patience"]
    positive += ["max_iters"] if cfg.max_iters is not None else ["max_tokens"]
    positive += ["batch_size"] if cfg.batch_size is not None else []
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
    # written as "not x >= 0" so that nan, which compares false with everything, is refused too
    if not (cfg.weight_decay >= 0 and cfg.grad_clip >= 0 and all(0 <= b < 1 for b in cfg.betas)):
        raise DataprepError(f"need --weight-decay >= 0, --grad-clip >= 0 and betas in [0, 1), got weight_decay "
                            f"{cfg.weight_decay}, grad_clip {cfg.grad_clip}, betas {tuple(cfg.betas)}")
    if cfg.dtype not in ("auto", "float32", "bfloat16"):
        raise DataprepError(f"--dtype must be auto, float32 or bfloat16, got {cfg.dtype!r}")
    if cfg.compile not in ("auto", True, False):
        raise DataprepError(f"compile must be 'auto', True or False, got {cfg.compile!r}")
    if cfg.seed < 0:
        raise DataprepError(f"--seed must be >= 0, got {cfg.seed}")
    if cfg.attention not in ATTENTION:
        raise DataprepError(f"--attention must be one of {', '.join(ATTENTION)}, got {cfg.attention!r}")
