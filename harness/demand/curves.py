"""Demand curves: request rate (per second) as a function of time (seconds from start).

Curves are small immutable objects that compose with operators::

    base = Constant(5)
    peak = base + Spike(at=240, duration=60, height=40, rise=10)
    day = Diurnal(low=20, high=500, peak_at=14 * 3600) * 1.2
    capped = (day + peak).clip(0, 450)

``rate(t)`` is vectorised over a numpy array. A curve reports the times where it jumps
or bends (``breakpoints``) so that arrival generation can be exact for step and
piecewise-linear curves. Negative rates are allowed inside compositions (a sum with a
negative scale, say) and are clipped to zero when arrivals are drawn.

The YAML form of each kind lives in :mod:`harness.scenario.demand`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Burst",
    "Clip",
    "Constant",
    "Curve",
    "Diurnal",
    "Noise",
    "Piecewise",
    "Product",
    "Ramp",
    "Scale",
    "Sequence",
    "Sine",
    "Spike",
    "Step",
    "Sum",
    "crossings",
    "grid_step",
    "integrate",
    "rate_grid",
]

_EMPTY = np.empty(0)


class Curve:
    """A request rate over time. Subclasses implement ``rate`` and, if they jump or bend,
    ``breakpoints``."""

    def rate(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        """Times in ``(t0, t1)`` where the curve jumps or bends (may contain duplicates)."""
        return _EMPTY

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        return self.rate(np.asarray(t, dtype=float))

    def __add__(self, other: Curve | float) -> Curve:
        return Sum((self, _as_curve(other)))

    __radd__ = __add__

    def __mul__(self, other: Curve | float) -> Curve:
        if isinstance(other, Curve):
            return Product((self, other))
        return Scale(self, float(other))

    __rmul__ = __mul__

    def clip(self, low: float = 0.0, high: float = math.inf) -> Curve:
        return Clip(self, low, high)

    def integral(self, t0: float, t1: float) -> float:
        """Expected arrivals in ``[t0, t1]`` (rate clipped at zero)."""
        return integrate(self, t0, t1)


def _as_curve(x: Curve | float) -> Curve:
    return x if isinstance(x, Curve) else Constant(float(x))


def _window(points: np.ndarray, t0: float, t1: float) -> np.ndarray:
    return points[(points > t0) & (points < t1)]


@dataclass(frozen=True)
class Constant(Curve):
    value: float

    def rate(self, t: np.ndarray) -> np.ndarray:
        return np.full(t.shape, self.value)


@dataclass(frozen=True)
class Ramp(Curve):
    """``start_rate`` until ``at``, linear to ``end_rate`` over ``over`` s, then holds."""

    start_rate: float
    end_rate: float
    over: float
    at: float = 0.0

    def rate(self, t: np.ndarray) -> np.ndarray:
        frac = np.clip((t - self.at) / self.over, 0.0, 1.0)
        return self.start_rate + (self.end_rate - self.start_rate) * frac

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        return _window(np.array([self.at, self.at + self.over]), t0, t1)


@dataclass(frozen=True)
class Piecewise(Curve):
    """Linear between ``(time, rate)`` points; holds the first and last values outside."""

    points: tuple[tuple[float, float], ...]

    def rate(self, t: np.ndarray) -> np.ndarray:
        xs, ys = zip(*self.points, strict=True)
        out: np.ndarray = np.interp(t, xs, ys)
        return out

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        return _window(np.array([p[0] for p in self.points]), t0, t1)


@dataclass(frozen=True)
class Step(Curve):
    """Piecewise constant: from each ``(time, rate)`` point on, the rate is that value."""

    points: tuple[tuple[float, float], ...]

    def rate(self, t: np.ndarray) -> np.ndarray:
        xs = np.array([p[0] for p in self.points])
        ys = np.array([p[1] for p in self.points])
        idx = np.searchsorted(xs, t, side="right") - 1
        return ys[np.clip(idx, 0, len(ys) - 1)]

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        return _window(np.array([p[0] for p in self.points]), t0, t1)


_EDGE = 1e-9  # edges shorter than this are jumps


def _trapezoid(t: np.ndarray, start: float, duration: float, rise: float,
               fall: float) -> np.ndarray:
    """1 on ``[start + rise, start + duration − fall]``, linear edges, 0 outside."""
    up = np.clip((t - start) / rise, 0.0, 1.0) if rise > _EDGE else (t >= start).astype(float)
    end = start + duration
    down = np.clip((end - t) / fall, 0.0, 1.0) if fall > _EDGE else (t < end).astype(float)
    out: np.ndarray = np.minimum(up, down)
    return out


@dataclass(frozen=True)
class Spike(Curve):
    """A single burst of ``height`` extra requests/s from ``at`` for ``duration`` s, with
    linear ``rise`` and ``fall`` edges inside that duration. Zero elsewhere: add it to a
    base curve."""

    at: float
    duration: float
    height: float
    rise: float = 0.0
    fall: float = 0.0

    def rate(self, t: np.ndarray) -> np.ndarray:
        return self.height * _trapezoid(t, self.at, self.duration, self.rise, self.fall)

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        end = self.at + self.duration
        return _window(np.array([self.at, self.at + self.rise, end - self.fall, end]), t0, t1)


@dataclass(frozen=True)
class Burst(Curve):
    """Spikes of ``height`` lasting ``duration`` s, every ``every`` s from ``start``."""

    every: float
    duration: float
    height: float
    start: float = 0.0
    rise: float = 0.0

    def rate(self, t: np.ndarray) -> np.ndarray:
        local = np.where(t >= self.start, np.mod(t - self.start, self.every), -1.0)
        return self.height * _trapezoid(local, 0.0, self.duration, self.rise, self.rise)

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        first = max(0, math.floor((t0 - self.start) / self.every))
        last = math.ceil((t1 - self.start) / self.every)
        starts = self.start + self.every * np.arange(first, last + 1)
        offsets = np.array([0.0, self.rise, self.duration - self.rise, self.duration])
        return _window((starts[:, None] + offsets[None, :]).ravel(), t0, t1)


@dataclass(frozen=True)
class Sine(Curve):
    """Oscillates between ``low`` and ``high`` with ``period``; at ``t = phase`` it is at
    the midpoint, rising."""

    low: float
    high: float
    period: float
    phase: float = 0.0

    def rate(self, t: np.ndarray) -> np.ndarray:
        mid, amp = (self.high + self.low) / 2, (self.high - self.low) / 2
        return mid + amp * np.sin(2 * np.pi * (t - self.phase) / self.period)


@dataclass(frozen=True)
class Diurnal(Curve):
    """A daily cycle: ``high`` at clock time ``peak_at``, ``low`` half a period later.
    ``start_at`` is the clock time of ``t = 0``."""

    low: float
    high: float
    peak_at: float = 14 * 3600.0
    period: float = 86400.0
    start_at: float = 0.0

    def rate(self, t: np.ndarray) -> np.ndarray:
        mid, amp = (self.high + self.low) / 2, (self.high - self.low) / 2
        return mid + amp * np.cos(2 * np.pi * (t + self.start_at - self.peak_at) / self.period)


@dataclass(frozen=True)
class Sum(Curve):
    parts: tuple[Curve, ...]

    def rate(self, t: np.ndarray) -> np.ndarray:
        total = self.parts[0].rate(t)
        for part in self.parts[1:]:
            total = total + part.rate(t)
        return total

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        return np.concatenate([p.breakpoints(t0, t1) for p in self.parts])

    def __add__(self, other: Curve | float) -> Curve:
        return Sum((*self.parts, _as_curve(other)))


@dataclass(frozen=True)
class Product(Curve):
    parts: tuple[Curve, ...]

    def rate(self, t: np.ndarray) -> np.ndarray:
        total = self.parts[0].rate(t)
        for part in self.parts[1:]:
            total = total * part.rate(t)
        return total

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        return np.concatenate([p.breakpoints(t0, t1) for p in self.parts])


@dataclass(frozen=True)
class Scale(Curve):
    curve: Curve
    factor: float

    def rate(self, t: np.ndarray) -> np.ndarray:
        return self.curve.rate(t) * self.factor

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        return self.curve.breakpoints(t0, t1)


@dataclass(frozen=True)
class Clip(Curve):
    curve: Curve
    low: float = 0.0
    high: float = math.inf

    def rate(self, t: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.clip(self.curve.rate(t), self.low, self.high)
        return out

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        """The child's breakpoints, plus where the child crosses ``low`` or ``high``:
        clipping bends the curve there."""
        inner = self.curve.breakpoints(t0, t1)
        times, _ = rate_grid(self.curve, t0, t1, grid_step(t1 - t0), floor=None)
        values = self.curve.rate(times)
        parts = [inner, crossings(times, values, self.low)]
        if math.isfinite(self.high):
            parts.append(crossings(times, values, self.high))
        return np.concatenate(parts)


@dataclass(frozen=True)
class Sequence(Curve):
    """Curves one after another: each segment runs for its duration with its own clock
    starting at zero; the last segment continues to the end."""

    segments: tuple[tuple[Curve, float], ...]

    def _starts(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum([d for _, d in self.segments])])

    def rate(self, t: np.ndarray) -> np.ndarray:
        starts = self._starts()
        which = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(self.segments) - 1)
        out = np.zeros(t.shape)
        for i, (curve, _) in enumerate(self.segments):
            mask = which == i
            if mask.any():
                out[mask] = curve.rate(t[mask] - starts[i])
        return out

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        starts = self._starts()
        inner = [
            curve.breakpoints(max(t0 - s, 0.0), t1 - s) + s
            for (curve, _), s in zip(self.segments, starts, strict=False)
        ]
        return np.concatenate([_window(starts, t0, t1), *inner])


@dataclass(frozen=True)
class Noise(Curve):
    """Multiplicative noise: the curve times a lognormal factor with mean 1 and log-sd
    ``sigma``, held constant over each ``every``-second interval. Seeded: the same seed
    gives the same factors for any query range."""

    curve: Curve
    sigma: float
    every: float
    seed: int = 0
    _cache: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    _CHUNK = 4096

    def _block(self, c: int) -> np.ndarray:
        block = self._cache.get(c)
        if block is None:
            rng = np.random.default_rng([self.seed, 0x6E6F, c])
            z = rng.standard_normal(self._CHUNK)
            block = self._cache[c] = np.exp(self.sigma * z - self.sigma**2 / 2)
        return block

    def _factors(self, idx: np.ndarray) -> np.ndarray:
        """The factor of each interval in ``idx``: linear in ``idx.size`` (one pass per
        4,096-interval chunk touched, not one scan of ``idx`` per chunk)."""
        chunks, within = np.divmod(idx, self._CHUNK)
        uniq, inverse = np.unique(chunks, return_inverse=True)
        blocks = np.stack([self._block(int(c)) for c in uniq])
        out: np.ndarray = blocks[inverse.reshape(idx.shape), within]
        return out

    def rate(self, t: np.ndarray) -> np.ndarray:
        idx = np.floor(np.maximum(t, 0.0) / self.every).astype(np.int64)
        out: np.ndarray = self.curve.rate(t) * self._factors(idx)
        return out

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        ticks = self.every * np.arange(max(0, math.floor(t0 / self.every)), t1 / self.every + 1)
        return np.concatenate([_window(ticks, t0, t1), self.curve.breakpoints(t0, t1)])


def grid_step(span: float) -> float:
    """Grid spacing over ``span`` seconds: at most 1 s, at least 65,536 cells."""
    return min(1.0, span / 65536)


def crossings(times: np.ndarray, values: np.ndarray, level: float) -> np.ndarray:
    """Where the piecewise-linear ``values`` cross ``level`` (interpolated times)."""
    d = values - level
    i = np.flatnonzero((d[:-1] < 0) != (d[1:] < 0))
    if i.size == 0:
        return _EMPTY
    frac = d[i] / (d[i] - d[i + 1])
    out: np.ndarray = times[i] + frac * (times[i + 1] - times[i])
    return out


def _with_breakpoints(base: np.ndarray, bps: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """``base`` plus ``b ± δ`` for every breakpoint strictly inside ``(t0, t1)``."""
    bps = np.unique(bps)
    bps = bps[(bps > t0) & (bps < t1)]
    if not bps.size:
        return base
    delta = 1e-6 + 1e-12 * np.abs(bps)
    near = np.concatenate([bps - delta, bps + delta])
    return np.unique(np.concatenate([base, near[(near > t0) & (near < t1)]]))


def rate_grid(curve: Curve, t0: float, t1: float, step: float, *,
              floor: float | None = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Times and rates on which the curve is linear between neighbours.

    A uniform grid of ``step`` plus, for every breakpoint ``b``, the points ``b ± δ``: a
    jump at ``b`` is carried by the tiny cell between them. Evaluating a hair away from
    ``b`` (rather than at it) keeps floating-point rounding of ``b`` itself (a periodic
    curve's ``mod``) from putting the jump on the wrong side. Rates are clipped at
    ``floor`` (arrivals need rates ≥ 0), with the crossing points added to the grid.
    """
    n = max(2, math.ceil((t1 - t0) / step) + 1)
    times = _with_breakpoints(np.linspace(t0, t1, n), curve.breakpoints(t0, t1), t0, t1)
    # The run is [t0, t1): the last point carries the left limit, so a jump exactly at t1
    # (a burst starting as the run ends) adds no area.
    probe = times.copy()
    probe[-1] = t1 - (1e-6 + 1e-12 * abs(t1))
    rates = curve.rate(probe)
    if floor is None:
        return times, rates
    if (rates < floor).any():
        zero = crossings(times, rates, floor)
        if zero.size:
            times = np.unique(np.concatenate([times, zero]))
            probe = times.copy()
            probe[-1] = t1 - (1e-6 + 1e-12 * abs(t1))
            rates = curve.rate(probe)
    return times, np.maximum(rates, floor)


def cumulative(times: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Λ(t) at each grid time: the exact integral of the piecewise-linear rate."""
    cum = np.empty(times.shape)
    cum[0] = 0.0
    np.cumsum((rates[1:] + rates[:-1]) * 0.5 * np.diff(times), out=cum[1:])
    return cum


#: The most grid cells :func:`integrate` uses by default: a 10-year ``duration`` is
#: checked and estimated in a second and 100 MB, not a 315-million-cell grid (breakpoints
#: still get their own cells; a smooth curve's trapezoids are fine at that resolution).
INTEGRAL_CELLS = 1 << 21


def integrate(curve: Curve, t0: float, t1: float, step: float | None = None) -> float:
    """∫ max(rate, 0) dt over ``[t0, t1]``."""
    if t1 <= t0:
        return 0.0
    if step is None:
        step = max(grid_step(t1 - t0), (t1 - t0) / INTEGRAL_CELLS)
        if curve.breakpoints(t0, t1).size > INTEGRAL_CELLS:
            # more steps than cells (years of a noise curve's intervals): the rate sampled
            # on the grid is estimate enough for a count that only has to be about right
            times = np.linspace(t0, t1, INTEGRAL_CELLS + 1)
            probe = times.copy()
            probe[-1] = t1 - (1e-6 + 1e-12 * abs(t1))
            return float(cumulative(times, np.maximum(curve.rate(probe), 0.0))[-1])
    times, rates = rate_grid(curve, t0, t1, step)
    return float(cumulative(times, rates)[-1])


def piecewise_from(points: Seq[tuple[float, float]]) -> Piecewise:
    return Piecewise(tuple((float(t), float(r)) for t, r in points))
