"""The public surface is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import importlib

import pytest

import faults
import harness

HARNESS = {
    "ArrivalSchedule", "Burst", "Clip", "Constant", "Curve", "Diurnal", "ErrorKind",
    "InputError", "Noise", "Outcome", "Piecewise", "Problem", "Product", "Ramp", "Scale",
    "Scenario", "Sequence", "Sine", "Spike", "Step", "Sum", "Summary", "Verdict",
    "arrival_times", "build_schedule", "load_scenario", "parse_duration", "parse_percent",
    "parse_rate", "parse_scenario", "RunResult", "judge", "report", "run",
}


def test_harness_exports_exactly_its_public_names() -> None:
    assert set(harness.__all__) == HARNESS
    assert len(harness.__all__) == len(HARNESS)
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    assert set(dir(harness)) == set(harness.__all__)
    with pytest.raises(AttributeError):
        _ = harness.not_a_thing  # type: ignore[attr-defined]


def test_faults_exports_every_kind_and_the_schedule() -> None:
    assert len(set(faults.__all__)) == len(faults.__all__)
    assert {"FaultSchedule", "Activation", "Target", "FaultSpec"} <= set(faults.__all__)
    assert set(faults.FAULT_KINDS) == {
        "latency", "error", "rate_limit", "crash", "partial_outage", "outage", "brownout",
        "partition", "cold_start_storm", "toxic", "command",
    }
    for name in faults.__all__:
        assert getattr(faults, name) is not None
    for kind, cls in faults.FAULT_KINDS.items():
        assert cls.__name__ in faults.__all__, kind


def test_the_static_unions_match_the_kind_registries() -> None:
    from typing import get_args

    from harness.scenario.demand import _CURVES, CurveSpec

    def members(annotated: object) -> set[type]:
        union = get_args(annotated)[0]
        return {get_args(m)[0] for m in get_args(union)}

    assert members(faults.FaultSpec) == set(faults.FAULT_KINDS.values())
    assert members(CurveSpec) == set(_CURVES.values())


@pytest.mark.parametrize("first", ["faults", "harness.scenario", "reports", "harness.sim.engine"])
def test_packages_import_in_any_order(first: str) -> None:
    importlib.import_module(first)
    importlib.import_module("harness").Scenario  # noqa: B018
