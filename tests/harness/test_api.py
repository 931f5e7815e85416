"""Squall from Python: typed scenarios, run(), judge(), report(), and the pytest fixtures."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

import harness as squall
from faults.specs import LatencyFault
from harness.demand.curves import Constant, Spike
from harness.scenario.demand import Demand
from harness.scenario.model import Sla
from harness.scenario.system import Agent, AgentStep, Replicas, System, Workflow

pytest_plugins = ["pytester"]


def typed() -> squall.Scenario:
    return squall.Scenario(
        name="typed", seed=3, duration=120,
        system=System(agents={"a": Agent(replicas=Replicas(initial=2), concurrency=4,
                                         service_time=0.1)},
                      workflows={"w": Workflow(steps=[AgentStep(agent="a")])}),
        demand=Demand(curve=Constant(5) + Spike(at=40, duration=20, height=10)),
        faults=[LatencyFault(kind="latency", target="agent.a", at=60, duration=20, add=0.2)],
        sla=Sla(objective=2.0), gates=["attainment >= 99%"])


def test_a_scenario_built_from_typed_objects_equals_the_same_yaml() -> None:
    yaml = squall.parse_scenario(textwrap.dedent("""\
        name: typed
        seed: 3
        duration: 2m
        system:
          agents: {a: {replicas: 2, concurrency: 4, service_time: 100ms}}
          workflows: {w: {steps: [a]}}
        demand: {curve: {sum: [{constant: 5}, {spike: {at: 40s, duration: 20s, height: 10}}]}}
        faults: [{kind: latency, target: agent.a, at: 1m, duration: 20s, add: 200ms}]
        sla: {objective: 2s}
        gates: ["attainment >= 99%"]
    """))
    assert typed().digest() == yaml.digest()


def test_run_returns_the_summary_and_the_records(tmp_path: Path) -> None:
    result = squall.run(typed(), out=tmp_path / "run")
    assert result.passed
    assert result.verdict is squall.Verdict.PASS
    assert len(result.requests()) == result.summary.requests.total > 0
    assert set(result.spans()["kind"]) == {"agent"}
    assert any(e["type"] == "fault_start" for e in result.events())
    assert not (tmp_path / "run" / "report.html").exists()
    assert result.report().read_text().lower().startswith("<!doctype html>")


def test_run_takes_files_overrides_and_extra_gates(tmp_path: Path,
                                                   scenarios_dir: Path) -> None:
    result = squall.run(scenarios_dir / "telecom-diagnostics.yaml", out=tmp_path / "t",
                        overrides=["system.agents.diagnostics.replicas=5"],
                        gates=["latency.p50 < 1ms"])
    assert result.verdict is squall.Verdict.FAIL
    assert [g.name for g in result.summary.gates][-1] == "latency.p50 < 1ms"
    again = squall.judge(tmp_path / "t")  # re-judged from the records, without the extra
    assert again.verdict is squall.Verdict.PASS
    assert squall.report(tmp_path / "t").exists()


def test_without_out_a_run_gets_its_own_temporary_directory() -> None:
    result = squall.run(typed())
    try:
        assert result.directory.name.startswith("squall-run-")
        assert (result.directory / "summary.json").exists()
    finally:
        shutil.rmtree(result.directory)


def test_a_mapping_with_a_wrong_type_is_named_by_its_field_path() -> None:
    data = typed().model_dump(mode="json", by_alias=True)
    data["system"]["agents"]["a"]["concurrency"] = "lots"
    with pytest.raises(squall.InputError, match=r"system\.agents\.a\.concurrency"):
        squall.run(data)


def test_the_pytest_fixture_fails_a_test_with_the_gate_table(
        pytester: pytest.Pytester, scenarios_dir: Path) -> None:
    pytester.makepyfile(f"""
        def test_telecom_holds(squall_gate):
            squall_gate({str(scenarios_dir / "telecom-diagnostics.yaml")!r})

        def test_telecom_with_a_larger_pool(squall_gate):
            result = squall_gate({str(scenarios_dir / "telecom-diagnostics.yaml")!r},
                                 overrides=["system.agents.diagnostics.replicas=5"])
            assert result.passed
    """)
    outcome = pytester.runpytest_subprocess("-p", "no:locust", "-q")
    outcome.assert_outcomes(passed=1, failed=1)
    text = outcome.stdout.str()
    assert "telecom-diagnostics: FAIL" in text
    assert "attainment >= 90%" in text
