"""``dataprep estimate``: arguments -> EstimateOptions (and a training plan) -> dataprep.pipeline.estimate."""

from __future__ import annotations

import json
import sys

from dataprep.errors import DataprepError, printable
from dataprep.pipeline.estimate import EstimateOptions
from dataprep_cli.rule_options import add_rule_options, add_tokenizer_option, rules_from, take_negative_values
from dataprep_cli.source_options import add_engine_options, add_hub_options, hub_source


ESTIMATE = EstimateOptions()  # the library's defaults, shown in the help


def add_estimate(sub) -> None:
    p = sub.add_parser(
        "estimate",
        description="Exact GPT-2 tokens, edu-score mix, exact and near duplicates, boilerplate, "
        "effective unique tokens and, given a training plan, how many epochs it repeats.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="parquet files, directories, globs or URLs")
    src = p.add_argument_group("or a Hugging Face dataset")
    add_hub_options(src, "--shards")
    p.add_argument("--fast", action="store_true", help="metadata only: tokens from token_count, no dedup")
    add_rule_options(p)
    p.add_argument("--top-lines", type=int, help=f"boilerplate lines to list (default {ESTIMATE.top_lines})")
    add_tokenizer_option(p)
    run = p.add_argument_group("where it runs")
    add_engine_options(run)
    run.add_argument("--work", metavar="DIR", help="where the scans go while it runs (default: a temporary directory; "
                     "on a Ray cluster, a URL every worker reaches)")
    p.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    p.add_argument("--plot", metavar="FILE.png", help="draw the token waterfall and score histogram")
    g = p.add_argument_group("training plan")
    g.add_argument("--params", help="model parameters, e.g. 124M")
    g.add_argument("--tokens", help="tokens the run will see, e.g. 7.3B")
    g.add_argument("--batch-size", type=int, help="sequences per micro-batch")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step (default 1)")
    g.add_argument("--block-size", type=int, default=1024, help="tokens per sequence (default 1024)")
    g.add_argument("--iters", type=int, help="optimizer steps")
    take_negative_values(p)
    p.set_defaults(run=run_estimate)


def plan_from_args(args):
    from dataprep.pipeline.plan import Plan, parse_count

    run_given = args.batch_size is not None or args.iters is not None
    if args.params is None:
        if args.tokens is not None or run_given:
            raise DataprepError("a training plan needs --params (e.g. --params 124M)")
        return None
    params = parse_count(args.params, "--params")
    if args.tokens is not None:
        if run_given:
            raise DataprepError("give either --tokens or --batch-size/--iters, not both")
        return Plan(params=params, tokens_seen=parse_count(args.tokens, "--tokens"))
    if args.batch_size is None or args.iters is None:
        raise DataprepError("--params needs --tokens, or --batch-size and --iters (with --grad-accum, --block-size)")
    for name in ("batch_size", "grad_accum", "block_size", "iters"):
        if getattr(args, name) <= 0:
            raise DataprepError(f"--{name.replace('_', '-')} must be positive")
    return Plan.from_run(params, args.batch_size, args.grad_accum, args.block_size, args.iters)


def _say(line: str) -> None:
    print(printable(line), file=sys.stderr)


def run_estimate(args) -> int:
    from dataprep.pipeline.estimate import estimate

    from dataprep_cli.report import render_estimate

    given = {"top_lines": args.top_lines} if args.top_lines is not None else {}
    opts = EstimateOptions(**rules_from(args), **given, tokenizer_backend=args.tokenizer, text_column=args.text_column,
                           fast=args.fast,
                           plan=plan_from_args(args))
    if not args.paths and args.dataset is None:
        raise DataprepError("give parquet files to estimate, or a Hugging Face dataset with --dataset and --shards N")
    if not args.paths and args.shards is None:
        raise DataprepError("estimating a hub dataset needs --shards N: the files to download and measure")
    inputs = hub_source(args, args.paths, "--shards", lazy=True)
    report = estimate(inputs, opts, shards=args.shards, workers=args.workers, progress=False if args.json else None,
                      engine=args.engine, ray_address=args.ray_address, work=args.work,
                      say=None if args.json else _say)
    if args.plot:
        from dataprep.plots import plot_estimate

        plot_estimate(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(printable(render_estimate(report), lines=True))  # file names and boilerplate lines from the data
        if args.plot:
            print(printable(f"\nplot written to {args.plot}", lines=True))
    return 0
