"""FineWeb-Edu's educational score: ``score`` (float) and ``int_score`` = round(clamp(score, 0, 5)).

A file may carry either column, both, or neither; these helpers fill one
from the other and apply a threshold the way FineWeb-Edu does.
"""

from __future__ import annotations

import numpy as np

# How the score filter (``decide.filter_reasons``) treats a document without a score, said wherever scores are reported.
UNSCORED_RULE = "documents without an edu score pass the score filter"


def complete_scores(score: np.ndarray | None, int_score: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(score as float64 with NaN where unknown, int_score as int64 with -1 where unknown)."""
    if score is None:
        score = np.full(n, np.nan)
        if int_score is not None:
            score = np.where(int_score >= 0, int_score, np.nan).astype(np.float64)
    if int_score is None:
        int_score = np.full(n, -1, dtype=np.int64)
    known = ~np.isnan(score)
    fill = (int_score < 0) & known
    int_score = np.where(fill, np.rint(np.clip(np.nan_to_num(score), 0, 5)), int_score).astype(np.int64)
    score = np.where(~known & (int_score >= 0), int_score, score).astype(np.float64)
    return score, int_score


def passes_min_score(score: np.ndarray, int_score: np.ndarray, min_score: float) -> np.ndarray:
    """FineWeb-Edu's rule for whole thresholds (int_score >= 3); the float score otherwise."""
    if float(min_score).is_integer():
        return int_score >= min_score
    return np.nan_to_num(score, nan=-np.inf) >= min_score
