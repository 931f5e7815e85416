"""Hypothesis strategies for demand curves of every kind, and an independent integrator."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from harness.demand import curves as c
from harness.demand.trace import ArrivalTrace, RateTrace

rates = st.floats(min_value=0.0, max_value=60.0, allow_nan=False)
positive = st.floats(min_value=0.5, max_value=60.0, allow_nan=False)
times = st.floats(min_value=0.0, max_value=300.0, allow_nan=False)
spans = st.floats(min_value=1.0, max_value=200.0, allow_nan=False)


@st.composite
def _points(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    ts = sorted(draw(st.lists(times, min_size=1, max_size=6)))
    return tuple((t, draw(rates)) for t in ts)


@st.composite
def _spike(draw: st.DrawFn) -> c.Curve:
    duration = draw(spans)
    rise = draw(st.floats(0, duration / 2))
    fall = draw(st.floats(0, duration - rise))
    return c.Spike(draw(times), duration, draw(positive), rise, fall)


@st.composite
def _burst(draw: st.DrawFn) -> c.Curve:
    every = draw(st.floats(5.0, 120.0))
    duration = draw(st.floats(1.0, every))
    return c.Burst(every, duration, draw(positive), draw(times), draw(st.floats(0, duration / 2)))


@st.composite
def _band(draw: st.DrawFn, kind: type) -> c.Curve:
    lo, hi = sorted((draw(rates), draw(positive)))
    if kind is c.Sine:
        return c.Sine(lo, hi, draw(st.floats(10.0, 400.0)), draw(times))
    return c.Diurnal(lo, hi, draw(times), draw(st.floats(60.0, 600.0)), draw(times))


@st.composite
def _rate_trace(draw: st.DrawFn) -> c.Curve:
    pts = draw(_points())
    ts = np.array([p[0] for p in pts])
    ts = np.unique(ts)
    rs = np.array([draw(rates) for _ in ts])
    if ts.size < 2:
        ts, rs = np.array([0.0, 100.0]), np.array([1.0, 5.0])
    return RateTrace(ts, rs, draw(st.booleans()))


@st.composite
def _arrival_trace(draw: st.DrawFn) -> c.Curve:
    n = draw(st.integers(1, 400))
    seed = draw(st.integers(0, 1000))
    return ArrivalTrace(np.sort(np.random.default_rng(seed).uniform(0, 300, n)),
                        draw(st.floats(0.5, 10.0)))


leaves = st.one_of(
    positive.map(c.Constant),
    st.builds(c.Ramp, rates, rates, spans, times),
    _points().map(c.Piecewise),
    _points().map(c.Step),
    _spike(),
    _burst(),
    _band(c.Sine),
    _band(c.Diurnal),
    _rate_trace(),
    _arrival_trace(),
)


def _composite(children: st.SearchStrategy[c.Curve]) -> st.SearchStrategy[c.Curve]:
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda xs: c.Sum(tuple(xs))),
        st.builds(c.Scale, children, st.floats(0.0, 3.0)),
        st.builds(c.Clip, children, st.floats(0.0, 5.0), st.floats(5.0, 80.0)),
        st.lists(st.tuples(children, spans), min_size=1, max_size=3).map(
            lambda xs: c.Sequence(tuple(xs))),
        st.builds(c.Noise, children, st.floats(0.0, 0.5), st.floats(1.0, 60.0),
                  st.integers(0, 100)),
        st.builds(lambda a, b: c.Product((a, b)), children, children),
    )


curves = st.recursive(leaves, _composite, max_leaves=4)


def fine_integral(curve: c.Curve, a: float, b: float, step: float = 0.002) -> float:
    """∫ max(rate, 0) by the midpoint rule on a fine uniform grid: independent of the
    generator's own grid. Its error is at most (largest rate) × step per jump."""
    n = max(1, int(np.ceil((b - a) / step)))
    h = (b - a) / n
    mid = a + h * (np.arange(n) + 0.5)
    return float(np.maximum(curve(mid), 0.0).sum() * h)


def integrator_error(curve: c.Curve, a: float, b: float, step: float = 0.002) -> float:
    """A bound on :func:`fine_integral`'s error over ``[a, b]``."""
    t = np.linspace(a, b, 2001)
    peak = float(np.maximum(curve(t), 0.0).max())
    jumps = np.unique(curve.breakpoints(a, b)).size + 2
    return peak * step * jumps
