"""Arrival schedules against theory: counts per window follow the curve's integral."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.demand import curves as c
from harness.demand.arrivals import arrival_times, assign_workflows
from tests.harness.demand.strategies import curves, fine_integral, integrator_error

DURATION = 400.0
WINDOWS = 16


def _windows(curve: c.Curve, duration: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.linspace(0, duration, k + 1)
    expected = np.array([fine_integral(curve, a, b) for a, b in itertools.pairwise(edges)])
    return edges, expected



@given(curve=curves, seed=st.integers(0, 2**31))
def test_poisson_counts_per_window_stay_within_poisson_bounds(curve: c.Curve, seed: int) -> None:
    t = arrival_times(curve, DURATION, "poisson", seed)
    assert np.all(np.diff(t) >= 0)
    assert (t.size == 0 or (t[0] >= 0 and t[-1] < DURATION))
    edges, expected = _windows(curve, DURATION, WINDOWS)
    counts = np.histogram(t, bins=edges)[0]
    # z = 5: a false alarm has probability ~6e-7 per window; +3 absorbs tiny-Λ windows.
    bound = 5 * np.sqrt(expected) + 3
    assert np.all(np.abs(counts - expected) <= bound), (counts, expected)
    total = expected.sum()
    assert abs(t.size - total) <= 5 * math.sqrt(total) + 3



@given(curve=curves)
def test_deterministic_counts_per_window_are_within_one_of_the_integral(curve: c.Curve) -> None:
    t = arrival_times(curve, DURATION, "deterministic")
    edges, expected = _windows(curve, DURATION, WINDOWS)
    counts = np.histogram(t, bins=edges)[0]
    slack = np.array([integrator_error(curve, a, b) for a, b in itertools.pairwise(edges)])
    # One arrival per unit of Λ: a window holds floor or ceil of its share, give or take
    # the reference integrator's own error.
    assert np.all(np.abs(counts - expected) <= 1 + slack + 1e-6 * expected), (counts, expected)



@given(curve=curves, seed=st.integers(0, 2**31), smoothness=st.floats(0.2, 5.0))
def test_bursty_counts_follow_the_integral_with_gamma_variance(curve: c.Curve, seed: int,
                                                              smoothness: float) -> None:
    t = arrival_times(curve, DURATION, "bursty", seed, smoothness=smoothness)
    edges, expected = _windows(curve, DURATION, WINDOWS)
    counts = np.histogram(t, bins=edges)[0]
    # A renewal process's count variance is about Λ·cv² with cv² = 1/smoothness.
    cv2 = max(1.0, 1.0 / smoothness)
    assert np.all(np.abs(counts - expected) <= 5 * np.sqrt(expected * cv2) + 4)


def test_same_seed_gives_a_bit_identical_schedule_and_other_seeds_differ() -> None:
    curve = c.Diurnal(5, 50, peak_at=100, period=400) + c.Spike(200, 30, 40, 5, 5)
    a = arrival_times(curve, DURATION, "poisson", seed=42)
    b = arrival_times(curve, DURATION, "poisson", seed=42)
    assert a.tobytes() == b.tobytes()
    other = [arrival_times(curve, DURATION, "poisson", seed=s) for s in range(43, 48)]
    assert all(o.size != a.size or o.tobytes() != a.tobytes() for o in other)
    assert arrival_times(curve, DURATION, "bursty", seed=1, smoothness=0.3).tobytes() == \
        arrival_times(curve, DURATION, "bursty", seed=1, smoothness=0.3).tobytes()


def test_rates_below_one_per_second_work() -> None:
    t = arrival_times(c.Constant(0.05), 4 * 3600, "poisson", seed=3)
    assert abs(t.size - 720) <= 5 * math.sqrt(720)
    d = arrival_times(c.Constant(0.2), 60, "deterministic")
    assert d.tolist() == pytest.approx([5.0 * k for k in range(12)])


def test_deterministic_ramp_inverts_the_cumulative_rate_exactly() -> None:
    # rate(t) = t ⇒ Λ(t) = t²/2 ⇒ the k-th arrival is at sqrt(2k).
    t = arrival_times(c.Ramp(0, 10, 10), 10, "deterministic")
    assert t.tolist() == pytest.approx([math.sqrt(2 * k) for k in range(50)], abs=1e-9)


def test_poisson_interarrivals_of_a_constant_rate_are_exponential() -> None:
    t = arrival_times(c.Constant(20), 2000, "poisson", seed=5)
    gaps = np.diff(t)
    assert gaps.mean() == pytest.approx(1 / 20, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.03)  # cv of an exponential


def test_bursty_smoothness_sets_the_coefficient_of_variation() -> None:
    for shape in (0.25, 1.0, 4.0):
        gaps = np.diff(arrival_times(c.Constant(50), 2000, "bursty", seed=6, smoothness=shape))
        assert gaps.std() / gaps.mean() == pytest.approx(1 / math.sqrt(shape), rel=0.05)


def test_a_zero_curve_has_no_arrivals() -> None:
    assert arrival_times(c.Constant(0), 100, "poisson").size == 0
    assert arrival_times(c.Step(((0, 0), (50, 0))), 100, "deterministic").size == 0


def test_replay_sends_exactly_the_trace_arrivals_inside_the_run() -> None:
    recorded = np.array([0.5, 1.0, 7.25, 99.0, 120.0])
    t = arrival_times(c.Constant(1), 100, "replay", replay=recorded)
    assert t.tolist() == [0.5, 1.0, 7.25, 99.0]


def test_workflows_are_drawn_by_weight() -> None:
    codes = assign_workflows(100_000, [0.7, 0.2, 0.1], seed=1)
    shares = np.bincount(codes) / codes.size
    assert shares == pytest.approx([0.7, 0.2, 0.1], abs=0.01)
    assert assign_workflows(10, [1.0], seed=1).tolist() == [0] * 10
