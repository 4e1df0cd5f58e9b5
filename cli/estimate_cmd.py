"""``dataprep estimate``: arguments -> EstimateOptions (and a training plan) -> dataprep.pipeline.estimate."""

from __future__ import annotations

import json
import os
import shlex

from dataprep.errors import DataprepError, printable
from dataprep.tables import plural
from dataprep_cli.rule_options import add_rule_options, add_tokenizer_option, rule_argv, rules_from, \
    take_negative_values


def add_estimate(sub) -> None:
    p = sub.add_parser(
        "estimate",
        help="measure exact, unique and effective tokens of parquet shards",
        description="Exact GPT-2 tokens, edu-score mix, exact and near duplicates, boilerplate, "
        "effective unique tokens and, given a training plan, how many epochs it repeats.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="parquet file, directory or glob")
    p.add_argument("--text-column", help="column holding the text (default: text)")
    p.add_argument("--fast", action="store_true", help="metadata only: tokens from token_count, no dedup")
    add_rule_options(p)
    p.add_argument("--top-lines", type=int, default=10, help="boilerplate lines to list (default 10)")
    add_tokenizer_option(p)
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


def build_command(args, report: dict) -> tuple[str, str | None]:
    """The ``dataprep build`` that meets the plan: the same rules, taking files in order until the train
    split holds the tokens the run sees (``--tokens``, at most one epoch); and a note on its inputs.

    Its inputs are those estimated, unless their train split falls short of the plan and they are
    files of one directory that holds more: then that directory (a shard is usually estimated alone,
    out of many).
    """
    plan = report["plan"]
    inputs, note = list(args.paths), None
    if plan["epochs_for_input"] is None or plan["epochs_for_input"] > 1:
        home = {os.path.dirname(p) or "." for p in args.paths}
        more = _parquet_files(next(iter(home))) if len(home) == 1 and all(os.path.isfile(p) for p in args.paths) else 0
        if more > plan["shards_in_input"]:
            inputs, note = [next(iter(home))], _directory_note(plan, more)
        else:
            note = _short_note(plan, report["effective_is_upper_bound"])
    tokens = args.tokens or f"{plan['tokens_seen']}"
    argv = ["dataprep", "build", "--input", *inputs, "--out", f"build-{tokens}", "--tokens", tokens]
    argv += rule_argv(args)
    if args.text_column is not None:
        argv += ["--text-column", args.text_column]
    return shlex.join(argv), note


def _estimated(plan: dict) -> str:
    return "the file estimated" if plan["shards_in_input"] == 1 else f"the {plan['shards_in_input']:,} files estimated"


def _directory_note(plan: dict, files: int) -> str:
    """Where the build takes the files of the estimated ones' directory, and whether they will do."""
    need = plan["shards_for_1_epoch"]
    enough = (f"by the verdict above, about {need:,} such files meet the plan" if need <= files else
              f"by the verdict above, the plan needs about {need:,} such files, more than it holds: the build will "
              "fall short and say by how much")
    return (f"--input is the directory of {_estimated(plan)}: its {files:,} parquet files are taken in sorted order "
            f"as long as the budget needs more; {enough}")


def _short_note(plan: dict, upper_bound: bool) -> str:
    """What to add when the files estimated fall short; ``--epochs`` only where it would meet the plan
    (known only when the train split was measured, not bounded, and not past REPEAT_EPOCHS)."""
    from dataprep.pipeline.plan import REPEAT_EPOCHS

    more = max(1, plan["shards_for_1_epoch"] - plan["shards_in_input"])
    train = f"{'at most ' if upper_bound else ''}{plan['train_tokens']:,}"
    note = (f"the train split of {_estimated(plan)} is {train} tokens, short of the {plan['tokens_seen']:,} seen: add "
            f"about {plural(more, 'more similar file')} to --input (the build says by how much it falls short)")
    epochs = plan["epochs_for_input"]
    if not upper_bound and epochs is not None and epochs <= REPEAT_EPOCHS:
        note += f", or add --epochs {epochs} to repeat each token up to {epochs} times"
    return note


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
        plan=plan_from_args(args),
    )
    report = estimate(args.paths, opts, progress=False if args.json else None)
    if "plan" in report:
        report["plan"]["build_command"], report["plan"]["build_note"] = build_command(args, report)
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
