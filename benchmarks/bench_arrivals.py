"""Arrival generation speed.

Figures (one JSON line each):
- ``arrivals.poisson_per_s``: arrivals generated per second for a 1-hour Poisson schedule
  at a constant 5,000/s, against numpy's own homogeneous Poisson process (cumulative sum of
  exponential gaps) for the same count in the same run.
- ``arrivals.diurnal_24h_s``: seconds to build a full 24-hour diurnal schedule peaking at
  500/s (times, workflows and priorities), against Lewis–Shedler thinning written in
  vectorised numpy, the textbook way to draw a non-homogeneous Poisson process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.demand import curves as c
from harness.demand.arrivals import ArrivalSchedule, arrival_times, assign_workflows

SMOKE = os.environ.get("SQUALL_BENCH_SMOKE") == "1"  # make test: tiny sizes, one repeat
REPEATS = 1 if SMOKE else 3


def best(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def homogeneous(rate: float, duration: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rate * duration * 1.02 + 10 * np.sqrt(rate * duration))
    t = np.cumsum(rng.exponential(1 / rate, n))
    return t[t < duration]


def thinning(curve: c.Curve, peak: float, duration: float, seed: int) -> np.ndarray:
    candidates = homogeneous(peak, duration, seed)
    rng = np.random.default_rng(seed + 1)
    keep = rng.random(candidates.size) * peak < curve(candidates)
    return candidates[keep]


def diurnal_schedule(curve: c.Curve, duration: float) -> ArrivalSchedule:
    times = arrival_times(curve, duration, "poisson", seed=1)
    wf = assign_workflows(times.size, [0.6, 0.3, 0.1], seed=1)
    prio = np.array([1, 1, 2], dtype=np.int8)[wf]
    return ArrivalSchedule(times, wf, prio, ("a", "b", "c"), duration)


def main() -> None:
    rate, hour = 5000.0, 60.0 if SMOKE else 3600.0
    ours_s, ours = best(lambda: arrival_times(c.Constant(rate), hour, "poisson", seed=1))
    base_s, base = best(lambda: homogeneous(rate, hour, 1))
    emit(figure="arrivals.poisson_per_s", value=round(ours.size / ours_s), unit="arrivals/s",
         arrivals=int(ours.size), baseline="numpy homogeneous Poisson (cumsum of exponentials)",
         baseline_value=round(base.size / base_s), ratio=round(base_s / ours_s, 3))

    day = 3600.0 if SMOKE else 86400.0
    diurnal = c.Diurnal(low=50, high=500, peak_at=14 * 3600)
    ours_s, sched = best(lambda: diurnal_schedule(diurnal, day))
    base_s, thinned = best(lambda: thinning(diurnal, 500.0, day, 1))
    emit(figure="arrivals.diurnal_24h_s", value=round(ours_s, 3), unit="s",
         arrivals=len(sched), target="about 1 s",
         baseline="Lewis-Shedler thinning, vectorised numpy", baseline_value=round(base_s, 3),
         ratio=round(base_s / ours_s, 3), baseline_arrivals=int(thinned.size))


if __name__ == "__main__":
    main()
