"""The engine seam: modes, the registry, and a run through a registered engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.demand.arrivals import ArrivalSchedule
from harness.engines import EngineResult, Mode, available_modes, engine_for, register
from harness.errors import InputError
from harness.execution import execute
from harness.records.writer import RunWriter
from harness.scenario import Scenario, parse_scenario
from harness.sim.engine import SimEngine

TEXT = """
name: seam
duration: 20s
system:
  agents: {a: {replicas: 1}}
  workflows: {only: {steps: [a]}}
demand: {curve: {constant: 2}, arrivals: deterministic}
sla: {objective: 1s}
gates: ["attainment >= 99%"]
"""


class InstantEngine:
    """A system that answers every request the moment it arrives, in 10 ms."""

    mode = Mode.LIVE

    def run(self, scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
            seed: int, *, progress: object = None, options: object = None) -> EngineResult:
        for rid, t in enumerate(schedule.times.tolist()):
            writer.requests.append((rid, "only", "normal", t, t, t + 0.01, 0.01, "ok", None,
                                    1, 1, False, 0, 0, 0.0, None, None))
        writer.event(scenario.duration, "run_end", completed=len(schedule), dropped=0)
        return EngineResult(len(schedule), len(schedule), 0, scenario.duration)


def test_the_simulator_is_the_sim_engine() -> None:
    assert isinstance(engine_for("sim"), SimEngine)
    assert engine_for(Mode.SIM).mode is Mode.SIM


def test_a_mode_without_an_engine_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import engines

    with pytest.raises(InputError, match="no mode 'warp'; modes: sim, live"):
        engine_for("warp")
    monkeypatch.delitem(engines._REGISTRY, Mode.LIVE)
    with pytest.raises(InputError, match="no engine for mode 'live'"):
        engine_for("live")


def test_both_engines_are_registered() -> None:
    assert available_modes() == [Mode.SIM, Mode.LIVE]
    assert engine_for("live").mode is Mode.LIVE


def test_a_registered_engine_runs_through_the_same_records_and_scoring(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import engines

    monkeypatch.setitem(engines._REGISTRY, Mode.LIVE, f"{__name__}:InstantEngine")
    summary = execute(parse_scenario(TEXT), mode="live", out=tmp_path / "run")
    assert summary.mode == "live"
    assert summary.requests.total == 40
    assert summary.verdict == "pass"
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (meta["mode"], meta["status"], meta["records"]["requests"]) == ("live", "complete",
                                                                            40)


def test_register_names_a_factory() -> None:
    from harness import engines

    saved = dict(engines._REGISTRY)
    try:
        del engines._REGISTRY[Mode.LIVE]
        assert available_modes() == [Mode.SIM]
        register(Mode.LIVE, f"{__name__}:InstantEngine")
        assert isinstance(engine_for("live"), InstantEngine)
        # the conformance suite parametrizes over this list: a new engine joins it
        assert available_modes() == [Mode.SIM, Mode.LIVE]
    finally:
        engines._REGISTRY.clear()
        engines._REGISTRY.update(saved)
