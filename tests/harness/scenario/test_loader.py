from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.scenario import Scenario, load_scenario, parse_scenario
from tests.conftest import library

MINIMAL = textwrap.dedent("""\
    name: tiny
    duration: 1m
    system:
      agents: {worker: {replicas: 2, service_time: 100ms}}
      workflows: {only: {steps: [worker]}}
    demand: {curve: {constant: 2}}
    sla: {objective: 1s}
""")


def problems(text: str, *overrides: str) -> list[str]:
    with pytest.raises(InputError) as err:
        parse_scenario(textwrap.dedent(text), "s.yaml", overrides)
    return [p.render() for p in err.value.problems]


@pytest.mark.parametrize("path", library(), ids=lambda p: p.name)
def test_every_library_scenario_validates(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.demand.build_curve(scenario.seed).integral(0, scenario.duration) > 0


def test_the_minimal_scenario_gets_sensible_defaults() -> None:
    s = parse_scenario(MINIMAL)
    agent = s.system.agents["worker"]
    assert (agent.replicas.initial, agent.replicas.lower, agent.replicas.upper) == (2, 2, 2)
    assert agent.concurrency == 1
    assert s.sla.availability == 0.99
    assert s.sla.window == 10.0
    assert s.demand.arrivals.process == "poisson"
    assert s.gates == []
    assert s.faults == []


def test_every_error_is_listed_with_line_and_field_path() -> None:
    found = problems("""\
        name: bad
        duration: -5m
        system:
          agents:
            worker: {replicaz: 2, concurrency: 0}
          workflows: {only: {steps: [workr]}}
        demand: {curve: {constant: 2}}
        sla: {objective: 1s, availability: 97}
    """)
    assert "s.yaml:2: duration: a duration cannot be negative, got '-5m'" in found
    assert any(p.startswith("s.yaml:5: system.agents.worker.replicaz: unknown key 'replicaz' "
                            "(did you mean 'replicas'?)") for p in found)
    assert any(p.startswith("s.yaml:5: system.agents.worker.replicas: required") for p in found)
    assert any(p.startswith("s.yaml:5: system.agents.worker.concurrency:") for p in found)
    assert any("s.yaml:8: sla.availability:" in p and "did you mean 97%" in p for p in found)
    assert len(found) == 5


def test_cross_references_are_checked_all_at_once() -> None:
    found = problems("""\
        name: refs
        duration: 1m
        system:
          endpoints: {big: {latency: 1s}}
          agents:
            a: {replicas: 1, llm: {endpoint: bigg}, fallback: b}
            b: {replicas: 1, fallback: a}
          workflows:
            w1: {steps: [a, ghost, {workflow: w2}]}
            w2: {steps: [{workflow: w1}]}
        demand: {curve: {constant: 1}, mix: {w3: 1}}
        faults:
          - {kind: crash, target: agent.nobody, at: 10s}
          - {kind: latency, target: endpoint.big, at: 2m, duration: 5s, add: 1s}
        sla: {objective: 1s}
        gates: ["during nothing: error_rate < 5%"]
    """)
    text = "\n".join(found)
    assert "system.agents.a.llm.endpoint: no endpoint named 'bigg' (did you mean 'big'?)" in text
    assert "system.workflows.w1.steps[1]: no agent named 'ghost'" in text
    assert "workflow 'w1' delegates to itself" in text
    assert "fallback cycle: a → b → a" in text
    assert "demand.mix.w3: no workflow named 'w3'" in text
    assert "faults[0].target: no agent named 'nobody'" in text
    assert "faults[1].at: starts after the run ends" in text
    assert "gates[0]: no phase or fault named 'nothing'" in text


def test_a_fault_on_something_no_workflow_calls_has_no_effect() -> None:
    found = problems(MINIMAL.replace("agents: {", "agents: {idle: {replicas: 1}, ")
                     + "faults: [{kind: crash, target: agent.idle, at: 5s}]\n")
    assert any("agent.idle is never called by any workflow" in p for p in found)


def test_a_fault_kind_that_cannot_affect_its_target_is_rejected() -> None:
    found = problems(MINIMAL + "faults: [{kind: rate_limit, target: agent.worker, at: 5s, "
                               "probability: 0.5}]\n")
    assert any("a rate_limit fault has no effect on an agent" in p for p in found)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("name: [unclosed\n", "malformed YAML"),
        ("- just\n- a list\n", "a scenario is a mapping"),
        ("name: a\nname: b\n", "duplicate key 'name'"),
        ("--- {a: 1}\n--- {b: 2}\n", "malformed YAML"),
    ],
)
def test_unreadable_documents_are_reported(text: str, message: str) -> None:
    assert any(message in p for p in problems(text))


def test_yaml_12_scalars_no_surprise_booleans_or_sexagesimals() -> None:
    s = parse_scenario(MINIMAL.replace("name: tiny", "name: 'no'\ndescription: no").replace(
        "objective: 1s", "objective: 1e1"))
    assert s.description == "no"  # YAML 1.1 would make this False
    assert s.sla.objective == 10.0  # YAML 1.1 reads 1e1 as a string


def test_overrides_set_any_field_and_are_validated_like_the_file() -> None:
    s = parse_scenario(MINIMAL, "s.yaml", ["system.agents.worker.replicas.initial=5",
                                           "seed=99", "demand.curve={ramp: {to: 4, over: 30s}}",
                                           "sla.objective=250ms"])
    assert s.system.agents["worker"].replicas.initial == 5
    assert s.seed == 99
    assert s.sla.objective == 0.25
    found = problems(MINIMAL, "sla.objective=-1s", "system.agents.worker.concurrenc=3", "oops")
    assert "--set sla.objective=-1s: sla.objective: a duration cannot be negative, got '-1s'" \
        in found
    assert any(p.startswith("--set oops: expected PATH=VALUE") for p in found)


def test_overrides_address_faults_by_id_or_position() -> None:
    base = MINIMAL + "faults: [{id: slow, kind: latency, target: agent.worker, at: 5s, add: 1s}]\n"
    by_id = parse_scenario(base, "s.yaml", ["faults.slow.add=3s"])
    by_index = parse_scenario(base, "s.yaml", ["faults[0].add=3s"])
    assert by_id.faults[0].add == by_index.faults[0].add == 3.0
    assert any("no list item with id 'slw' (did you mean 'slow'?)" in p
               for p in problems(base, "faults.slw.add=3s"))
    assert any("out of range" in p for p in problems(base, "faults.4.add=3s"))


def test_gates_are_parsed_and_scoped_mappings_are_accepted() -> None:
    text = MINIMAL + ("faults: [{id: slow, kind: latency, target: agent.worker, at: 5s, "
                      "add: 1s}]\ngates:\n  - attainment >= 99%\n"
                      "  - during slow: error_rate < 5%\n")
    assert parse_scenario(text).gates == ["attainment >= 99%", "during slow: error_rate < 5%"]
    found = problems(MINIMAL + "gates: ['latncy.p95 < 3s', 'attainment >= 8s', 'p95 < 1']\n")
    assert any("unknown metric 'latncy.p95' (did you mean 'latency.p95'?)" in p for p in found)
    assert any("attainment is in fraction" in p for p in found)


def test_json_scenarios_load_like_yaml(tmp_path: Path) -> None:
    data = parse_scenario(MINIMAL).canonical()
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data, indent=1))
    assert load_scenario(path) == parse_scenario(MINIMAL)
    path.write_text('{"name": "x",\n "name": "y"}')
    with pytest.raises(InputError, match="duplicate key"):
        load_scenario(path)


def test_the_canonical_form_round_trips_and_hashes_stably() -> None:
    for path in library():
        s = load_scenario(path)
        again = Scenario.model_validate(s.canonical(), context={"base_dir": path.parent})
        assert again == s
        assert again.digest() == s.digest()


@pytest.mark.parametrize("name", ["missing.yaml", ""])
def test_missing_files_and_directories_are_input_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError):
        load_scenario(tmp_path / name if name else tmp_path)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("{kind: partial_outage, target: endpoint.open, at: 1s, percent: 50%}",
         "unlimited concurrency"),
        ("{kind: rate_limit, target: tool.search, at: 1s, rpm: 10}", "no rate limits to lower"),
        ("{kind: latency, target: workflow.only, at: 1s, multiply: 2}", "nothing to multiply"),
        ("{kind: partition, between: [orchestrator, endpoint.open], at: 1s}",
         "never call each other"),
    ],
)
def test_faults_that_could_not_change_anything_are_rejected(fault: str, message: str) -> None:
    text = MINIMAL.replace(
        "agents: {worker: {replicas: 2, service_time: 100ms}}",
        "endpoints: {open: {latency: 1s}}\n  tools: {search: {latency: 10ms}}\n"
        "  agents: {worker: {replicas: 2, llm: {endpoint: open}, tools: [{tool: search}]}}",
    ) + f"faults: [{fault}]\n"
    assert any(message in p for p in problems(text)), problems(text)


def test_an_agents_autoscaler_overrides_only_what_it_sets() -> None:
    doc = MINIMAL.replace(
        "replicas: 2, service_time: 100ms",
        "replicas: {initial: 2, max: 8}, autoscaler: {metric: queue_per_replica, target: 3}",
    ).replace(
        "  workflows:",
        "  autoscaler: {metric: utilization, target: 70%, cold_start: 25s, interval: 30s}\n"
        "  workflows:",
    )
    scaler = parse_scenario(doc).system.autoscaler_for("worker")
    assert scaler is not None
    assert (scaler.metric, scaler.target) == ("queue_per_replica", 3)
    assert scaler.interval == 30  # inherited from the system's autoscaler
    assert scaler.cold_start.mean_value() == 25
    off = parse_scenario(doc.replace("autoscaler: {metric: queue_per_replica, target: 3}",
                                     "autoscaler: false"))
    assert off.system.autoscaler_for("worker") is None
    # The stored form holds the effective settings: reading it back changes nothing.
    again = Scenario.model_validate(parse_scenario(doc).canonical())
    assert again.system.autoscaler_for("worker") == scaler
