"""Training-plan arithmetic: tokens seen, epochs, and what repetition is worth.

Effective data under repetition follows Muennighoff et al. 2023 ("Scaling
Data-Constrained Language Models"): with U unique tokens seen for
1 + R epochs, D' = U + U * R* * (1 - exp(-R / R*)), R* = 15.39. Repeated
tokens are worth less and less; D' never exceeds U * (1 + R*).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dataprep.errors import DataprepError

R_STAR = 15.39
TOKENS_PER_PARAM = 20  # Chinchilla's compute-optimal ratio
_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


def parse_count(text: str | int | float, what: str = "value") -> float:
    """'124M', '7.3B', '2.5e9', 1000 -> a number."""
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip().upper().replace(",", "").replace("_", "")
    suffix = s[-1] if s and s[-1] in _SUFFIX else ""
    try:
        value = float(s[: len(s) - len(suffix)]) * _SUFFIX[suffix]
    except ValueError:
        raise DataprepError(f"cannot read {what} {text!r}: use a number like 124M, 7.3B or 2.5e9") from None
    if not math.isfinite(value) or value <= 0:
        raise DataprepError(f"{what} must be a positive number, got {text!r}")
    return value


def effective_data(unique: float, epochs: float) -> float:
    """D' for ``epochs`` passes over ``unique`` tokens (tokens seen when epochs <= 1)."""
    if epochs <= 1:
        return unique * epochs
    r = epochs - 1
    return unique + unique * R_STAR * (1 - math.exp(-r / R_STAR))


@dataclass(frozen=True)
class Plan:
    params: float
    tokens_seen: float

    @classmethod
    def from_run(cls, params: float, batch_size: int, grad_accum: int, block_size: int, iters: int) -> "Plan":
        return cls(params=params, tokens_seen=float(batch_size) * grad_accum * block_size * iters)

    def check(self, effective_tokens: float, shards: int) -> dict:
        """The plan against a corpus of ``shards`` files holding ``effective_tokens`` unique tokens."""
        if effective_tokens <= 0:
            raise DataprepError("the input holds no effective tokens, so no plan can be checked")
        epochs = self.tokens_seen / effective_tokens
        per_shard = effective_tokens / max(shards, 1)
        d_eff = effective_data(effective_tokens, epochs)
        return {
            "params": self.params,
            "tokens_seen": self.tokens_seen,
            "effective_tokens": effective_tokens,
            "epochs": epochs,
            "compute_optimal_tokens": TOKENS_PER_PARAM * self.params,
            "effective_data": d_eff,
            "effective_data_ratio": d_eff / self.tokens_seen,
            "shards_in_input": shards,
            "effective_tokens_per_shard": per_shard,
            "shards_for_1_epoch": math.ceil(self.tokens_seen / per_shard),
            "shards_for_4_epochs": math.ceil(self.tokens_seen / (4 * per_shard)),
            "shards_for_compute_optimal": math.ceil(TOKENS_PER_PARAM * self.params / per_shard),
        }
