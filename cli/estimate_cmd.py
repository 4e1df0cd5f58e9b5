"""``dataprep estimate``: arguments -> EstimateOptions (and a training plan) -> dataprep.pipeline.estimate."""

from __future__ import annotations

import json
import os
import shlex

from dataprep.errors import DataprepError, printable
from dataprep_cli.rule_options import add_rule_options, add_tokenizer_option, rule_argv, rules_from


def add_estimate(sub) -> None:
    p = sub.add_parser(
        "estimate",
        description="Exact GPT-2 tokens, edu-score mix, exact and near duplicates, boilerplate, "
        "effective unique tokens and, given a training plan, how many epochs it repeats.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="parquet file, directory or glob")
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
    p.set_defaults(run=run_estimate)


def plan_from_args(args):
    from dataprep.pipeline.plan import Plan, parse_count

    run_given = args.batch_size is not None or args.iters is not None
    if args.params is None:
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
    argv += rule_argv(args)
    if args.text_column is not None:
        argv += ["--text-column", args.text_column]
    return shlex.join(argv), note


def _parquet_files(directory: str) -> int:
    from pathlib import Path

    return sum(1 for p in Path(directory).rglob("*.parquet") if p.is_file())


def run_estimate(args) -> int:
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    from dataprep_cli.report import render_estimate

    opts = EstimateOptions(
        **rules_from(args),
        text_column=args.text_column,
        top_lines=args.top_lines,
        fast=args.fast,
        threads=max(1, args.threads),
        plan=plan_from_args(args),
    )
    report = estimate(args.paths, opts, progress=False if args.json else None)
    if "plan" in report:
        report["plan"]["build_command"], report["plan"]["build_note"] = build_command(args, report["plan"])
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
