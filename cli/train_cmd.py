"""``dataprep train`` and ``dataprep compare``: argument parsing only.

torch is imported inside the run functions, so the other commands work where it is not installed.
Options left unset stay None here and take TrainConfig's defaults, stated once in dataprep/training/config.py;
the help text shows them from there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from dataprep.errors import DataprepError, printable
from dataprep.training.config import (ARCHS, ATTENTION, DEFAULT_BATCH, MIN_LR_DIVISOR, PRESETS, WARMUP_PERCENT,
                                      GPTConfig, TrainConfig)

# argparse dest -> TrainConfig field, where they differ
_RENAMED = {"out": "out_dir"}


def default(field: str):
    """TrainConfig's default for ``field``: what a run uses when the option is not given."""
    return TrainConfig.__dataclass_fields__[field].default


def per_preset(values: dict) -> str:
    return ", ".join(f"{value} for {preset}" for preset, value in values.items())


def add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        description="Train a GPT on DATA_DIR (train.bin + val.bin, or llm.c *_train_*/*_val_* shards). "
        "Writes RUN_DIR/metrics.jsonl, config.json and ckpt.pt. Under torchrun it runs data-parallel.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument("--val-bin", metavar="FILE", help="score on this val file instead of DATA_DIR's")
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=tuple(PRESETS), help=f"size preset (default {default('model')})")
    g.add_argument("--arch", choices=ARCHS, help=f"gpt2, or modern: RoPE, RMSNorm, SwiGLU (default {default('arch')})")
    g.add_argument("--n-layer", type=int, metavar="N", help="layers (the preset's unless given)")
    g.add_argument("--n-head", type=int, metavar="N", help="attention heads (the preset's unless given)")
    g.add_argument("--n-embd", type=int, metavar="N", help="width (the preset's unless given)")
    g.add_argument("--block-size", type=int, metavar="N", help="tokens per sequence (default "
                   f"{per_preset({name: sizes['block_size'] for name, sizes in PRESETS.items()})})")
    g.add_argument("--vocab-size", type=int, metavar="N",
                   help=f"(default {GPTConfig.vocab_size}: GPT-2's 50,257 padded to a multiple of 64)")
    g.add_argument("--dropout", type=float, metavar="X", help=f"(default {default('dropout'):g})")
    g = p.add_argument_group("length (give one)")
    length = g.add_mutually_exclusive_group(required=True)
    length.add_argument("--max-iters", type=int, metavar="N", help="optimizer steps")
    length.add_argument("--max-tokens", metavar="N", help="tokens to train on, e.g. 50M or 7.3B")
    add_optimization_options(p)
    add_run_options(p)
    p.set_defaults(run=run_train)


def add_optimization_options(p) -> None:
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=int, metavar="N", help="sequences per micro-batch, all GPUs together "
                   f"(default {per_preset(DEFAULT_BATCH)})")
    g.add_argument("--grad-accum", type=int, metavar="N",
                   help=f"micro-batches per step (default {default('grad_accum')})")
    g.add_argument("--lr", type=float, metavar="X", help=f"peak learning rate (default {default('lr'):g})")
    g.add_argument("--min-lr", type=float, metavar="X",
                   help=f"final learning rate (default --lr / {MIN_LR_DIVISOR})")
    g.add_argument("--warmup", type=int, metavar="N", help=f"warmup steps (default {WARMUP_PERCENT}%% of the steps)")
    g.add_argument("--schedule", choices=("cosine", "wsd"),
                   help=f"cosine, or warmup-stable-decay (default {default('schedule')})")
    g.add_argument("--decay-frac", type=float, metavar="X",
                   help=f"wsd: share of the steps spent decaying (default {default('decay_frac'):g})")
    g.add_argument("--weight-decay", type=float, metavar="X", help=f"(default {default('weight_decay'):g})")
    g.add_argument("--grad-clip", type=float, metavar="X",
                   help=f"gradient norm clip, 0 turns it off (default {default('grad_clip'):g})")


def add_run_options(p) -> None:
    """Evaluation, logging, the system, and how the step computes."""
    g = p.add_argument_group("evaluation and logging")
    g.add_argument("--eval-interval", type=int, metavar="N",
                   help=f"steps between val evals (default {default('eval_interval')})")
    g.add_argument("--eval-windows", type=int, metavar="N",
                   help=f"fixed val windows scored per eval (default {default('eval_windows')})")
    g.add_argument("--log-interval", type=int, metavar="N",
                   help=f"steps between progress lines (default {default('log_interval')})")
    g.add_argument("--quiet", action="store_true", default=None,
                   help="no progress lines; warnings, errors and where the run was written still print")
    g = p.add_argument_group("system")
    g.add_argument("--seed", type=int, metavar="N", help=f"(default {default('seed')})")
    g.add_argument("--device", help=f"auto, cpu, cuda, cuda:N (default {default('device')}: cuda where torch sees "
                   "a GPU, else cpu)")
    g.add_argument("--dtype", choices=("auto", "float32", "bfloat16"),
                   help=f"(default {default('dtype')}: bfloat16 on CUDA, else float32)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help=f"torch.compile (default {default('compile')}: on for CUDA)")
    g.add_argument("--resume", action="store_true", default=None, help="continue RUN_DIR from its checkpoint")
    g.add_argument("--checkpoint", action=argparse.BooleanOptionalAction,
                   help=f"write ckpt.pt after each eval; off for a benchmark, which is never resumed (default "
                   f"{on_off(default('checkpoint'))})")
    g = p.add_argument_group("speed", "How the step computes, not what: the curve changes by float rounding at most, "
                             "and a run resumes across any of these. Measured on a GPU by bench/gpu_check.py "
                             "(docs/benchmarks.md).")
    g.add_argument("--static-shapes", action=argparse.BooleanOptionalAction,
                   help="evals in chunks of the training micro-batch, the last one padded, and torch.compile for "
                   f"fixed shapes (default {on_off(default('static_shapes'))})")
    g.add_argument("--attention", choices=ATTENTION, help="cudnn: cuDNN's attention kernel first, then flash "
                   f"(default {default('attention')}: torch's choice)")
    g.add_argument("--chunked-loss", action=argparse.BooleanOptionalAction,
                   help="lm_head and cross-entropy a slice of rows at a time, never the whole logits "
                   f"(default {on_off(default('chunked_loss'))})")
    g.add_argument("--fused-modern", action=argparse.BooleanOptionalAction,
                   help="modern arch: gate and up as one matmul, RoPE tables in the compute dtype "
                   f"(default {on_off(default('fused_modern'))})")


def on_off(value: bool) -> str:
    return "on" if value else "off"


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise DataprepError("the trainer needs torch: pip install 'dataprep[train]'") from None


def train_config_from_args(args):
    from dataclasses import fields

    from dataprep.pipeline.plan import parse_count

    given = {_RENAMED.get(k, k): v for k, v in vars(args).items() if v is not None}
    if "max_tokens" in given:
        given["max_tokens"] = int(parse_count(given["max_tokens"], "--max-tokens"))
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in given.items() if k in names})


def run_train(args) -> int:
    _require_torch()
    from dataprep.training.train import train

    out_dir = train(train_config_from_args(args))
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line, not one per GPU; --quiet too: it is the result
        print(printable(f"run written to {out_dir}{val_summary(out_dir)}"))
    return 0


def val_summary(run_dir) -> str:
    """': final val loss X (best Y at step N)', read back from the run's metrics.jsonl."""
    from dataprep.training.compare import load_run, summarize

    row = summarize("", *load_run(run_dir))
    if row["final_val_loss"] is None:
        return ""
    return (f": final val loss {row['final_val_loss']:.4f} (best {row['best_val_loss']:.4f} at step "
            f"{row['best_step']})")


def add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        description="Reads each RUN_DIR's config.json and metrics.jsonl; draws val and train loss against "
        "tokens seen with each run's epoch boundaries.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="FILE.png", help="figure to write")
    p.add_argument("--json", action="store_true", help="print the rows as JSON and nothing else")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--allow-different-val", action="store_true", help="compare runs scored on different val files")
    p.set_defaults(run=run_compare)


def run_compare(args) -> int:
    from dataprep.plots import can_draw
    from dataprep.training.compare import compare, format_table

    draw = can_draw()
    rows = compare(args.runs, args.out, allow_different_val=args.allow_different_val, draw=draw)
    missing = f"no figure: matplotlib is not installed (pip install matplotlib), so {args.out} was not written"
    if args.json:
        print(json.dumps(rows, indent=2))
        if not draw:
            print(printable(f"dataprep: {missing}", lines=True), file=sys.stderr)  # stdout stays JSON only
        return 0
    print(printable(format_table(rows, markdown=args.markdown), lines=True))  # run names are directory names
    print(printable(f"\nfigure written to {args.out}" if draw else f"\n{missing}", lines=True))
    return 0
