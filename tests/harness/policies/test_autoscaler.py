from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from harness.policies.autoscaler import HpaScaler
from harness.scenario.system import Autoscaler


def scaler(lower: int = 1, upper: int = 50, **kw: object) -> HpaScaler:
    spec = Autoscaler.model_validate({"target": 4, **kw})
    return HpaScaler(spec, lower, upper)


def test_desired_is_ceil_of_current_times_metric_over_target() -> None:
    s = scaler(scale_up={"percent": 1000, "pods": 100})
    # 3 replicas, 40 queued in all: 13.3 per replica against a target of 4 → ceil(10) = 10.
    assert s.decide(0, current=3, total=40).desired == 10
    assert s.raw(current=10, total=41) == 10  # 4.1 per replica: within the 10% tolerance
    assert s.raw(current=10, total=45) == math.ceil(45 / 4)


def test_scale_up_is_limited_per_period() -> None:
    s = scaler(scale_up={"percent": 100, "pods": 4, "period": "15s"})
    assert s.decide(0, current=2, total=400).desired == 6  # max(2×2, 2+4)
    assert s.decide(5, current=6, total=400).desired == 6  # still within the same period
    assert s.decide(15, current=6, total=400).desired == 12  # a new period: ×2


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    s = scaler(scale_down_window="60s")
    s.decide(0, current=10, total=40)
    assert s.decide(15, current=10, total=4).desired == 10  # 60 s window still holds 10
    assert s.decide(45, current=10, total=4).desired == 10
    assert s.decide(61, current=10, total=4).desired == 1  # the high recommendation aged out


def test_bounds_clamp_the_result() -> None:
    s = scaler(lower=2, upper=5, scale_up={"percent": 1000, "pods": 100})
    assert s.decide(0, current=3, total=1000).desired == 5
    s = scaler(lower=2, upper=5, scale_down_window=0)
    assert s.decide(0, current=3, total=0).desired == 2


def test_scale_from_zero_uses_the_total() -> None:
    s = scaler(lower=0, upper=10, scale_up={"percent": 100, "pods": 4})
    assert s.decide(0, current=0, total=9).desired == 3
    assert s.decide(0, current=0, total=0).desired == 0


@given(st.floats(0, 1e5), st.floats(1, 100), st.floats(-1e-7, 1e-7), st.floats(-1e-7, 1e-7))
def test_a_live_clocks_rounding_decides_as_the_simulators_exact_ticks(
        t0: float, k: float, noise_a: float, noise_b: float) -> None:
    # the simulator's ticks at 15, 30, 45 s (interval = period = 15 s, window 30 s); a live
    # scaler's at t0 + n × 15/k on a float clock, a hair either side of the edges
    def run(times: list[float], period: float, window: float) -> list[int]:
        s = scaler(scale_up={"percent": 100, "pods": 4, "period": f"{period}s"},
                   scale_down_window=f"{window}s")
        loads = [28.0, 74.0, 0.0, 0.0, 0.0]
        current, out = 1, []
        for t, total in zip(times, loads, strict=True):
            current = s.decide(t, current, total).desired
            out.append(current)
        return out

    exact = run([15.0, 30.0, 45.0, 60.0, 75.0], 15.0, 30.0)
    assert exact == [5, 10, 10, 10, 1]  # the edge counts: a new period at 30 s
    step = 15.0 / k
    live = [t0 + n * step + (noise_a if n % 2 else noise_b) for n in range(1, 6)]
    assert run(live, step, 2 * step) == exact
