"""``build --tokens``: how many shards a training budget takes, and what each one added.

Shards are taken in order; after each, the decisions are taken again over all the shards so far,
and the build stops at the first count whose deduplicated, filtered train split holds at least
``tokens / epochs`` tokens (EOT included: what the trainer reads). A shard adds less than its own
tokens, since part of it is filtered or duplicates what came before, and less and less as the
shards overlap: every step's effective tokens (train + val) are kept, so the report shows that
marginal share falling.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from dataprep.errors import DataprepError
from dataprep.pipeline.plan import MAX_COUNT, MAX_COUNT_SHOWN, check_count


@dataclass(frozen=True)
class TokenTarget:
    """A training budget: the run sees ``tokens``, repeating its train split at most ``epochs`` times."""

    tokens: int
    epochs: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", check_count(self.tokens, "tokens (--tokens)"))
        if not (isinstance(self.epochs, (int, float)) and math.isfinite(self.epochs) and self.epochs > 0):
            raise DataprepError(f"epochs (--epochs) must be a positive number, not {self.epochs}")
        if self.tokens / self.epochs > MAX_COUNT:
            raise DataprepError(f"--tokens {self.tokens:,} --epochs {self.epochs:g} asks for a train split (tokens / "
                                f"epochs) of more than {MAX_COUNT_SHOWN} tokens, the largest count taken: give more "
                                "--epochs")

    @property
    def train_tokens(self) -> int:
        """The train split it needs."""
        return math.ceil(self.tokens / self.epochs)

    def as_dict(self) -> dict:
        return asdict(self)


def step(path: str, shard_tokens: int, split: np.ndarray, written: np.ndarray, before: dict | None) -> dict:
    """One row of the table: the corpus of the shards so far, once ``path`` (``shard_tokens`` tokens,
    EOT included) is added; ``split`` and ``written`` are the decisions over them all."""
    train = int(written[split == "train"].sum())
    effective = train + int(written[split == "val"].sum())
    added = effective - (before["effective_tokens"] if before else 0)
    return {"shard": (before["shard"] if before else 0) + 1, "path": path, "tokens": shard_tokens,
            "train_tokens": train, "effective_tokens": effective, "added": added,
            "added_share": added / shard_tokens if shard_tokens else 0.0}


def section(target: TokenTarget, steps: list[dict]) -> dict:
    """meta.json's ``target``: the budget, whether the shards taken meet it (when not, every input
    was taken), and every step."""
    need = target.train_tokens
    have = steps[-1]["train_tokens"] if steps else 0
    return {**target.as_dict(), "train_tokens_needed": need, "met": have >= need, "short_by": max(0, need - have),
            "shards": len(steps), "epochs_planned": target.tokens / have if have else None,
            "steps": steps}
