"""``dataprep synth``: generated FineWeb-Edu-like shards with planted duplicates."""

from __future__ import annotations

from dataprep.errors import DataprepError, printable
from dataprep.synth import SynthConfig
from dataprep.tables import plural

DEFAULTS = SynthConfig()


def add_synth(sub) -> None:
    p = sub.add_parser(
        "synth",
        description="Writes OUT (one file) or OUT/shard_NNNNN.parquet (with --shards > 1).",
    )
    p.add_argument("out", metavar="OUT")
    p.add_argument("--docs", type=int, default=DEFAULTS.docs, help=f"documents per shard (default {DEFAULTS.docs})")
    p.add_argument("--shards", type=int, default=DEFAULTS.shards, help=f"(default {DEFAULTS.shards})")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"(default {DEFAULTS.seed})")
    p.add_argument("--schema", choices=("fineweb-edu", "fineweb", "text"), default=DEFAULTS.schema,
                   help=f"(default {DEFAULTS.schema})")
    p.add_argument("--exact-rate", type=float, default=DEFAULTS.exact_rate,
                   help=f"share of documents that are exact copies (default {DEFAULTS.exact_rate:g})")
    p.add_argument("--near-rate", type=float, default=DEFAULTS.near_rate,
                   help=f"share of documents that are near copies (default {DEFAULTS.near_rate:g})")
    p.add_argument("--pool", type=int, help="draw documents from this many distinct ones, with replacement, so later "
                   "shards repeat more of the earlier ones; a repeat is an exact or near copy in the ratio of the two "
                   "rates (default: no pool, copies at those rates)")
    p.add_argument("--dumps", type=int, help="a mixed sample of this many crawl dumps instead of --pool: a page is "
                   "crawled in c of them, P(c) ~ 1/c^2, its crawls spread over all shards (copy groups far more unequal "
                   "than a pool's)")
    p.add_argument("--repeats-last", action="store_true", help="with --pool or --dumps: every document seen before "
                   "after all first sightings, so later shards repeat earlier ones more (shards not exchangeable)")
    p.add_argument("--truth", metavar="FILE.json", help="also write what was planted")
    p.set_defaults(run=run_synth)


def run_synth(args) -> int:
    from dataprep.synth import generate

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
        pool=args.pool,
        dumps=args.dumps,
        repeats_last=args.repeats_last,
    )
    truth = generate(args.out, cfg)
    if args.truth:
        truth.save(args.truth)
    wrote = f"{plural(len(truth.files), 'file')}, {plural(sum(truth.rows_per_file), 'document')}"
    print(printable(f"wrote {wrote}: {args.out}"))
    return 0
