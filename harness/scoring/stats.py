"""Uncertainty: confidence intervals across replications, and tests of differences.

Requests within one run are not independent (a slow minute slows all its requests), so
intervals come from independent replications:

- a proportion (attainment, error rate) pools the replications' counts and takes the
  Wilson score interval, widened by the design effect: the ratio of the variance
  observed between replications to what independent requests would give;
- anything else (percentiles, recovery times, cost) takes a bootstrap percentile interval
  of the mean of the per-replication values;
- a difference between two sets of replications is tested by permutation (exact when
  there are few), which assumes nothing about distributions;
- where one more run would fall (its figure, not the mean's) is a prediction interval:
  mean ± t · s · √(1 + 1/n) over the replications' values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

__all__ = ["Interval", "bootstrap_mean", "design_effect", "permutation_p", "prediction",
           "t_quantile", "wilson"]

Interval = tuple[float, float]
_Z = NormalDist().inv_cdf(0.975)


def wilson(successes: float, n: float, z: float = _Z) -> Interval | None:
    """The Wilson score interval for ``successes`` out of ``n`` (95% by default)."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def design_effect(successes: Sequence[float], totals: Sequence[float]) -> float:
    """How much more the replications' proportions vary than independent trials would
    (≥ 1): observed variance of per-replication proportions over the binomial variance."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(totals, dtype=float)
    keep = n > 0
    k, n = k[keep], n[keep]
    if len(n) < 2:
        return 1.0
    p = k.sum() / n.sum()
    binomial = p * (1 - p) / n.mean()
    if binomial <= 0:
        return 1.0
    observed = float(np.var(k / n, ddof=1))
    return float(max(1.0, observed / binomial))


def pooled_proportion(successes: Sequence[float], totals: Sequence[float]) -> Interval | None:
    """Wilson on the pooled counts, with the sample size divided by the design effect."""
    n = float(sum(totals))
    if n <= 0:
        return None
    deff = design_effect(successes, totals)
    return wilson(float(sum(successes)) / deff, n / deff)


def bootstrap_mean(values: Sequence[float], rng: np.random.Generator, rounds: int = 2000,
                   level: float = 0.95) -> Interval | None:
    """A percentile-bootstrap interval for the mean of ``values`` (None if fewer than 2)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(arr) < 2:
        return None
    means = arr[rng.integers(0, len(arr), size=(rounds, len(arr)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def permutation_p(a: Sequence[float], b: Sequence[float], rng: np.random.Generator,
                  rounds: int = 20000) -> float | None:
    """Two-sided p-value for a difference in means: exact over all relabellings when
    there are few, else ``rounds`` random ones. None with fewer than 2 values a side."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return None
    pooled = np.concatenate([x, y])
    observed = abs(x.mean() - y.mean())
    n, total = len(x), len(pooled)
    if math.comb(total, n) <= rounds:
        hits = count = 0
        for chosen in itertools.combinations(range(total), n):
            mask = np.zeros(total, dtype=bool)
            mask[list(chosen)] = True
            count += 1
            hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed - 1e-12
        return float(hits / count)
    hits = 0
    for _ in range(rounds):
        perm = rng.permutation(pooled)
        hits += abs(perm[:n].mean() - perm[n:].mean()) >= observed - 1e-12
    return float((hits + 1) / (rounds + 1))


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, else the normal's
    with the Cornish–Fisher terms (Abramowitz & Stegun 26.7.5: within 1% from 3 on,
    0.02% from 9 on)."""
    if df < 1:
        raise ValueError("a t distribution has at least one degree of freedom")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p)))
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def prediction(values: Sequence[float], level: float = 0.95) -> Interval | None:
    """Where one more value from the same source falls ``level`` of the time (the normal
    prediction interval: mean ± t · s · √(1 + 1/n)); None with fewer than 2 values."""
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    n = len(arr)
    if n < 2:
        return None
    half = t_quantile(1 - (1 - level) / 2, n - 1) * float(arr.std(ddof=1)) \
        * math.sqrt(1 + 1 / n)
    mean = float(arr.mean())
    return mean - half, mean + half
