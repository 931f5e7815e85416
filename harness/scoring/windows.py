"""Per-window SLI: arrivals are grouped into SLA windows by their intended start.

A window is *compliant* when its ``percentile`` latency of successful requests is within
the objective and its error rate (requests not ok / arrivals) within the error budget.
A window with no arrivals is compliant: nothing in it went wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Windows", "group_quantile", "window_stats"]


def group_quantile(groups: np.ndarray, values: np.ndarray, q: float, ngroups: int) -> np.ndarray:
    """The ``q`` quantile (linear interpolation, numpy's default) of ``values`` per group;
    NaN for empty groups. Vectorised: one sort, no Python loop over groups."""
    out = np.full(ngroups, np.nan)
    if values.size == 0:
        return out
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    counts = np.bincount(g, minlength=ngroups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    pos = q * (counts[has] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, counts[has] - 1)
    frac = pos - lo
    base = starts[has]
    out[has] = v[base + lo] * (1 - frac) + v[base + hi] * frac
    return out


@dataclass(frozen=True)
class Windows:
    width: float
    starts: np.ndarray  #: window start times
    total: np.ndarray  #: arrivals
    ok: np.ndarray
    good: np.ndarray
    latency_q: np.ndarray  #: the SLA percentile of successful requests (NaN: none)
    compliant: np.ndarray  #: bool

    @property
    def error_rate(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.total > 0, 1 - self.ok / np.maximum(self.total, 1), 0.0)

    @property
    def nonempty(self) -> np.ndarray:
        return self.total > 0

    def index_at(self, t: float) -> int:
        return min(max(int(t // self.width), 0), len(self.starts) - 1)


def window_stats(intended: np.ndarray, latency: np.ndarray, ok: np.ndarray, good: np.ndarray,
                 *, duration: float, width: float, percentile: float, objective: float,
                 budget: float) -> Windows:
    n = max(1, math.ceil(duration / width - 1e-9))
    idx = np.clip((intended // width).astype(np.int64), 0, n - 1)
    total = np.bincount(idx, minlength=n)
    ok_n = np.bincount(idx[ok], minlength=n)
    good_n = np.bincount(idx[good], minlength=n)
    lat_q = group_quantile(idx[ok], latency[ok], percentile / 100.0, n)
    with np.errstate(invalid="ignore"):
        err_rate = np.where(total > 0, 1 - ok_n / np.maximum(total, 1), 0.0)
        latency_ok = np.where(np.isnan(lat_q), True, lat_q <= objective)
    compliant = (total == 0) | (latency_ok & (err_rate <= budget + 1e-12))
    return Windows(width, np.arange(n) * width, total, ok_n, good_n, lat_q, compliant)
