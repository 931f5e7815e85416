"""Squall: chaos and load testing for multi-agent AI systems.

The public surface is re-exported here and loaded lazily (PEP 562), so importing
``harness`` costs nothing and never cycles with ``faults``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ArrivalSchedule",
    "Burst",
    "Clip",
    "Constant",
    "Curve",
    "Diurnal",
    "ErrorKind",
    "InputError",
    "Noise",
    "Outcome",
    "Piecewise",
    "Problem",
    "Product",
    "Ramp",
    "RunResult",
    "Scale",
    "Scenario",
    "Sequence",
    "Sine",
    "Spike",
    "Step",
    "Sum",
    "Summary",
    "Verdict",
    "arrival_times",
    "build_schedule",
    "judge",
    "load_scenario",
    "parse_duration",
    "parse_percent",
    "parse_rate",
    "parse_scenario",
    "report",
    "run",
]

_WHERE = {
    "RunResult": "harness.api",
    "judge": "harness.api",
    "report": "harness.api",
    "run": "harness.api",
    "ArrivalSchedule": "harness.demand.arrivals",
    "arrival_times": "harness.demand.arrivals",
    "build_schedule": "harness.scenario.schedule",
    "ErrorKind": "harness.outcomes",
    "Outcome": "harness.outcomes",
    "InputError": "harness.errors",
    "Problem": "harness.errors",
    "Scenario": "harness.scenario.model",
    "load_scenario": "harness.scenario.loader",
    "parse_scenario": "harness.scenario.loader",
    "Summary": "harness.scoring.model",
    "Verdict": "harness.scoring.model",
    "parse_duration": "harness.units",
    "parse_percent": "harness.units",
    "parse_rate": "harness.units",
    **dict.fromkeys(
        ("Burst", "Clip", "Constant", "Curve", "Diurnal", "Noise", "Piecewise", "Product",
         "Ramp", "Scale", "Sequence", "Sine", "Spike", "Step", "Sum"),
        "harness.demand.curves",
    ),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from harness.api import RunResult, judge, report, run
    from harness.demand.arrivals import ArrivalSchedule, arrival_times
    from harness.demand.curves import (
        Burst,
        Clip,
        Constant,
        Curve,
        Diurnal,
        Noise,
        Piecewise,
        Product,
        Ramp,
        Scale,
        Sequence,
        Sine,
        Spike,
        Step,
        Sum,
    )
    from harness.errors import InputError, Problem
    from harness.outcomes import ErrorKind, Outcome
    from harness.scenario.loader import load_scenario, parse_scenario
    from harness.scenario.model import Scenario
    from harness.scenario.schedule import build_schedule
    from harness.scoring.model import Summary, Verdict
    from harness.units import parse_duration, parse_percent, parse_rate
