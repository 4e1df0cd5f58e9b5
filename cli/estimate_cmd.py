"""``dataprep estimate``: arguments -> EstimateOptions (and a training plan) -> dataprep.pipeline.estimate."""

from __future__ import annotations

import json
import sys

from dataprep.errors import DataprepError, printable
from dataprep.pipeline.estimate import EstimateOptions
from dataprep_cli.rule_options import add_rule_options, add_tokenizer_option, rules_from, take_negative_values
from dataprep_cli.source_options import DEFAULT_DATASET, DEFAULT_SUBSET, add_engine_options, add_hub_options, hub_source


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
    add_forecast_options(p)
    take_negative_values(p)
    p.set_defaults(run=run_estimate)


def add_forecast_options(p) -> None:
    from dataprep.pipeline.budget import TokenTarget
    from dataprep.pipeline.forecast import DEFAULT_SHARDS_READ

    f = p.add_argument_group("dataset forecast (how many shards a budget needs)")
    f.add_argument("--forecast", action="store_true",
                   help="forecast the effective tokens of the first N files of the whole dataset (PATH, or --dataset): "
                        "metadata of every file by range reads, duplication from a few files read in full")
    f.add_argument("--forecast-shards", type=int, metavar="K",
                   help=f"files read in full for --forecast: the first K - 1 and the last (default {DEFAULT_SHARDS_READ})")
    f.add_argument("--epochs", type=float, help="with --forecast and --tokens: times the run may repeat its train "
                   f"split (default {TokenTarget.__dataclass_fields__['epochs'].default:g})")


def plan_from_args(args):
    from dataprep.pipeline.plan import Plan, parse_count

    run_given = args.batch_size is not None or args.iters is not None
    if args.params is None:
        if args.forecast and args.tokens is not None and not run_given:
            return None  # the forecast's budget alone: --tokens T [--epochs E]
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
    from dataprep_cli.report import render_estimate, render_forecast

    given = {"top_lines": args.top_lines} if args.top_lines is not None else {}
    opts = EstimateOptions(**rules_from(args), **given, tokenizer_backend=args.tokenizer, text_column=args.text_column,
                           fast=args.fast, plan=plan_from_args(args))
    report = run_forecast(args, opts) if args.forecast else _run_estimate(args, opts)
    if args.plot:
        from dataprep.plots import plot_estimate, plot_forecast

        (plot_forecast if args.forecast else plot_estimate)(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        text = render_estimate(report) + ("\n\n" + render_forecast(report["forecast"]) if args.forecast else "")
        print(printable(text, lines=True))  # file names and boilerplate lines from the data
        if args.plot:
            print(printable(f"\nplot written to {args.plot}", lines=True))
    return 0


def _run_estimate(args, opts) -> dict:
    """The report of the files given, or of a hub dataset's first --shards files."""
    from dataprep.pipeline.estimate import estimate

    forecast_only = [o for o in ("forecast_shards", "epochs") if getattr(args, o) is not None]
    if forecast_only:
        raise DataprepError(f"--{forecast_only[0].replace('_', '-')} goes with --forecast")
    if not args.paths and args.dataset is None:
        raise DataprepError("give parquet files to estimate, or a Hugging Face dataset with --dataset and --shards N "
                            "(or --forecast for the whole dataset)")
    if not args.paths and args.shards is None:
        raise DataprepError("estimating a hub dataset needs --shards N: the files to download and measure (or "
                            "--forecast for the whole dataset)")
    inputs = hub_source(args, args.paths, "--shards", lazy=True)
    return estimate(inputs, opts, shards=args.shards, workers=args.workers, progress=False if args.json else None,
                    engine=args.engine, ray_address=args.ray_address, work=args.work, say=None if args.json else _say)


def run_forecast(args, opts) -> dict:
    """The forecast of a directory (or files, globs) or of a hub dataset, and the build that meets --tokens."""
    from dataprep.pipeline.budget import TokenTarget
    from dataprep.pipeline.forecast import ForecastOptions, forecast_dataset, hub_dataset, local_dataset
    from dataprep.pipeline.plan import parse_count

    if args.fast:
        raise DataprepError("--forecast reads files in full to measure duplication; it does not go with --fast")
    if args.paths and (args.dataset or args.subset is not None):
        raise DataprepError("give PATH or --dataset, not both")
    if args.shards is not None:
        raise DataprepError("--forecast takes every file of the dataset; --forecast-shards K says how many it reads "
                            "in full")
    # The budget: --tokens, or the tokens a training plan given by its batch shape sees.
    tokens = parse_count(args.tokens, "--tokens") if args.tokens is not None else (
        opts.plan.tokens_seen if opts.plan is not None else None)
    if args.epochs is not None and tokens is None:
        raise DataprepError("--epochs needs --tokens (the budget it divides)")
    fopts = ForecastOptions(**({} if args.forecast_shards is None else {"shards_read": args.forecast_shards}))
    target = None if tokens is None else TokenTarget(tokens=tokens, **({} if args.epochs is None else
                                                                       {"epochs": args.epochs}))
    progress = False if args.json else None
    if args.paths:
        dataset = local_dataset(args.paths)
    else:
        dataset = hub_dataset(args.dataset or DEFAULT_DATASET, DEFAULT_SUBSET if args.subset is None else args.subset,
                              progress)
    return forecast_dataset(dataset, opts, fopts, target, progress)
