"""How much work a scenario asks for, and the limits a run stays within unless told.

A scenario is data, and data can ask for anything: ten years of demand, a billion
requests a second, a billion replicas, a sample every microsecond. Before anything runs,
Squall estimates the work and refuses, with exit 2 and the figure, what would exhaust the
machine's memory, disk or time. Every limit can be raised on the command line
(``--limit arrivals=5e7``) by a user who means it.

=================  ============  ==========================================================
limit              default       what it counts
=================  ============  ==========================================================
``arrivals``       10,000,000    expected arrivals in one run (the curve's integral)
``replicas``       10,000        replicas the system may reach (each agent's max, summed)
``samples``        20,000,000    timeseries rows: run length / ``records.step`` × components
``ticks``          50,000,000    periodic simulator steps: sampling plus autoscaler loops
``faults``         10,000        faults in the schedule
``points``         10,000        points of one sweep
=================  ============  ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.errors import InputError, Problem
from harness.scenario.model import Scenario
from harness.suggest import did_you_mean

__all__ = ["LIMITS", "Limit", "check_count", "check_scenario", "estimate", "parse_limits"]


@dataclass(frozen=True)
class Limit:
    default: float
    what: str  #: "arrivals in one run", for messages


LIMITS: dict[str, Limit] = {
    "arrivals": Limit(10_000_000, "expected arrivals"),
    "replicas": Limit(10_000, "replicas the system may reach"),
    "samples": Limit(20_000_000, "timeseries rows"),
    "ticks": Limit(50_000_000, "periodic simulator steps"),
    "faults": Limit(10_000, "faults"),
    "points": Limit(10_000, "sweep points"),
}


def parse_limits(texts: Iterable[str]) -> dict[str, float]:
    """``--limit NAME=VALUE`` options as a mapping; ``InputError`` for a bad one."""
    out: dict[str, float] = {}
    problems = []
    for text in texts:
        name, eq, raw = text.partition("=")
        name = name.strip()
        where = f"--limit {text}"
        if not eq:
            problems.append(Problem("expected NAME=VALUE, e.g. arrivals=5e7", source=where))
            continue
        if name not in LIMITS:
            problems.append(Problem(f"no limit named {name!r}{did_you_mean(name, LIMITS)}; "
                                    f"limits: {', '.join(LIMITS)}", source=where))
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not value > 0:  # NaN too
            problems.append(Problem(f"expected a positive number, got {raw!r}", source=where))
            continue
        out[name] = value
    if problems:
        raise InputError(problems)
    return out


def estimate(scenario: Scenario) -> dict[str, float]:
    """The work ``scenario`` asks for, by limit name (sweep points aside)."""
    system, duration = scenario.system, scenario.duration
    arrivals = scenario.demand.build_curve(scenario.seed).integral(0.0, duration)
    components = len(system.agents) + len(system.endpoints) + len(system.tools)
    samples = math.ceil(duration / scenario.records.step) * components
    loops = 0.0
    for name in system.agents:
        scaler = system.autoscaler_for(name)
        if scaler is not None and scaler.enabled:
            loops += duration / scaler.interval
    return {
        "arrivals": float(arrivals),
        "replicas": float(sum(a.replicas.upper for a in system.agents.values())),
        "samples": float(samples),
        "ticks": duration / scenario.records.step + loops,
        "faults": float(len(scenario.faults)),
    }


def _problem(name: str, value: float, limit: float, source: str | None) -> Problem:
    what = LIMITS[name].what
    return Problem(f"asks for about {value:,.0f} {what}, more than the limit of {limit:,.0f}: "
                   f"shrink the scenario, or raise the limit with --limit {name}=N",
                   source=source)


def _limit(name: str, limits: Mapping[str, float] | None) -> float:
    return (limits or {}).get(name, LIMITS[name].default)


def check_scenario(scenario: Scenario, limits: Mapping[str, float] | None = None,
                   source: str | None = None) -> dict[str, float]:
    """Refuse ``scenario`` if its work exceeds a limit; return the estimate."""
    work = estimate(scenario)
    problems = [_problem(name, value, _limit(name, limits), source)
                for name, value in work.items() if value > _limit(name, limits)]
    if problems:
        raise InputError(problems)
    return work


def check_count(name: str, value: float, limits: Mapping[str, float] | None = None,
                source: str | None = None) -> None:
    """Refuse a count (sweep points) above its limit."""
    limit = _limit(name, limits)
    if value > limit:
        raise InputError([_problem(name, value, limit, source)])
