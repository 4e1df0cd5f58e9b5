"""``dataprep build``: arguments -> BuildOptions -> dataprep.pipeline.build.build."""

from __future__ import annotations

import json
import sys

from dataprep.errors import DataprepError, printable
from dataprep.pipeline.budget import TokenTarget
from dataprep.tables import plural
from dataprep_cli.rule_options import add_rule_options, add_tokenizer_option, rules_from, take_negative_values
from dataprep_cli.source_options import add_engine_options, add_hub_options, hub_source

TARGET_EPOCHS = TokenTarget.__dataclass_fields__["epochs"].default

# The ways to say how much of a hub dataset to build.
SIZE_OPTIONS = "--shards N (its first N files) or --tokens T (as many files as a training budget needs)"


def add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        description="Reads local parquet files (--input) or a Hugging Face dataset (--dataset), removes exact and "
        "near duplicates across all shards, filters by edu score, and writes train.bin/val.bin.",
    )
    src = p.add_argument_group("input")
    src.add_argument("--input", nargs="+", metavar="PATH", help="parquet files, directories, globs or URLs")
    add_hub_options(src, "--shards or --tokens")
    src.add_argument("--tokens", metavar="T",
                     help="a training budget, e.g. 7.3B: take files in order until the deduplicated, filtered train "
                          "split holds T / --epochs tokens (at most --shards files)")
    src.add_argument("--epochs", type=float,
                     help=f"times the run may repeat its train split, with --tokens (default {TARGET_EPOCHS:g})")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_rule_options(p)
    v = p.add_argument_group("validation split")
    v.add_argument("--val-from", nargs="+", metavar="PATH", help="take val from these files instead")
    v.add_argument("--val-bin", metavar="FILE", help="reuse the val.bin of an earlier build")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=("nanogpt", "llmc"), default="nanogpt",
                   help="llmc also writes llm.c/modded-nanogpt header shards")
    o.add_argument("--overwrite", action="store_true", help="replace a different build in --out")
    add_tokenizer_option(o)
    add_engine_options(o)
    o.add_argument("--json", action="store_true", help="print meta.json only, no progress")
    o.add_argument("--forecast", metavar="EST.json",
                   help="the JSON of `dataprep estimate --forecast --json`: show its forecast beside what each shard "
                        "step measured (printed only: meta.json and the bins do not change)")
    take_negative_values(p)
    p.set_defaults(run=run_build)


def _inputs(args):
    """Local paths as given, or a hub dataset's files: fetched now (--shards), or one at a time (--tokens)."""
    return hub_source(args, args.input, SIZE_OPTIONS, lazy=args.tokens is not None)


def _target(args) -> TokenTarget | None:
    from dataprep.pipeline.plan import parse_count

    if args.tokens is None:
        if args.epochs is not None:
            raise DataprepError("--epochs needs --tokens (the budget it divides)")
        return None
    extra = {} if args.epochs is None else {"epochs": args.epochs}
    return TokenTarget(tokens=parse_count(args.tokens, "--tokens"), **extra)


def _say(line: str) -> None:
    print(printable(line), file=sys.stderr)


def _forecast(path: str) -> dict:
    """The estimate report ``path`` holds, read before the build starts so that a bad one costs nothing."""
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except OSError as exc:
        raise DataprepError(f"--forecast {path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError:
        raise DataprepError(f"--forecast {path}: not JSON; give the output of `dataprep estimate --forecast --json`") from None
    from dataprep.pipeline.forecast import forecast_of

    try:
        forecast_of(report)
    except DataprepError as exc:
        raise DataprepError(f"--forecast {path}: {exc}") from None
    return report


def run_build(args) -> int:
    from dataprep.pipeline.build import BuildOptions, build

    opts = BuildOptions(
        **rules_from(args),
        tokenizer_backend=args.tokenizer,
        val_from=args.val_from,
        val_bin=args.val_bin,
        text_column=args.text_column,
        formats=("nanogpt", "llmc") if args.format == "llmc" else ("nanogpt",),
    )
    target = _target(args)
    forecast = _forecast(args.forecast) if args.forecast else None
    inputs = _inputs(args)
    shards = args.shards if args.input or target else None  # a hub fetch without --tokens already took the first N
    stats: dict = {}
    meta = build(inputs, args.out, opts, shards=shards, workers=args.workers, overwrite=args.overwrite,
                 progress=False if args.json else None, stats=stats, engine=args.engine, ray_address=args.ray_address,
                 target=target, say=None if args.json else _say)
    check = None
    if forecast is not None:
        from dataprep.pipeline.forecast import check_build

        check = check_build(forecast, meta)
    if args.json:
        print(json.dumps(meta if check is None else {**meta, "forecast_check": check}, indent=2))
    else:
        from dataprep.io.storage import Store

        said = _what_was_reused(args.out, stats, len(meta["sources"]))
        if said:
            print(printable(said))
            print()
        print(printable(Store(args.out).read_bytes("report.md").decode(), lines=True))
        if check is not None:
            from dataprep_cli.report import render_forecast_check

            print(printable(render_forecast_check(check), lines=True))
    short = (meta.get("target") or {}).get("short_by")
    if short:
        t = meta["target"]
        print(printable(f"dataprep: warning: the train split of the {plural(t['shards'], 'input file')} is "
                        f"{meta['train_tokens']:,} tokens, {short:,} short of the {t['train_tokens_needed']:,} that "
                        f"--tokens {args.tokens} --epochs {t['epochs']:g} needs; the build is complete with what there "
                        "is: add input files and rerun the same command to grow it"), file=sys.stderr)
    return 0


def _what_was_reused(out: str, stats: dict, inputs: int) -> str | None:
    """The line that says a finished build in ``out`` was kept, or grown or cut back into this one."""
    if stats.get("up_to_date"):
        return f"{out} is up to date: it already holds this build (same inputs and options); nothing was redone"
    if "grown_from" not in stats:
        return None
    had = stats["grown_from"]
    if had < inputs:
        first = "the first" if had == 1 else f"the first {had:,}"
        held = f"{first} of these {inputs:,} input files with the same options: only the others were scanned"
    else:
        these = "this one" if inputs == 1 else f"these {inputs:,}"
        held = f"{plural(had, 'input file')} with the same options, {these} first: nothing was scanned"
    return f"{out} held a build of {held}, and its bins gave the tokens of the documents it had written"
