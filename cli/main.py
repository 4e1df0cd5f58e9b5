"""``dataprep`` command: argument parsing and error reporting; the work is in the library."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import traceback

from dataprep import __version__
from dataprep.errors import DataprepError
from dataprep.memory import keep_freed_memory
from dataprep_cli.build_cmd import add_build
from dataprep_cli.demo_cmd import add_demo
from dataprep_cli.train_cmd import add_compare, add_train

EXIT_BAD_INPUT = 2


def _add_estimate(sub) -> None:
    p = sub.add_parser(
        "estimate",
        help="measure exact, unique and effective tokens of parquet shards",
        description="Exact GPT-2 tokens, edu-score mix, exact and near duplicates, boilerplate, "
        "effective unique tokens and, given a training plan, how many epochs it repeats.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="parquet file, directory or glob")
    p.add_argument("--text-column", help="column holding the text (default: text)")
    p.add_argument("--fast", action="store_true", help="metadata only: tokens from token_count, no dedup")
    p.add_argument("--min-score", type=float, help="drop documents below this edu score from effective tokens")
    p.add_argument("--threshold", type=float, default=0.7, help="near-duplicate Jaccard threshold (default 0.7)")
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    p.add_argument("--ngram", type=int, default=5, help="words per shingle (default 5)")
    p.add_argument("--boilerplate-min-docs", type=int, default=3, help="documents a line must recur in (default 3)")
    p.add_argument("--top-lines", type=int, default=10, help="boilerplate lines to list (default 10)")
    p.add_argument("--tokenizer", choices=("tiktoken", "riptoken"), default="tiktoken",
                   help="riptoken: the same ids, faster (pip install 'dataprep[fast]'; default tiktoken)")
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
    p.set_defaults(run=_run_estimate)


def _plan_from_args(args):
    from dataprep.plan import Plan, parse_count

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


def _run_estimate(args) -> int:
    from dataprep.estimate import EstimateOptions, estimate
    from dataprep.minhash import LSHParams

    from dataprep_cli.report import render_estimate

    if not 0 < args.threshold < 1:
        raise DataprepError("--threshold must be between 0 and 1")
    if args.num_perm < 2 or args.ngram < 1 or args.boilerplate_min_docs < 2:
        raise DataprepError("--num-perm must be >= 2, --ngram >= 1, --boilerplate-min-docs >= 2")
    opts = EstimateOptions(
        text_column=args.text_column,
        min_score=args.min_score,
        lsh=LSHParams(num_perm=args.num_perm, threshold=args.threshold, ngram=args.ngram),
        boilerplate_min_docs=args.boilerplate_min_docs,
        top_lines=args.top_lines,
        fast=args.fast,
        threads=max(1, args.threads),
        tokenizer_backend=args.tokenizer,
        plan=_plan_from_args(args),
    )
    report = estimate(args.paths, opts, progress=False if args.json else None)
    if args.plot:
        from dataprep.plots import plot_estimate

        plot_estimate(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_estimate(report))
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0


def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="generate FineWeb-Edu-like parquet shards with planted duplicates",
        description="Writes OUT (one file) or OUT/shard_NNNNN.parquet (with --shards > 1).",
    )
    p.add_argument("out", metavar="OUT")
    p.add_argument("--docs", type=int, default=1000, help="documents per shard (default 1000)")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--schema", choices=("fineweb-edu", "fineweb", "text"), default="fineweb-edu")
    p.add_argument("--exact-rate", type=float, default=0.05)
    p.add_argument("--near-rate", type=float, default=0.05)
    p.add_argument("--truth", metavar="FILE.json", help="also write what was planted")
    p.set_defaults(run=_run_synth)


def _run_synth(args) -> int:
    from dataprep.synth import SynthConfig, generate

    if args.docs < 1 or args.shards < 1:
        raise DataprepError("--docs and --shards must be at least 1")
    if not (0 <= args.exact_rate and 0 <= args.near_rate and args.exact_rate + args.near_rate < 1):
        raise DataprepError("--exact-rate and --near-rate must be >= 0 and sum to less than 1")
    cfg = SynthConfig(
        docs=args.docs,
        shards=args.shards,
        seed=args.seed,
        schema=args.schema,
        exact_rate=args.exact_rate,
        near_rate=args.near_rate,
    )
    truth = generate(args.out, cfg)
    if args.truth:
        truth.save(args.truth)
    print(f"wrote {len(truth.files)} file(s), {sum(truth.rows_per_file):,} documents: {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataprep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dataprep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_estimate(sub)
    add_build(sub)
    add_train(sub)
    add_compare(sub)
    add_demo(sub)
    _add_synth(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except DataprepError as exc:
        print(f"dataprep: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        # The trainer's interrupt names its step and checkpoint; a bare Ctrl-C elsewhere gets the generic line.
        message = str(exc) or (
            "interrupted; finished stages are kept: rerun the same command to resume a build "
            "(add --resume to continue a training run)"
        )
        print(f"\ndataprep: {message}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return _internal_error(exc)
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"dataprep: no space left{where} ({exc.strerror}); nothing half-written was kept: "
              "free space and rerun the same command to resume", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    """A bug of ours: one line by default, the traceback on request."""
    if os.environ.get("DATAPREP_DEBUG"):
        traceback.print_exception(exc)
    print(f"dataprep: internal error: {type(exc).__name__}: {exc} (set DATAPREP_DEBUG=1 for details)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
