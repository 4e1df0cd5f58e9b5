"""The statistics of the dataset forecast: how the share of tokens that survive deduplication falls as
shards are added, fitted on k shards read in full and extrapolated to N, with a band.

The model. A shard's documents that pass the filters survive deduplication within their own shard
with probability ``d1`` (measured on each shard alone). A survivor then stays in a corpus of N shards
when none of the N - 1 other shards holds a copy of it (exact or near, joined through the decision
core's clusters). Shards of a mixed sample are exchangeable, so each document has a rate ``lam`` of
copies per other shard, and the chance that x other shards hold none is ``exp(-lam * x)``; a copy
group spread over many shards is thus removed once, not once per pair. Documents differ in ``lam``:

    phi(x) = E[exp(-lam * x)] = u + (1 - u) * (1 + mu * x / alpha) ** -alpha

a share ``u`` of documents that no other shard ever repeats, and for the rest a gamma law of mean
``mu`` and shape ``alpha`` (alpha -> inf: every document alike, ``exp(-mu x)``; small alpha: a few
documents copied everywhere, most rarely). The survival of the first N shards is then

    d(N) = d1 * (phi(0) + ... + phi(N - 1)) / N.

What k shards say. For each survivor, the number y of the k - 1 other shards read that hold a copy
(``copies_elsewhere``) has the law P(y) = C(k-1, y) E[(1 - e^-lam)^y e^-lam(k-1-y)]; its measured
distribution (weighted by tokens) is the data. The laws of a grid (the prior: each equally likely)
are weighed by that multinomial likelihood, so where k shards cannot tell the laws apart
(how many documents no shard repeats, how unequal the copy rates are), every law they allow stays in
the band. That is the species-accumulation problem: the band widens with N / k, and beyond the shards
read it is a model, not a measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The grid is the prior: laws on it are equally likely before the data. u is denser near 0 (most
# documents that can be copied are), alpha and mu are even in their logarithms.
U_GRID = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9])
ALPHA_GRID = np.append(np.exp(np.linspace(math.log(0.1), math.log(200.0), 20)), np.inf)
MU_GRID = np.append(0.0, np.exp(np.linspace(math.log(1e-4), math.log(3.0), 50)))
# Copies come in groups: the documents of one group share their links (a group read in two shards
# gives two documents with the same links), so the survivors are not independent draws. The
# likelihood counts each as a quarter of a draw: the value at which the band held the real value in
# at least 9 of 10 seeds for every generator, N and k of bench/forecast_accuracy.py (docs/estimate.md);
# at 2 it held it in 7 to 9 of 10 for the pool with the middle overlap.
DESIGN_EFFECT = 4.0
BAND_Z = 2.0  # standard errors each side for the measured parts of the band (about 95%)
BAND_QUANTILES = (0.025, 0.975)
# Beyond the shards read, each side of the band also grows by this share of the tokens that the
# forecast says other shards take away (d1 - d(N)), per e-fold of N / k: the grid's laws are not
# every law, and the farther the forecast goes the more an unlisted one could differ.
WIDEN_PER_EFOLD = 0.1
EXCHANGEABLE_Z = 3.0  # pair link rates that differ by more than this many standard errors: not alike


@dataclass
class Grid:
    """Copy laws (u, alpha, mu) and their posterior weights."""

    u: np.ndarray
    alpha: np.ndarray
    mu: np.ndarray
    weight: np.ndarray

    def phi(self, x: np.ndarray) -> np.ndarray:
        """(laws, len(x)): the chance that x other shards hold no copy of a survivor."""
        return self.u[:, None] + (1 - self.u[:, None]) * _gamma_laplace(x[None, :], self.alpha[:, None],
                                                                         self.mu[:, None])


def _gamma_laplace(s: np.ndarray, alpha: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """E[exp(-lam s)] for lam of mean mu and gamma shape alpha (alpha inf: lam = mu)."""
    finite = np.isfinite(alpha)
    shape = np.where(finite, alpha, 1.0)
    return np.where(finite, (1 + mu * s / shape) ** -shape, np.exp(-mu * s))


def copies_elsewhere(group: np.ndarray, shard: np.ndarray, k: int) -> np.ndarray:
    """For each document (group label >= 0, shard 0..k-1), how many other shards hold a member of its group."""
    member = group >= 0
    pairs = np.unique(np.stack([group[member], shard[member]], axis=1), axis=0)
    shards_of = np.bincount(pairs[:, 0], minlength=int(group.max()) + 1 if len(group) else 0)
    return np.where(member, shards_of[np.maximum(group, 0)] - 1, 0)


def link_law(y: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """Share of ``weight`` (tokens of survivors) with y = 0..k-1 other shards holding a copy."""
    total = weight.sum()
    return np.array([weight[y == v].sum() for v in range(k)], dtype=np.float64) / max(total, 1)


def _link_probabilities(g: Grid, k: int) -> np.ndarray:
    """(k, laws): P(y) under each law."""
    rows = []
    for y in range(k):
        terms = sum(math.comb(y, i) * (-1) ** i * _gamma_laplace(np.float64(k - 1 - y + i), g.alpha, g.mu)
                    for i in range(y + 1))
        rows.append(math.comb(k - 1, y) * ((1 - g.u) * terms + (g.u if y == 0 else 0.0)))
    p = np.clip(np.array(rows), 1e-300, None)
    return p / p.sum(axis=0)


def posterior(law: np.ndarray, documents: int, k: int) -> Grid:
    """The grid's laws weighed by the likelihood of the measured link law over ``documents`` survivors;
    the least likely laws, together a ten-thousandth of the weight, are dropped."""
    u, alpha, mu = (a.ravel() for a in np.meshgrid(U_GRID, ALPHA_GRID, MU_GRID, indexing="ij"))
    g = Grid(u, alpha, mu, np.ones(len(u)))
    loglik = (documents / DESIGN_EFFECT) * (law[:, None] * np.log(_link_probabilities(g, k))).sum(axis=0)
    w = np.exp(loglik - loglik.max())
    order = np.argsort(w, kind="stable")
    keep = np.sort(order[np.cumsum(w[order]) > 1e-4 * w.sum()])
    return Grid(u[keep], alpha[keep], mu[keep], w[keep] / w[keep].sum())


def survival_band(g: Grid, shards: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, low, high) over N = 1..shards of mean(phi(0..N-1)), the cross-shard part of d(N)."""
    mean_phi = np.cumsum(g.phi(np.arange(shards, dtype=np.float64)), axis=1) / np.arange(1, shards + 1)
    order = np.argsort(mean_phi, axis=0, kind="stable")
    cum = np.cumsum(g.weight[order], axis=0)
    columns = np.arange(shards)
    out = []
    for q in (0.5, *BAND_QUANTILES):
        at = np.minimum((cum < q).sum(axis=0), len(g.weight) - 1)
        out.append(mean_phi[order[at, columns], columns])
    return out[0], out[1], out[2]


def widened(median: np.ndarray, low: np.ndarray, high: np.ndarray, d1: float, read: int, relative_se: float,
            realization_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The band of d(N): the laws' quantiles, plus BAND_Z standard errors of what was measured (d1, and
    the draw of the particular first N shards), plus the allowance for extrapolating ln(N / read)."""
    n = np.arange(1, len(median) + 1)
    measured = BAND_Z * (relative_se * median + realization_sd)
    beyond = WIDEN_PER_EFOLD * np.log(np.maximum(n / read, 1.0)) * np.maximum(d1 - median, 0.0)
    return np.maximum(low - measured - beyond, 0.0), high + measured + beyond


def realization_sd(shard_sd: float, shards: int, total: int) -> np.ndarray:
    """Standard deviation of the mean survival of N particular shards out of ``total`` (finite population)."""
    n = np.arange(1, shards + 1)
    return shard_sd * np.sqrt(np.maximum(total - n, 0) / max(total - 1, 1) / n)


def homogeneous(d1: float, rate: float, shards: int) -> np.ndarray:
    """d(N) when every document has copies in a share ``rate`` of the other shards (every law's limit)."""
    phi = (1 - min(max(rate, 0.0), 1.0)) ** np.arange(shards)
    return d1 * np.cumsum(phi) / np.arange(1, shards + 1)


def rate_difference_z(first: tuple[int, int], last: tuple[int, int]) -> float:
    """How many standard errors apart two link rates are, each (documents linked, documents), as Poisson counts."""
    (x1, n1), (x2, n2) = first, last
    r1, r2 = x1 / max(n1, 1), x2 / max(n2, 1)
    se = math.sqrt(max(x1, 1) / max(n1, 1) ** 2 + max(x2, 1) / max(n2, 1) ** 2)
    return (r2 - r1) / se


def pairs_spread_z(linked: list[int], documents: list[int]) -> float:
    """Whether the pairs' link counts vary more than Poisson counts at one common rate would: the
    chi-square statistic over the pairs as a normal deviate (Wilson-Hilferty); large means not alike."""
    x, n = np.array(linked, dtype=np.float64), np.array(documents, dtype=np.float64)
    df = len(x) - 1
    if df < 1 or x.sum() == 0:
        return 0.0
    expected = n * x.sum() / n.sum()
    chi2 = float(((x - expected) ** 2 / np.maximum(expected, 1e-9)).sum())
    c = 2 / (9 * df)
    return ((chi2 / df) ** (1 / 3) - (1 - c)) / math.sqrt(c)
