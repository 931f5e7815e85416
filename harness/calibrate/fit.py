"""Fitting the scenario's distributions to observed values, and saying how well they fit.

Each family is fitted by maximum likelihood (lognormal, normal, exponential) or Minka's
closed-form approximation of it (gamma, within 1.5% of the exact shape). A family is kept
only if its p50, p90, p95, p99 and mean are each within ``QUANTILE_TOLERANCE`` of the
observed ones — or within what the observations can tell, when there are too few of them
to pin a quantile down that closely — those are the figures a twin is judged on; of the
families kept, the closest in shape (Kolmogorov–Smirnov distance) wins. When none is,
the values themselves are kept as an ``empirical`` distribution of up to 400 quantiles,
each standing for an equal share of the observations (which reproduces any shape, the
tail included).

Observations that are all (nearly) equal fit a ``constant``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from harness.dists import (
    Constant,
    DistSpec,
    Empirical,
    Exponential,
    Gamma,
    LogNormal,
    Normal,
    Uniform,
)

__all__ = [
    "CONSTANT_SPREAD",
    "QUANTILES",
    "QUANTILE_TOLERANCE",
    "Fit",
    "fit_count",
    "fit_duration",
]

QUANTILES = (0.50, 0.90, 0.95, 0.99)
#: a parametric family is kept only when each of QUANTILES is within this share
QUANTILE_TOLERANCE = 0.05
#: observations whose p1..p99 spread is below this share of their median are a constant
CONSTANT_SPREAD = 0.02
_DRAWS = 50_000  # draws from a fitted distribution to read its quantiles and KS distance
_EMPIRICAL_POINTS = 400
_Z95 = NormalDist().inv_cdf(0.95)


@dataclass(frozen=True)
class Fit:
    """A fitted distribution and how well it matches what was observed."""

    dist: DistSpec
    n: int
    ks: float  #: Kolmogorov–Smirnov distance between the observations and the fit
    observed: dict[str, float]  #: p50/p90/p95/p99 and mean of the observations
    fitted: dict[str, float]  #: the same figures of the fitted distribution
    tried: dict[str, float] = field(default_factory=dict)  #: family → worst quantile error

    @property
    def family(self) -> str:
        return self.dist.kind

    @property
    def worst_error(self) -> float:
        """The largest relative gap between an observed and a fitted quantile."""
        return max((_rel(self.fitted[k], v) for k, v in self.observed.items()), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "n": self.n, "ks": round(self.ks, 4),
                "worst_quantile_error": round(self.worst_error, 4),
                "observed": {k: _round(v) for k, v in self.observed.items()},
                "fitted": {k: _round(v) for k, v in self.fitted.items()},
                "tried": {k: round(v, 4) for k, v in self.tried.items()}}


def _round(v: float) -> float:
    return float(f"{v:.6g}")


def _rel(a: float, b: float) -> float:
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return abs(a - b) / abs(b)


def _figures(values: np.ndarray) -> dict[str, float]:
    qs = np.quantile(values, QUANTILES)
    out = {f"p{round(100 * q)}": float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    out["mean"] = float(values.mean())
    return out


def _ks(sorted_obs: np.ndarray, sorted_fit: np.ndarray) -> float:
    """Two-sample KS distance (the fit is represented by a large sample of it)."""
    grid = np.concatenate([sorted_obs, sorted_fit])
    a = np.searchsorted(sorted_obs, grid, side="right") / len(sorted_obs)
    b = np.searchsorted(sorted_fit, grid, side="right") / len(sorted_fit)
    return float(np.abs(a - b).max())


def _r(v: float) -> float:
    """Four significant digits: what a person would write (and read)."""
    return float(f"{v:.4g}")


def _slack(sorted_obs: np.ndarray) -> dict[str, float]:
    """How far each figure may be off: ``QUANTILE_TOLERANCE``, or more where the
    observations cannot pin the quantile down that closely — half its distribution-free
    95% interval (the order statistics at ranks n·q ± 2·√(n·q·(1−q)))."""
    n = len(sorted_obs)
    out = {}
    for q in QUANTILES:
        value = float(np.quantile(sorted_obs, q))
        half = 2 * math.sqrt(n * q * (1 - q))
        lo = sorted_obs[max(int(n * q - half), 0)]
        hi = sorted_obs[min(math.ceil(n * q + half), n - 1)]
        out[f"p{round(100 * q)}"] = max(QUANTILE_TOLERANCE,
                                         (hi - lo) / 2 / value if value > 0 else 0.0)
    mean, sd = float(sorted_obs.mean()), float(sorted_obs.std())
    out["mean"] = max(QUANTILE_TOLERANCE, 2 * sd / math.sqrt(n) / mean if mean > 0 else 0.0)
    return out


def _candidates(x: np.ndarray, *, count: bool) -> list[DistSpec]:
    mean, sd = _r(float(x.mean())), _r(float(x.std()))
    found: list[DistSpec] = []
    if sd > 0:
        found.append(Normal(dist="normal", mean=mean, sd=sd))
        found.append(Uniform(dist="uniform", low=_r(float(x.min())), high=_r(float(x.max()))))
    positive = x[x > 0]
    if not count and len(positive) == len(x) and sd > 0:
        logs = np.log(x)
        mu, sigma = float(logs.mean()), float(logs.std())
        if sigma > 0:
            median = math.exp(mu)
            found.append(LogNormal(dist="lognormal", median=_r(median),
                                   p95=_r(median * math.exp(_Z95 * sigma))))
        s = math.log(mean) - float(logs.mean())
        if s > 0:
            shape = (3 - s + math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
            found.append(Gamma(dist="gamma", mean=mean, cv=_r(1 / math.sqrt(shape))))
        found.append(Exponential(dist="exponential", mean=mean))
    return found


def _empirical(x: np.ndarray, *, count: bool) -> Empirical:
    n = min(_EMPIRICAL_POINTS, len(x))
    points = np.quantile(x, (np.arange(n) + 0.5) / n)  # the middle of each equal share
    if count:
        points = np.round(points)
    return Empirical(dist="empirical", samples=[_r(float(v)) for v in points])


def _fit(values: np.ndarray | list[float], *, count: bool, seed: int) -> Fit:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        raise ValueError("nothing observed to fit")
    x = np.clip(x, 0.0, None)
    observed = _figures(x)
    sorted_obs = np.sort(x)
    median = observed["p50"]
    spread = float(np.quantile(x, 0.99) - np.quantile(x, 0.01))
    if spread <= CONSTANT_SPREAD * max(median, 1e-12) or spread == 0:
        value = round(observed["mean"]) if count else _round(observed["mean"])
        dist: DistSpec = Constant(mean=value)
        return Fit(dist, len(x), _ks(sorted_obs, np.full(1, value)), observed,
                   _figures(np.full(1, float(value))))
    rng = np.random.default_rng(seed)
    best: tuple[float, DistSpec, dict[str, float]] | None = None
    tried: dict[str, float] = {}
    slack = _slack(sorted_obs)
    for cand in _candidates(x, count=count):
        draws = cand.sample(rng, _DRAWS)
        if count:
            draws = np.round(draws)
        figures = _figures(draws)
        worst = max(_rel(figures[k], v) for k, v in observed.items())
        tried[cand.kind] = worst
        if any(_rel(figures[k], v) > slack[k] for k, v in observed.items()):
            continue
        ks = _ks(sorted_obs, np.sort(draws))  # of those close enough, the closest shape
        if best is None or ks < best[0]:
            best = (ks, cand, figures)
    if best is not None:
        return Fit(best[1], len(x), best[0], observed, best[2], tried)
    emp = _empirical(x, count=count)
    draws = emp.sample(rng, _DRAWS)
    return Fit(emp, len(x), _ks(sorted_obs, np.sort(draws)), observed, _figures(draws), tried)


def fit_duration(values: np.ndarray | list[float], *, seed: int = 0) -> Fit:
    """The distribution of durations (seconds) that best reproduces ``values``."""
    return _fit(values, count=False, seed=seed)


def fit_count(values: np.ndarray | list[float], *, seed: int = 0) -> Fit:
    """The distribution of counts (tokens, calls) that best reproduces ``values``."""
    return _fit(values, count=True, seed=seed)
