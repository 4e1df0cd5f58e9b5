"""Near-duplicate options that estimate and build share: one place for their names, defaults and checks."""

from __future__ import annotations

from dataprep.errors import DataprepError


def add_dedup_options(group) -> None:
    group.add_argument("--threshold", type=float, default=0.7, help="near-duplicate Jaccard threshold (default 0.7)")
    group.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    group.add_argument("--ngram", type=int, default=5, help="words per shingle (default 5)")
    group.add_argument("--boilerplate-min-docs", type=int, default=3,
                       help="documents a line must recur in to count as boilerplate (default 3)")


def add_tokenizer_option(group) -> None:
    group.add_argument("--tokenizer", choices=("tiktoken", "riptoken"), default="tiktoken",
                       help="riptoken: the same ids, faster (pip install 'dataprep[fast]'; default tiktoken)")


def lsh_params_from(args):
    """LSHParams from the checked options; raises DataprepError naming the bad one."""
    from dataprep.minhash import LSHParams

    if not 0 < args.threshold < 1:
        raise DataprepError("--threshold must be between 0 and 1")
    if args.num_perm < 2 or args.ngram < 1 or args.boilerplate_min_docs < 2:
        raise DataprepError("--num-perm must be >= 2, --ngram >= 1, --boilerplate-min-docs >= 2")
    return LSHParams(num_perm=args.num_perm, threshold=args.threshold, ngram=args.ngram)
