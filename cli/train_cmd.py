"""``dataprep train`` and ``dataprep compare``: argument parsing only.

torch is imported inside the run functions, so the other commands work where it is not installed.
Options left unset stay None here and take TrainConfig's defaults, which are stated once, in dataprep/training/train.py.
"""

from __future__ import annotations

import argparse
import json
import os

from dataprep.errors import DataprepError, printable

# argparse dest -> TrainConfig field, where they differ
_RENAMED = {"out": "out_dir"}


def add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a small GPT on token bins; log val loss against tokens and epochs seen",
        description="Train a GPT on DATA_DIR (train.bin + val.bin, or llm.c *_train_*/*_val_* shards). "
        "Writes RUN_DIR/metrics.jsonl, config.json and ckpt.pt. Under torchrun it runs data-parallel.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument("--val-bin", metavar="FILE", help="score on this val file instead of DATA_DIR's")
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=("tiny", "gpt2-124m", "gpt2-350m"), help="size preset (default tiny)")
    g.add_argument("--arch", choices=("gpt2", "modern"), help="gpt2, or modern: RoPE, RMSNorm, SwiGLU (default gpt2)")
    g.add_argument("--n-layer", type=int, metavar="N")
    g.add_argument("--n-head", type=int, metavar="N")
    g.add_argument("--n-embd", type=int, metavar="N")
    g.add_argument("--block-size", type=int, metavar="N", help="tokens per sequence")
    g.add_argument("--vocab-size", type=int, metavar="N", help="default 50304 (GPT-2 padded)")
    g.add_argument("--dropout", type=float, metavar="X", help="default 0")
    g = p.add_argument_group("length (give one)")
    length = g.add_mutually_exclusive_group(required=True)
    length.add_argument("--max-iters", type=int, metavar="N", help="optimizer steps")
    length.add_argument("--max-tokens", metavar="N", help="tokens to train on, e.g. 50M or 7.3B")
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=int, metavar="N",
                   help="sequences per micro-batch, all GPUs together (default 16)")
    g.add_argument("--grad-accum", type=int, metavar="N", help="micro-batches per step (default 1)")
    g.add_argument("--lr", type=float, metavar="X", help="peak learning rate (default 6e-4)")
    g.add_argument("--min-lr", type=float, metavar="X", help="final learning rate (default lr/10)")
    g.add_argument("--warmup", type=int, metavar="N", help="warmup steps (default 5%% of the run)")
    g.add_argument("--schedule", choices=("cosine", "wsd"), help="cosine, or warmup-stable-decay (default cosine)")
    g.add_argument("--decay-frac", type=float, metavar="X",
                   help="wsd: share of the steps spent decaying (default 0.2)")
    g.add_argument("--weight-decay", type=float, metavar="X", help="default 0.1")
    g.add_argument("--grad-clip", type=float, metavar="X", help="default 1.0; 0 turns it off")
    g = p.add_argument_group("evaluation and logging")
    g.add_argument("--eval-interval", type=int, metavar="N", help="steps between val evals (default 250)")
    g.add_argument("--eval-windows", type=int, metavar="N", help="fixed val windows scored per eval (default 200)")
    g.add_argument("--log-interval", type=int, metavar="N", help="steps between log lines (default 10)")
    g.add_argument("--quiet", action="store_true", default=None, help="no per-step lines (warnings still print)")
    g = p.add_argument_group("system")
    g.add_argument("--seed", type=int, metavar="N", help="default 1337")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:N (default auto)")
    g.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), help="default auto: bfloat16 on CUDA")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile (default: on for CUDA)")
    g.add_argument("--resume", action="store_true", default=None, help="continue RUN_DIR from its checkpoint")
    p.set_defaults(run=run_train)


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise DataprepError("the trainer needs torch: pip install 'dataprep[train]'") from None


def train_config_from_args(args):
    from dataclasses import fields

    from dataprep.pipeline.plan import parse_count
    from dataprep.training.train import TrainConfig

    given = {_RENAMED.get(k, k): v for k, v in vars(args).items() if v is not None}
    if "max_tokens" in given:
        given["max_tokens"] = int(parse_count(given["max_tokens"], "--max-tokens"))
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in given.items() if k in names})


def run_train(args) -> int:
    _require_torch()
    from dataprep.training.train import train

    out_dir = train(train_config_from_args(args))
    if not args.quiet and os.environ.get("RANK", "0") == "0":  # under torchrun, one line, not one per GPU
        print(printable(f"run written to {out_dir}"))
    return 0


def add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare training runs: best val loss, where it was reached, and how far it rose after",
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
    from dataprep.training.compare import compare, format_table

    rows = compare(args.runs, args.out, allow_different_val=args.allow_different_val)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(printable(format_table(rows, markdown=args.markdown), lines=True))  # run names are directory names
    print(printable(f"\nfigure written to {args.out}", lines=True))
    return 0
