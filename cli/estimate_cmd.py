"""``dataprep estimate``: arguments -> EstimateOptions (and a training plan) -> dataprep.pipeline.estimate."""

from __future__ import annotations

import json
import os
import shlex

from dataprep.errors import DataprepError, printable
from dataprep_cli.build_cmd import DEFAULT_DATASET, DEFAULT_SUBSET, TARGET_EPOCHS
from dataprep_cli.rule_options import add_rule_options, add_tokenizer_option, rule_argv, rules_from


def add_estimate(sub) -> None:
    p = sub.add_parser(
        "estimate",
        help="measure exact, unique and effective tokens of parquet shards",
        description="Exact GPT-2 tokens, edu-score mix, exact and near duplicates, boilerplate, "
        "effective unique tokens and, given a training plan, how many epochs it repeats.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="parquet file, directory or glob")
    p.add_argument("--text-column", help="column holding the text (default: text)")
    p.add_argument("--fast", action="store_true", help="metadata only: tokens from token_count, no dedup")
    add_rule_options(p)
    p.add_argument("--top-lines", type=int, default=10, help="boilerplate lines to list (default 10)")
    add_tokenizer_option(p)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="tokenizer threads (default: all cores)")
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
    p.set_defaults(run=run_estimate)


def add_forecast_options(p) -> None:
    from dataprep.pipeline.forecast import DEFAULT_SHARDS_READ

    f = p.add_argument_group("dataset forecast (how many shards a budget needs)")
    f.add_argument("--forecast", action="store_true",
                   help="forecast the effective tokens of the first N files of the whole dataset (PATH, or --dataset): "
                        "metadata of every file by range reads, duplication from a few files read in full")
    f.add_argument("--forecast-shards", type=int, metavar="K",
                   help=f"files read in full for --forecast: the first K - 1 and the last (default {DEFAULT_SHARDS_READ})")
    f.add_argument("--dataset", help=f"with --forecast: a Hugging Face dataset (default without PATH: {DEFAULT_DATASET})")
    f.add_argument("--subset", help=f"folder inside the dataset (default: {DEFAULT_SUBSET})")
    f.add_argument("--epochs", type=float,
                   help=f"with --forecast and --tokens: times the run may repeat its train split (default {TARGET_EPOCHS:g})")


def plan_from_args(args):
    from dataprep.pipeline.plan import Plan, parse_count

    run_given = args.batch_size is not None or args.iters is not None
    if args.params is None:
        if args.forecast and args.tokens and not run_given:
            return None  # the forecast's budget alone: --tokens T [--epochs E]
        if args.tokens or run_given:
            raise DataprepError("a training plan needs --params (e.g. --params 124M)")
        return None
    params = parse_count(args.params, "--params")
    if args.tokens:
        if run_given:
            raise DataprepError("give either --tokens or --batch-size/--iters, not both")
        return Plan(params=params, tokens_seen=parse_count(args.tokens, "--tokens"))
    if args.batch_size is None or args.iters is None:
        raise DataprepError("--params needs --tokens, or --batch-size and --iters (with --grad-accum, --block-size)")
    for name in ("batch_size", "grad_accum", "block_size", "iters"):
        if getattr(args, name) <= 0:
            raise DataprepError(f"--{name.replace('_', '-')} must be positive")
    return Plan.from_run(params, args.batch_size, args.grad_accum, args.block_size, args.iters)


def build_command(args, plan: dict) -> tuple[str, str | None]:
    """The ``dataprep build`` that meets the plan: the same rules, taking files in order until the train
    split holds the tokens the run sees (``--tokens``, at most one epoch); and a note on its inputs.

    Its inputs are those estimated, unless they fall short of the plan and are files of one directory
    that holds more: then that directory (a shard is usually estimated alone, out of many).
    """
    inputs, note = list(args.paths), None
    if plan["shards_for_1_epoch"] > plan["shards_in_input"]:
        home = {os.path.dirname(p) or "." for p in args.paths}
        more = _parquet_files(next(iter(home))) if len(home) == 1 and all(os.path.isfile(p) for p in args.paths) else 0
        if more > len(args.paths):
            inputs = [next(iter(home))]
            note = (f"--input is the directory of the file(s) estimated: its {more:,} parquet files are taken in sorted "
                    "order as long as the budget needs more")
        else:
            note = (f"these {len(args.paths)} input(s) fall short: add about "
                    f"{plan['shards_for_1_epoch'] - plan['shards_in_input']:,} more files like them to --input (the "
                    "build says by how much it falls short), or add --epochs 4 to repeat each token up to 4 times")
    tokens = args.tokens or f"{plan['tokens_seen']:.0f}"
    argv = ["dataprep", "build", "--input", *inputs, "--out", f"build-{tokens}", "--tokens", tokens]
    return shlex.join(argv + _same_rules(args)), note


def _same_rules(args) -> list[str]:
    """The rule, tokenizer and text-column options given, written back as build arguments."""
    return rule_argv(args) + ([] if args.text_column is None else ["--text-column", args.text_column])


def _parquet_files(directory: str) -> int:
    from pathlib import Path

    return sum(1 for p in Path(directory).rglob("*.parquet") if p.is_file())


def run_estimate(args) -> int:
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    from dataprep_cli.report import render_estimate, render_forecast

    opts = EstimateOptions(
        **rules_from(args),
        text_column=args.text_column,
        top_lines=args.top_lines,
        fast=args.fast,
        threads=max(1, args.threads),
        plan=plan_from_args(args),
    )
    if args.forecast:
        report = run_forecast(args, opts)
    elif forecast_only := [o for o in ("dataset", "subset", "forecast_shards", "epochs") if getattr(args, o) is not None]:
        raise DataprepError(f"--{forecast_only[0].replace('_', '-')} goes with --forecast")
    elif not args.paths:
        raise DataprepError("give a PATH to estimate (a parquet file, directory or glob), or --forecast")
    else:
        report = estimate(args.paths, opts, progress=False if args.json else None)
    if "plan" in report and args.forecast:  # the forecast knows how many files of the dataset the budget takes
        report["plan"]["build_command"] = (report["forecast"]["target"] or {}).get("build_command")
        report["plan"]["build_note"] = "the dataset forecast below says how many of its files this takes"
    elif "plan" in report:
        report["plan"]["build_command"], report["plan"]["build_note"] = build_command(args, report["plan"])
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


def run_forecast(args, opts) -> dict:
    """The forecast of a directory (or files, globs) or of a hub dataset, and the build that meets --tokens."""
    from dataprep.pipeline.budget import TokenTarget
    from dataprep.pipeline.forecast import ForecastOptions, forecast_dataset, hub_dataset, local_dataset
    from dataprep.pipeline.plan import parse_count

    if args.fast:
        raise DataprepError("--forecast reads files in full to measure duplication; it does not go with --fast")
    if args.paths and (args.dataset or args.subset is not None):
        raise DataprepError("give PATH or --dataset, not both")
    # The budget: --tokens, or the tokens a training plan given by its batch shape sees.
    tokens = args.tokens or (f"{opts.plan.tokens_seen:.0f}" if opts.plan is not None else None)
    if args.epochs is not None and not tokens:
        raise DataprepError("--epochs needs --tokens (the budget it divides)")
    fopts = ForecastOptions(**({} if args.forecast_shards is None else {"shards_read": args.forecast_shards}))
    target = None
    if tokens:
        target = TokenTarget(tokens=parse_count(tokens, "--tokens"), **({} if args.epochs is None else {"epochs": args.epochs}))
    progress = False if args.json else None
    if args.paths:
        dataset, source = local_dataset(args.paths), ["--input", *args.paths]
    else:
        name, subset = args.dataset or DEFAULT_DATASET, DEFAULT_SUBSET if args.subset is None else args.subset
        dataset, source = hub_dataset(name, subset, progress), ["--dataset", name, "--subset", subset]
    report = forecast_dataset(dataset, opts, fopts, target, progress)
    if target is not None:
        report["forecast"]["target"]["build_command"] = forecast_build_command(args, source, tokens)
    return report


def forecast_build_command(args, source: list[str], tokens: str) -> str:
    """``dataprep build --tokens`` over the dataset forecast, with the same rules (it takes files in order
    until the train split holds the budget, as the forecast counts them)."""
    argv = ["dataprep", "build", *source, "--out", f"build-{tokens}", "--tokens", tokens]
    if args.epochs is not None:
        argv += ["--epochs", f"{args.epochs:g}"]
    return shlex.join(argv + _same_rules(args))
