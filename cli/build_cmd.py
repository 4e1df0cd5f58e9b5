"""``dataprep build``: arguments -> BuildOptions -> dataprep.pipeline.build.build."""

from __future__ import annotations

import json
import os
import sys

from dataprep.errors import DataprepError, printable
from dataprep.pipeline.budget import TokenTarget
from dataprep_cli.rule_options import add_rule_options, add_tokenizer_option, rules_from

TARGET_EPOCHS = TokenTarget.__dataclass_fields__["epochs"].default

DEFAULT_DATASET = "HuggingFaceFW/fineweb-edu"
DEFAULT_SUBSET = "sample/100BT"
# The ways to say how much of a hub dataset to build.
SIZE_OPTIONS = "--shards N (its first N files) or --tokens T (as many files as a training budget needs)"


def add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        help="deduplicate, filter and tokenize many shards into nanoGPT/llm.c token bins",
        description="Reads local parquet files (--input) or a Hugging Face dataset (--dataset), removes exact and "
        "near duplicates across all shards, filters by edu score, and writes train.bin/val.bin.",
    )
    src = p.add_argument_group("input")
    src.add_argument("--input", nargs="+", metavar="PATH", help="parquet files, directories or globs")
    src.add_argument("--dataset", help=f"Hugging Face dataset (default when no --input: {DEFAULT_DATASET})")
    src.add_argument("--subset", help=f"folder inside the dataset (default: {DEFAULT_SUBSET})")
    src.add_argument("--shards", type=int, help="take the first N files (sorted); with --dataset, this or --tokens "
                     "is required")
    src.add_argument("--tokens", metavar="T",
                     help="a training budget, e.g. 7.3B: take files in order until the deduplicated, filtered train "
                          "split holds T / --epochs tokens (at most --shards files)")
    src.add_argument("--epochs", type=float,
                     help=f"times the run may repeat its train split, with --tokens (default {TARGET_EPOCHS:g})")
    src.add_argument("--text-column", help="column holding the text (default: text)")
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
    o.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    o.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="ray: run the stages as Ray tasks (pip install 'dataprep[ray]'; default local)")
    o.add_argument("--ray-address", help="Ray cluster to join, e.g. auto (default: start one on this machine)")
    o.add_argument("--json", action="store_true", help="print meta.json only, no progress")
    o.add_argument("--forecast", metavar="EST.json",
                   help="the JSON of `dataprep estimate --forecast --json`: show its forecast beside what each shard "
                        "step measured (printed only: meta.json and the bins do not change)")
    p.set_defaults(run=run_build)


def _inputs(args):
    """Local paths as given, or a hub dataset's files: fetched now (--shards), or one at a time (--tokens)."""
    if args.input and args.dataset:
        raise DataprepError("give --input or --dataset, not both")
    if args.input:
        return args.input
    dataset = args.dataset or DEFAULT_DATASET
    subset = DEFAULT_SUBSET if args.subset is None else args.subset
    if args.shards is None and args.tokens is None:  # the default subset alone is hundreds of GB: never fetched by omission
        raise DataprepError(
            f"a build from the hub needs a size, {SIZE_OPTIONS}: without one all of {dataset}"
            f"{'/' + subset if subset else ''} would be downloaded"
        )
    from dataprep.io.hub import HubShards, fetch_shards

    progress = False if args.json else None
    if args.tokens is not None:
        return HubShards(dataset, subset, progress=progress, wanted=args.shards)
    return [str(p) for p in fetch_shards(dataset=dataset, subset=subset, shards=args.shards, progress=progress)]


def _target(args) -> TokenTarget | None:
    from dataprep.pipeline.plan import parse_count

    if args.tokens is None:
        if args.epochs is not None:
            raise DataprepError("--epochs needs --tokens (the budget it divides)")
        return None
    extra = {} if args.epochs is None else {"epochs": args.epochs}
    return TokenTarget(tokens=parse_count(args.tokens, "--tokens"), **extra)


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

    if args.shards is not None and args.shards < 1:
        raise DataprepError("--shards must be at least 1")
    if args.workers < 1:
        raise DataprepError("--workers must be at least 1")
    opts = BuildOptions(
        **rules_from(args),
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
                 target=target)
    check = None
    if forecast is not None:
        from dataprep.pipeline.forecast import check_build

        check = check_build(forecast, meta)
    if args.json:
        print(json.dumps(meta if check is None else {**meta, "forecast_check": check}, indent=2))
    else:
        from dataprep.io.storage import Store

        if stats.get("up_to_date"):
            print(printable(f"{args.out} is up to date: it already holds this build (same inputs and options); "
                            "nothing was redone\n", lines=True))
        elif "grown_from" in stats:
            had, now = stats["grown_from"], len(meta["sources"])
            held = (f"the first {had} of these {now} input files with the same options: only the others were scanned"
                    if had < now else f"{had} input files, these {now} first, with the same options: nothing was scanned")
            print(printable(f"{args.out} held a build of {held}, and its bins gave the tokens of the documents it had "
                            "written\n", lines=True))
        print(printable(Store(args.out).read_bytes("report.md").decode(), lines=True))
        if check is not None:
            from dataprep_cli.report import render_forecast_check

            print(printable(render_forecast_check(check), lines=True))
    short = (meta.get("target") or {}).get("short_by")
    if short:
        t = meta["target"]
        print(printable(f"dataprep: warning: the {t['shards']} input file(s) give a train split of "
                        f"{meta['train_tokens']:,} tokens, {short:,} short of the {t['train_tokens_needed']:,} that "
                        f"--tokens {args.tokens} --epochs {t['epochs']:g} needs; the build is complete with what there "
                        "is: add input files and rerun the same command to grow it"), file=sys.stderr)
    return 0
