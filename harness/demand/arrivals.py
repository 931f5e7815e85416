"""Arrival schedules: when each request is sent, which workflow it runs, its priority.

Arrival times come from a rate curve by time-rescaling: a process with unit rate in
"operational time" Λ(t) = ∫ rate is mapped back through Λ⁻¹. The rate is linear between
grid points (the curve's breakpoints are grid points), so Λ is piecewise quadratic and
inverted exactly.

- ``poisson``: a non-homogeneous Poisson process. Work is split into chunks of about 2¹⁶
  expected arrivals; each chunk draws its count from a Poisson law and its points as
  sorted uniforms (normalised exponential spacings), so output is sorted without a sort
  and memory stays bounded.
- ``deterministic``: evenly spaced in operational time (one arrival per unit of Λ).
- ``bursty``: a renewal process with gamma inter-arrivals of mean 1 in operational time;
  ``smoothness`` is the gamma shape: below 1 burstier than Poisson, 1 is Poisson, above 1
  smoother (the coefficient of variation is 1/√smoothness).
- ``replay``: the exact arrivals of an arrival trace.

One seed gives the same schedule in every run and in both engines.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from harness.demand.curves import Curve, cumulative, grid_step, rate_grid
from harness.rng import stream

__all__ = ["ArrivalProcess", "ArrivalSchedule", "Priority", "arrival_times", "assign_workflows"]

_CHUNK = 1 << 16  # cache-sized: measured faster than 2^18..2^22


class ArrivalProcess(StrEnum):
    POISSON = "poisson"
    DETERMINISTIC = "deterministic"
    BURSTY = "bursty"
    REPLAY = "replay"


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 is served first."""
        return _RANK[self]


_RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}
PRIORITIES: tuple[Priority, ...] = (Priority.HIGH, Priority.NORMAL, Priority.LOW)


class _Inverse:
    """Λ⁻¹ for a rate that is linear between grid points (Λ piecewise quadratic)."""

    def __init__(self, times: np.ndarray, rates: np.ndarray) -> None:
        self.cum = cumulative(times, rates)
        self.total = float(self.cum[-1])
        h = np.diff(times)
        self.t0, self.h, self.r0 = times[:-1], h, rates[:-1]
        self.slope = np.divide(np.diff(rates), h, out=np.zeros_like(h), where=h > 0)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """t with Λ(t) = u, for sorted u in ``[0, total]``.

        Both u and the grid are sorted, so the grid is searched in u (one search per
        cell of the slice u spans) and each cell index is repeated over its points.
        """
        if u.size == 0:
            return u
        cum = self.cum
        lo = max(int(np.searchsorted(cum, u[0], side="right")) - 1, 0)
        hi = min(int(np.searchsorted(cum, u[-1], side="right")), len(cum) - 1)
        edges = np.searchsorted(u, cum[lo + 1 : hi], side="left")
        counts = np.diff(edges, prepend=0, append=len(u))
        idx = np.repeat(np.arange(lo, lo + len(counts)), counts)
        delta = u - cum[idx]
        r0 = self.r0[idx]
        # r0·x + slope·x²/2 = delta, in the form that is stable when slope → 0 or
        # r0 → 0; the denominator is 0 only where delta is 0 too.
        root = r0 * r0
        root += 2.0 * self.slope[idx] * delta
        np.sqrt(np.maximum(root, 0.0, out=root), out=root)
        root += r0
        x: np.ndarray = np.divide(2.0 * delta, root, out=np.zeros_like(delta), where=root > 0)
        np.clip(x, 0.0, self.h[idx], out=x)
        x += self.t0[idx]
        return x


def arrival_times(
    curve: Curve,
    duration: float,
    process: ArrivalProcess | str = ArrivalProcess.POISSON,
    seed: int = 0,
    *,
    smoothness: float = 1.0,
    replay: np.ndarray | None = None,
) -> np.ndarray:
    """Sorted arrival times in ``[0, duration)`` for ``curve`` (float64 seconds)."""
    process = ArrivalProcess(process)
    if process is ArrivalProcess.REPLAY:
        if replay is None:
            raise ValueError("the replay process needs an arrival trace")
        return np.asarray(replay[replay < duration], dtype=float)
    inverse = _Inverse(*rate_grid(curve, 0.0, duration, grid_step(duration)))
    if inverse.total <= 0:
        return np.empty(0)
    rng = stream(seed, "arrivals")
    if process is ArrivalProcess.DETERMINISTIC:
        chunks = _evenly(inverse.total)
    elif process is ArrivalProcess.BURSTY:
        chunks = _renewal(rng, inverse.total, smoothness)
    else:
        chunks = _poisson(rng, inverse.total)
    parts = [inverse(u) for u in chunks]
    out = np.concatenate(parts) if parts else np.empty(0)
    return out[out < duration]


def _evenly(total: float) -> Iterator[np.ndarray]:
    """0, 1, 2, … below ``total``."""
    n = math.ceil(total)
    for start in range(0, n, _CHUNK):
        u = np.arange(start, min(start + _CHUNK, n), dtype=float)
        yield u[u < total]


def _poisson(rng: np.random.Generator, total: float) -> Iterator[np.ndarray]:
    """Unit-rate Poisson points on ``[0, total)``, chunk by chunk (independent increments)."""
    nchunks = max(1, math.ceil(total / _CHUNK))
    edges = np.linspace(0.0, total, nchunks + 1)
    for k in range(nchunks):
        lam = edges[k + 1] - edges[k]
        n = int(rng.poisson(lam))
        if n:
            spacings = np.cumsum(rng.standard_exponential(n + 1))
            u = spacings[:n]
            u *= lam / spacings[n]
            u += edges[k]
            yield u


def _renewal(rng: np.random.Generator, total: float, shape: float) -> Iterator[np.ndarray]:
    """Points of a gamma renewal process with mean gap 1 on ``[0, total)``."""
    start = 0.0
    while start < total:
        gaps = rng.gamma(shape, 1.0 / shape, _CHUNK)
        pts = np.cumsum(gaps)
        pts += start
        start = float(pts[-1])
        yield pts[pts < total]


def assign_workflows(n: int, weights: Sequence[float], seed: int) -> np.ndarray:
    """Workflow index of each of ``n`` arrivals, drawn by ``weights`` (int16)."""
    w = np.asarray(weights, dtype=float)
    if len(w) == 1:
        return np.zeros(n, dtype=np.int16)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    draws = stream(seed, "workflows").random(n)
    if len(w) > 16:
        return np.searchsorted(cdf, draws, side="right").astype(np.int16)
    # A handful of thresholds: one comparison pass each beats a binary search per draw.
    codes = np.zeros(n, dtype=np.int16)
    for edge in cdf[:-1]:
        codes += draws >= edge
    return codes


@dataclass(frozen=True, eq=False)
class ArrivalSchedule:
    """Every request a run will send, in order. Request ``i`` is ``times[i]`` etc."""

    times: np.ndarray  #: intended send time, seconds from the start (float64, sorted)
    workflow: np.ndarray  #: index into ``workflows`` (int16)
    priority: np.ndarray  #: index into ``PRIORITIES`` (int8): 0 high, 1 normal, 2 low
    workflows: tuple[str, ...]
    duration: float

    def __len__(self) -> int:
        return len(self.times)

    def counts(self, width: float) -> np.ndarray:
        """Arrivals per window of ``width`` seconds."""
        nbins = max(1, math.ceil(self.duration / width))
        idx = np.minimum((self.times // width).astype(np.int64), nbins - 1)
        return np.bincount(idx, minlength=nbins)

    def fingerprint(self) -> str:
        """SHA-256 of the schedule: equal schedules have equal fingerprints."""
        h = hashlib.sha256()
        for arr in (self.times, self.workflow, self.priority):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\0".join(self.workflows).encode())
        return h.hexdigest()
