"""Conformance: fault and policy paths beyond the basics (crash without restart,
partitions, workflow faults, partial outages, balancers, breakers, rerouting) — in every
engine (see kit.py for how tolerances work)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conformance.kit import (
    EngineUnderTest,
    events,
    level,
    requests,
    scenario,
    spans,
    timeseries,
)
from tests.conformance.test_fault_kinds import run, window


def agent_rows(out: Path, name: str = "worker") -> pd.DataFrame:
    ts = timeseries(out)
    return ts[(ts["kind"] == "agent") & (ts["component"] == name)].set_index("t_s")


def test_a_crash_without_restart_leaves_the_replicas_gone(engine: EngineUnderTest) -> None:
    _, _, out = run(
        engine, "{kind: crash, target: agent.worker, at: 60s, count: 2}")
    stops = [e for e in events(out, "replica_stop") if e["reason"] == "crash"]
    assert [e["t_s"] for e in stops] == engine.about([60.0, 60.0], slack=0.1)
    assert events(out, "replica_crash") == []  # not a restart in place
    ready = agent_rows(out)["ready"]
    assert level(ready, 59 - engine.edge) == 4
    # nothing replaces them without an autoscaler
    assert (ready[ready.index >= 60 + engine.edge] == 2).all()


def test_a_hanging_partition_between_orchestrator_and_agent_holds_until_the_timeout(
        engine: EngineUnderTest) -> None:
    sp, req, _ = run(
        engine, "{kind: partition, between: [orchestrator, agent.worker], at: 60s, "
                     "duration: 30s, mode: hang}", agent_extra="timeout: 3s")
    cut = window(sp[sp["kind"] == "agent"], *engine.inside(60, 90, margin=1))
    assert len(cut) == pytest.approx(4 * (28 - 2 * engine.edge), abs=4)
    assert (cut["end_s"] - cut["start_s"]).to_numpy() == engine.about(3.0, slack=0.05)
    assert set(cut["error_kind"]) == {"timeout"}
    # The agent never saw those calls: no LLM or tool call started in the window.
    assert window(sp[sp["kind"] != "agent"], *engine.inside(60, 90, margin=1)).empty
    before = req[req["intended_s"] < 59 - engine.edge]
    assert (before["outcome"] == "ok").all()


def test_an_error_fault_on_a_workflow_fails_only_that_workflows_requests(
        engine: EngineUnderTest) -> None:
    s = scenario("""
        name: wf-errors
        duration: 1m
        system:
          agents: {a: {replicas: 8, concurrency: 4, service_time: 100ms}}
          workflows: {broken: {steps: [a]}, fine: {steps: [a]}}
        demand: {curve: {constant: 10}, arrivals: deterministic}
        faults: [{kind: error, target: workflow.broken, at: 0s, probability: 100%}]
        sla: {objective: 5s}
    """)
    req = requests(engine.run(s))
    outcome = req.groupby("workflow", observed=True)["outcome"].agg(set)
    assert outcome["broken"] == {"error"}
    assert outcome["fine"] == {"ok"}


def test_a_partial_outage_of_an_agent_takes_replicas_away_then_back(
        engine: EngineUnderTest) -> None:
    _, _, out = run(
        engine, "{kind: partial_outage, target: agent.worker, at: 60s, duration: 30s, "
                    "percent: 50%}")
    rows = agent_rows(out)
    assert level(rows["ready"], 59 - engine.edge) == 4
    assert level(rows["ready"], 60 + engine.edge) == 2
    # still there, unreachable: no autoscaler churn
    assert level(rows["replicas"], 60 + engine.edge) == 4
    assert level(rows["ready"], 90 + engine.edge) == 4


def test_a_partial_outage_of_a_tool_halves_its_slots(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: tool-outage
        duration: 2m
        system:
          tools: {db: {latency: 100ms, concurrency: 10}}
          agents: {a: {replicas: 4, concurrency: 4, tools: [{tool: db}]}}
          workflows: {only: {steps: [a]}}
        demand: {curve: {constant: 5}, arrivals: deterministic}
        faults: [{kind: partial_outage, target: tool.db, at: 30s, duration: 30s, count: 5}]
        sla: {objective: 5s}
    """)
    ts = timeseries(engine.run(s))
    cap = ts[ts["component"] == "db"].set_index("t_s")["capacity"]
    e = engine.edge
    assert (level(cap, 30 + e), level(cap, 59 - e), level(cap, 60 + e)) == (5, 5, 10)


@pytest.mark.parametrize("balancer", ["round_robin", "least_busy", "p2c", "random"])
def test_push_balancers_spread_calls_over_every_replica(engine: EngineUnderTest,
                                                        balancer: str) -> None:
    sp, req, _ = run(
        engine, "{kind: latency, target: tool.api, at: 170s, duration: 5s, add: 1ms}",
                     agent_extra=f"balancer: {balancer}")
    per_replica = sp[sp["kind"] == "agent"]["replica"].value_counts()
    assert sorted(per_replica.index) == [0, 1, 2, 3]
    assert per_replica.min() >= 0.5 * per_replica.mean()
    assert (req["outcome"] == "ok").all()


def test_a_weighted_balancer_follows_its_weights(engine: EngineUnderTest) -> None:
    sp, _, _ = run(
        engine, "{kind: latency, target: tool.api, at: 170s, duration: 5s, add: 1ms}",
                   agent_extra="balancer: {kind: weighted, weights: [3, 1, 1, 1]}")
    share = sp[sp["kind"] == "agent"]["replica"].value_counts(normalize=True)
    assert share[0] == pytest.approx(0.5, abs=0.08)


def test_a_time_window_breaker_opens_on_errors_and_short_circuits(engine: EngineUnderTest) -> None:
    sp, _, out = run(
        engine, "{kind: error, target: agent.worker, at: 60s, duration: 40s, "
                     "probability: 100%}",
                     agent_extra="circuit_breaker: {failure_rate: 50%, window: 20s, "
                                 "min_calls: 10, open_for: 10s}")
    opened = [e for e in events(out, "breaker") if e["to"] == "open"]
    # Over a 20 s time window the failure rate reaches 50% once half the window is
    # failures: about 10 s after the fault starts (a count window would open sooner).
    assert opened
    assert 68 <= opened[0]["t_s"] <= 73
    refused = sp[(sp["error_kind"] == "circuit_open")]
    assert not refused.empty
    assert window(sp[sp["kind"] == "agent"], 130, 180)["error_kind"].isna().all()


def test_an_llm_breaker_is_kept_per_endpoint(engine: EngineUnderTest) -> None:
    sp, _, out = run(
        engine, "{kind: error, target: endpoint.llm, at: 60s, duration: 40s, "
                     "probability: 100%}",
                     llm_extra=", fallback: [spare], circuit_breaker: {failure_rate: 50%, "
                               "window: 10, min_calls: 5, open_for: 30s}")
    breakers = {e["component"] for e in events(out, "breaker")}
    assert any(b.endswith("llm") for b in breakers)
    assert not any(b.endswith("spare") for b in breakers)
    # While llm's breaker is open its calls go straight to the spare endpoint.
    spare = window(sp[(sp["kind"] == "llm") & (sp["component"] == "spare")], 70, 100)
    assert len(spare) > 0
    assert spare["error_kind"].isna().all()


def test_low_priority_work_is_rerouted_to_a_cheaper_agent(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: reroute
        duration: 1m
        system:
          agents:
            big: {replicas: 2, concurrency: 4, service_time: 1s,
                  low_priority: {agent: small}}
            small: {replicas: 2, concurrency: 4, service_time: 100ms}
          workflows:
            vip: {weight: 0.5, priority: high, steps: [big]}
            bulk: {weight: 0.5, priority: low, steps: [big]}
        demand: {curve: {constant: 4}, arrivals: deterministic}
        sla: {objective: 5s}
    """)
    out = engine.run(s)
    agents = spans(out)
    agents = agents[agents["kind"] == "agent"]
    req = requests(out).set_index("id")
    by = agents.assign(workflow=req.loc[agents["request_id"], "workflow"].to_numpy())
    served = by.groupby("workflow", observed=True)["component"].agg(set)
    assert served["bulk"] == {"small"}
    assert served["vip"] == {"big"}
