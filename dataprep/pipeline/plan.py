"""Training-plan arithmetic: tokens seen, epochs, and what repetition is worth.

Effective data under repetition follows Muennighoff et al. 2023 ("Scaling
Data-Constrained Language Models"): with U unique tokens seen for
1 + R epochs, D' = U + U * R* * (1 - exp(-R / R*)), R* = 15.39. Repeated
tokens are worth less and less; D' never exceeds U * (1 + R*).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from dataprep.errors import DataprepError

R_STAR = 15.39
TOKENS_PER_PARAM = 20  # Chinchilla's compute-optimal ratio
# Repetition up to this many epochs is worth nearly as much as fresh data (Muennighoff et al. 2023,
# 0.93 at 4): the plan counts the shards for it, and advises repeating no more than that.
REPEAT_EPOCHS = 4
# The largest count (of tokens or parameters) taken: far beyond any corpus or model, and below
# 2**53, so that a float holds every whole count exactly and no later arithmetic overflows.
MAX_COUNT = 10**15
MAX_COUNT_SHOWN = "1e15 (1,000T)"
# A count as people write it: digits (grouped by commas in threes, or by underscores), an optional
# fraction, then either an exponent or one suffix, never both ("2e9B" is a typo, not 2e18).
_COUNT = re.compile(
    r"(?P<number>(?:\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(?:\.\d+)?|\.\d+)"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>[KkMmBbGgTt]))?"
)
_SUFFIX_DIGITS = {"K": 3, "M": 6, "B": 9, "G": 9, "T": 12}
COUNT_EXAMPLES = "124M, 7.3B, 7300000000, 7,300,000,000 or 7.3e9"


def parse_count(text: str | int | float, what: str = "value") -> int:
    """A whole, positive count at most MAX_COUNT, as written on the command line: '124M', '7.3B',
    '7300000000', '7,300,000,000', '7_300_000_000', '7.3e9', '2k' (K, M, B or G, T: thousands to
    trillions). ``what`` names the option in the message that refuses anything else."""
    if isinstance(text, (int, float)):
        return check_count(text, what)
    match = _COUNT.fullmatch(text.strip())
    if match is None:
        sign = "a positive" if text.strip().startswith("-") else "a"
        raise DataprepError(f"cannot read {what} {text!r}: give {sign} count like {COUNT_EXAMPLES}")
    digits = match["number"].replace(",", "").replace("_", "") + (match["exponent"] or "")
    value = Decimal(digits).scaleb(_SUFFIX_DIGITS[match["suffix"].upper()]) if match["suffix"] else Decimal(digits)
    return check_count(value, what, text.strip())


def check_count(value: int | float | Decimal, what: str, shown: str | None = None) -> int:
    """``value`` as an int when it is a whole number from 1 to MAX_COUNT; else the one line that says why
    not. The bound is checked first, so that "1e999999" never becomes a million-digit int."""
    shown = shown or (f"{value:g}" if isinstance(value, float) else f"{value}")
    if value != value:  # NaN
        raise DataprepError(f"{what} must be a count like {COUNT_EXAMPLES}, not {shown}")
    if value > MAX_COUNT:
        raise DataprepError(f"{what} {shown} is more than {MAX_COUNT_SHOWN}, the largest count taken")
    if value < 1:
        raise DataprepError(f"{what} must be at least 1, not {shown}")
    if value != int(value):
        raise DataprepError(f"{what} must be a whole number, not {shown}")
    return int(value)


def effective_data(unique: float, epochs: float) -> float:
    """D' for ``epochs`` passes over ``unique`` tokens (tokens seen when epochs <= 1)."""
    if epochs <= 1:
        return unique * epochs
    r = epochs - 1
    return unique + unique * R_STAR * (1 - math.exp(-r / R_STAR))


@dataclass(frozen=True)
class Plan:
    """A training run: the model's parameters and the tokens it sees, whole counts (``check_count``)."""

    params: int
    tokens_seen: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", check_count(self.params, "params (--params)"))
        object.__setattr__(self, "tokens_seen", check_count(self.tokens_seen, "tokens seen (--tokens)"))

    @classmethod
    def from_run(cls, params: float, batch_size: int, grad_accum: int, block_size: int, iters: int) -> "Plan":
        seen = check_count(batch_size * grad_accum * block_size * iters,
                           "tokens seen (--batch-size x --grad-accum x --block-size x --iters)")
        return cls(params=params, tokens_seen=seen)

    def check(self, effective_tokens: float, shards: int, train_tokens: int | None = None) -> dict:
        """The plan against a corpus of ``shards`` files holding ``effective_tokens`` unique tokens, of
        which ``train_tokens`` (default: all) are its train split, what ``build --tokens`` counts."""
        if effective_tokens <= 0:
            raise DataprepError("the input holds no effective tokens, so no plan can be checked")
        epochs = self.tokens_seen / effective_tokens
        per_shard = effective_tokens / max(shards, 1)
        d_eff = effective_data(effective_tokens, epochs)
        train = effective_tokens if train_tokens is None else train_tokens
        return {
            "params": self.params,
            "tokens_seen": self.tokens_seen,
            "effective_tokens": effective_tokens,
            "train_tokens": train,
            "epochs": epochs,
            # The fewest whole epochs at which a build of these files meets the plan (1: it needs no repeats).
            "epochs_for_input": math.ceil(self.tokens_seen / train) if train > 0 else None,
            "compute_optimal_tokens": TOKENS_PER_PARAM * self.params,
            "effective_data": d_eff,
            "effective_data_ratio": d_eff / self.tokens_seen,
            "shards_in_input": shards,
            "effective_tokens_per_shard": per_shard,
            "shards_for_1_epoch": math.ceil(self.tokens_seen / per_shard),
            "shards_for_4_epochs": math.ceil(self.tokens_seen / (REPEAT_EPOCHS * per_shard)),
            "shards_for_compute_optimal": math.ceil(TOKENS_PER_PARAM * self.params / per_shard),
        }
