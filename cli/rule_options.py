"""The options estimate and build share: the decision rules and the tokenizer.

Defaults are the library's (``decide.Rules``, ``minhash.LSHParams``), shown in the help; an
option not given is not passed on, so the library's default applies. Checks are the library's too.
"""

from __future__ import annotations

import re

from dataprep.dedup.decide import Rules
from dataprep.dedup.minhash import LSHParams

RULES = Rules()
LSH = LSHParams()


def add_rule_options(parser) -> None:
    f = parser.add_argument_group("filters (the same rules in estimate and build)")
    f.add_argument("--min-score", type=float, help=f"edu score threshold, where scores exist (default {RULES.min_score:g})")
    f.add_argument("--no-score-filter", action="store_true", help="keep every score")
    f.add_argument("--min-language-score", type=float, help="drop documents below this language_score")
    f.add_argument("--min-tokens", type=int, help=f"drop documents shorter than this many tokens (default {RULES.min_tokens})")
    d = parser.add_argument_group("deduplication")
    d.add_argument("--threshold", type=float, help=f"near-duplicate Jaccard threshold (default {LSH.threshold})")
    d.add_argument("--num-perm", type=int, help=f"MinHash permutations (default {LSH.num_perm})")
    d.add_argument("--ngram", type=int, help=f"words per shingle (default {LSH.ngram})")
    d.add_argument("--boilerplate-min-docs", type=int,
                   help=f"documents a line must recur in to count as boilerplate (default {RULES.boilerplate_min_docs})")
    d.add_argument("--strip-boilerplate", action="store_true", help="remove lines recurring in many documents")
    d.add_argument("--val-fraction", type=float, help=f"share of documents for val (default {RULES.val_fraction})")


def add_tokenizer_option(group) -> None:
    group.add_argument("--tokenizer", choices=("tiktoken", "riptoken"), default="tiktoken",
                       help="riptoken: the same ids, faster (pip install 'dataprep[fast]'; default tiktoken)")


def rules_from(args) -> dict:
    """The rule options given on the command line, as keyword arguments of Rules (and its subclasses)."""
    lsh = {k: getattr(args, k) for k in ("num_perm", "threshold", "ngram") if getattr(args, k) is not None}
    given = {k: getattr(args, k) for k in ("min_score", "min_language_score", "min_tokens", "boilerplate_min_docs",
                                            "val_fraction") if getattr(args, k) is not None}
    if args.no_score_filter:
        given["min_score"] = None
    return {**given, "lsh": LSHParams(**lsh), "strip_boilerplate": args.strip_boilerplate}


def take_negative_values(parser) -> None:
    """Let an option's value start with '-' and a digit, so that "--tokens -5M" reaches the count's own
    check, which names the problem; argparse takes only plain negative numbers ("-5", "-.5") for values,
    and anything else starting with '-' for an unknown option ("expected one argument"). No option of
    ours starts with a digit, so none is mistaken for a value."""
    parser._negative_number_matcher = re.compile(r"^-\.?\d")
