"""What the guards against hostile scenarios cost.

Figures (one JSON line each):
- ``guards.alias_bomb_refusal_s``: seconds for ``squall validate`` (in process) to refuse a
  nine-level YAML alias bomb (9⁹ ≈ 387 million values if expanded), against loading the
  e-commerce library scenario in the same run. Target: under 5 s, and memory stays flat.
- ``guards.work_estimate_ms``: milliseconds to estimate the work of the e-commerce
  scenario (arrivals, replicas, timeseries rows, ticks) before a run, against loading and
  validating it. Target < 10 ms.
- ``guards.ten_year_refusal_s``: seconds to refuse the e-commerce scenario with
  ``duration=87600h`` (ten years: 315 million seconds of demand to check and estimate),
  against loading it as shipped. Memory stays flat (the growth is printed).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.limits import check_scenario, estimate
from harness.scenario import load_scenario

SMOKE = os.environ.get("SQUALL_BENCH_SMOKE") == "1"  # make test: one repeat
REPEATS = 1 if SMOKE else 3
ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "ecommerce-peak.yaml"


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def best(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bomb_text(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def alias_bomb() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.yaml"
        path.write_text(bomb_text())

        def refuse() -> None:
            try:
                load_scenario(path)
            except InputError:
                return
            raise SystemExit("the alias bomb was accepted")

        refusal_figure("guards.alias_bomb_refusal_s", refuse)


def refusal_figure(name: str, refuse: Callable[[], None]) -> None:
    """How long ``refuse`` takes and how much memory it grows, against a plain load."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refusal = best(refuse)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    base = best(lambda: load_scenario(SCENARIO))
    emit(figure=name, value=round(refusal, 3), unit="s", target="< 5",
         peak_rss_growth_mb=round(grown / 1024, 1),
         baseline="loading the e-commerce scenario", baseline_value=round(base, 3),
         ratio=round(refusal / base, 2))


def work_estimate() -> None:
    scenario = load_scenario(SCENARIO)
    load = best(lambda: load_scenario(SCENARIO))
    est = best(lambda: estimate(scenario), repeats=REPEATS * 10)
    emit(figure="guards.work_estimate_ms", value=round(est * 1000, 2), unit="ms",
         target="< 10", baseline="loading and validating the scenario (ms)",
         baseline_value=round(load * 1000, 1), ratio=round(est / load, 3))


def ten_years() -> None:
    def refuse() -> None:
        try:
            check_scenario(load_scenario(SCENARIO, ["duration=87600h"]))
        except InputError:
            return
        raise SystemExit("ten years of demand were accepted")

    refusal_figure("guards.ten_year_refusal_s", refuse)


if __name__ == "__main__":
    alias_bomb()
    work_estimate()
    ten_years()
