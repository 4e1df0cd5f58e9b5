"""``dataprep demo``: the README's first command."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dataprep.demo import DemoConfig
from dataprep.errors import DataprepError, printable

DEFAULTS = DemoConfig(out=Path("."))


def add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        description="Generates data, builds a 1-shard and a many-shard corpus with one shared val set, estimates "
        "both, trains a tiny GPT on each with the same budget, and compares the curves.",
    )
    p.add_argument("--out", metavar="DIR", help="keep everything here (default: a temporary directory)")
    p.add_argument("--iters", type=int, default=DEFAULTS.iters,
                   help=f"training steps per run (default {DEFAULTS.iters})")
    p.add_argument("--shards", type=int, default=DEFAULTS.shards,
                   help=f"shards in the large corpus (default {DEFAULTS.shards})")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"(default {DEFAULTS.seed})")
    p.set_defaults(run=run_demo_cmd)


def run_demo_cmd(args) -> int:
    from dataprep.training.compare import format_table
    from dataprep.demo import demo_summary, run_demo

    if args.iters < 25 or args.shards < 2:
        raise DataprepError("--iters must be at least 25 and --shards at least 2")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dataprep-demo-"))
    if out.exists() and any(out.iterdir()):
        raise DataprepError(f"{out} is not empty; give a new --out directory")
    rows = run_demo(DemoConfig(out=out, iters=args.iters, shards=args.shards, seed=args.seed))
    print()
    print(printable(demo_summary(out), lines=True))
    print()
    print(printable(format_table(rows, markdown=False), lines=True))
    print(printable(f"\nfigure: {out / 'compare.png'}", lines=True))
    print(printable(f"table:  {out / 'compare.json'}"))
    return 0
