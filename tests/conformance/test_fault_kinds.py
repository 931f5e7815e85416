"""Conformance: each fault kind does what its specification says, and no more — in every
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

BASE = """
    name: faults
    seed: 5
    duration: 3m
    system:
      endpoints:
        llm: {{latency: 1s, concurrency: 50}}
        spare: {{latency: 500ms}}
      tools: {{api: {{latency: 100ms}}}}
      agents:
        worker:
          replicas: 4
          concurrency: 4
          service_time: 200ms
          llm: {{endpoint: llm, input_tokens: 100, output_tokens: 10{llm_extra}}}
          tools: [{{tool: api}}]
          {agent_extra}
      workflows: {{only: {{steps: [worker]}}}}
    demand: {{curve: {{constant: 4}}, arrivals: deterministic}}
    faults: [{fault}]
    sla: {{objective: 10s}}
"""


def run(engine: EngineUnderTest, fault: str, llm_extra: str = "",
        agent_extra: str = "") -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    s = scenario(BASE.format(fault=fault, llm_extra=llm_extra, agent_extra=agent_extra))
    out = engine.run(s)
    return spans(out), requests(out), out


def window(df: pd.DataFrame, a: float, b: float) -> pd.DataFrame:
    return df[(df["start_s"] >= a) & (df["start_s"] < b)]


def test_latency_adds_to_the_targets_calls_only_while_active(engine: EngineUnderTest) -> None:
    sp, _, _ = run(
        engine, "{kind: latency, target: endpoint.llm, at: 60s, duration: 60s, add: 2s}")
    llm = sp[sp["kind"] == "llm"]
    during = window(llm, *engine.inside(60, 120))
    outside = pd.concat([window(llm, *engine.inside(-1, 60, margin=1)),
                         window(llm, *engine.inside(120, 181, margin=1))])
    assert (during["end_s"] - during["start_s"]).to_numpy() == engine.about(3.0, slack=0.05)
    assert (outside["end_s"] - outside["start_s"]).to_numpy() == engine.about(1.0, slack=0.05)


def test_jitter_spreads_latency_uniformly_around_the_added_time(engine: EngineUnderTest) -> None:
    sp, _, _ = run(
        engine, "{kind: latency, target: tool.api, at: 0s, add: 1s, jitter: 500ms}")
    tool = sp[sp["kind"] == "tool"]
    took = tool["end_s"] - tool["start_s"]
    assert took.min() >= 0.6 - engine.slack(0.05)
    assert took.max() <= 1.6 + engine.slack(0.05)
    assert took.mean() == pytest.approx(1.1, abs=0.03)


def test_error_injection_fails_a_fraction_of_calls_as_asked(engine: EngineUnderTest) -> None:
    sp, req, _ = run(
        engine, "{kind: error, target: endpoint.llm, at: 0s, probability: 30%, as: malformed}")
    llm = sp[sp["kind"] == "llm"]
    share = (llm["error_kind"] == "malformed").mean()
    assert share == pytest.approx(0.3, abs=0.05)
    # Malformed answers take the whole latency and are billed like any other.
    bad = llm[llm["error_kind"] == "malformed"]
    assert (bad["end_s"] - bad["start_s"]).to_numpy() == engine.about(1.0, slack=0.05)
    assert (bad["tokens_out"] == 10).all()
    assert (req["outcome"] == "error").mean() == pytest.approx(share, abs=0.01)


def test_an_injected_hang_lasts_until_the_callers_timeout(engine: EngineUnderTest) -> None:
    sp, req, _ = run(
        engine, "{kind: error, target: endpoint.llm, at: 60s, duration: 30s, as: timeout}",
                     llm_extra=", timeout: 3s")
    llm = sp[(sp["kind"] == "llm") & (sp["error_kind"] == "timeout")]
    assert len(llm) == pytest.approx(4 * 30, abs=4)
    assert (llm["end_s"] - llm["start_s"]).to_numpy() == engine.about(3.0, slack=0.05)
    assert set(req.loc[req["outcome"] != "ok", "outcome"]) == {"timeout"}


def test_a_rate_limit_storm_answers_429_and_retries_honour_retry_after(
        engine: EngineUnderTest) -> None:
    sp, req, _ = run(
        engine, "{kind: rate_limit, target: endpoint.llm, at: 60s, duration: 20s, "
                     "probability: 100%, retry_after: 5s}",
                     llm_extra=", retry: {attempts: 3, base: 10ms, jitter: none}")
    llm = sp[sp["kind"] == "llm"].sort_values(["request_id", "attempt"])
    limited = llm[llm["error_kind"] == "rate_limited"]
    assert len(limited) > 0
    # refused at once
    assert (limited["end_s"] - limited["start_s"]).to_numpy() == engine.about(0.0, slack=0.02)
    gaps = llm.groupby("request_id")["start_s"].diff().dropna()
    assert (gaps >= 5 - engine.slack(0.02)).all()  # never sooner than Retry-After
    assert (req["outcome"] == "rejected").sum() > 0  # some ran out of attempts in the storm


def test_lowered_rate_limits_cap_throughput(engine: EngineUnderTest) -> None:
    sp, _, _ = run(
        engine, "{kind: rate_limit, target: endpoint.llm, at: 60s, duration: 60s, rpm: 60}")
    ok = sp[(sp["kind"] == "llm") & sp["error_kind"].isna()]
    during = window(ok, *engine.inside(60, 120))
    # A fresh bucket of 60 requests, then 1/s: at most 60 + 60 in the minute.
    assert len(during) <= 121
    assert len(window(ok, 0, 60)) == pytest.approx(240, abs=2)


def test_a_partial_outage_removes_capacity_then_restores_it(engine: EngineUnderTest) -> None:
    _, _, out = run(
        engine, "{kind: partial_outage, target: endpoint.llm, at: 60s, duration: 30s, "
                    "percent: 50%}")
    ts = timeseries(out)
    cap = ts[(ts["component"] == "llm")].set_index("t_s")["capacity"]
    assert level(cap, 59 - engine.edge) == 50
    assert level(cap, 60 + engine.edge) == 25
    assert level(cap, 89 - engine.edge) == 25
    assert level(cap, 90 + engine.edge) == 50


@pytest.mark.parametrize(("mode", "error", "took"), [("fail_fast", "unavailable", 0.0),
                                                      ("hang", "timeout", 2.0)])
def test_an_outage_refuses_or_hangs(engine: EngineUnderTest, mode: str, error: str,
                                    took: float) -> None:
    sp, _, _ = run(
        engine, f"{{kind: outage, target: tool.api, at: 60s, duration: 30s, mode: {mode}}}",
                   agent_extra="timeout: 3s")
    tool = sp[(sp["kind"] == "tool") & (sp["error_kind"] == error)]
    assert len(tool) == pytest.approx(4 * 30, abs=4)
    if mode == "hang":  # the agent's 3 s budget minus its 0.2 s service and 1 s LLM call
        assert (tool["end_s"] - tool["start_s"]).to_numpy() == engine.about(1.8, slack=0.05)
    else:
        assert (tool["end_s"] - tool["start_s"]).to_numpy() == engine.about(took, slack=0.02)


def test_a_brownout_multiplies_an_agents_service_time(engine: EngineUnderTest) -> None:
    _, req, _ = run(
        engine, "{kind: brownout, target: agent.worker, at: 60s, duration: 60s, "
                     "factor: 3}")
    during = window(req.rename(columns={"intended_s": "start_s"}),
                    *engine.inside(60, 120, margin=1))
    # 0.2 s × 3 service + 1 s LLM + 0.1 s tool.
    assert during["latency_s"].to_numpy() == engine.about(1.7, slack=0.05)


def test_a_partition_cuts_the_named_link_only(engine: EngineUnderTest) -> None:
    sp, _, _ = run(
        engine, "{kind: partition, between: [agent.worker, tool.api], at: 60s, "
                   "duration: 30s}")
    cut = sp[(sp["error_kind"] == "partition") & (sp["kind"] == "tool")]
    assert len(cut) == pytest.approx(4 * 30, abs=4)
    # The agent's own span carries the root cause of its failure.
    assert set(sp[sp["kind"] == "agent"]["error_kind"].dropna()) == {"partition"}
    llm = window(sp[sp["kind"] == "llm"], *engine.inside(59, 91))
    assert llm["error_kind"].isna().all()


def test_a_cold_start_storm_restarts_replicas_through_their_cold_start(
        engine: EngineUnderTest) -> None:
    _, _, out = run(
        engine, "{kind: cold_start_storm, target: agent.worker, at: 60s, percent: 50%, "
                    "cold_start: 20s}")
    restarts = events(out, "replica_crash")
    assert [e["restart_s"] for e in restarts] == [20, 20]
    assert [e["t_s"] for e in restarts] == engine.about([60, 60], slack=0.1)
    ready = [e["t_s"] for e in events(out, "replica_ready") if e["t_s"] > 0]
    assert ready == engine.about([80.0, 80.0], slack=0.5)  # a real process starts too


def test_a_workflow_fault_slows_only_that_workflows_calls(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: wf
        duration: 2m
        system:
          agents: {a: {replicas: 8, concurrency: 4, service_time: 100ms}}
          workflows: {slow: {steps: [a]}, fast: {steps: [a]}}
        demand: {curve: {constant: 10}, arrivals: deterministic}
        faults: [{kind: latency, target: workflow.slow, at: 0s, add: 1s}]
        sla: {objective: 5s}
    """)
    req = requests(engine.run(s))
    by = req.groupby("workflow", observed=True)["latency_s"].mean()
    assert by["slow"] == engine.about(1.1, slack=0.05)
    assert by["fast"] == engine.about(0.1, slack=0.05)


def test_overlapping_faults_compose(engine: EngineUnderTest) -> None:
    sp, _, _ = run(
        engine, "{kind: latency, target: endpoint.llm, at: 30s, duration: 60s, add: 1s}, "
                   "{kind: brownout, target: endpoint.llm, at: 60s, duration: 60s, factor: 2}")
    llm = sp[sp["kind"] == "llm"]
    took = lambda a, b: (window(llm, a, b)["end_s"] - window(llm, a, b)["start_s"])  # noqa: E731
    assert took(*engine.inside(30, 60, margin=1)).to_numpy() == \
        engine.about(2.0, slack=0.05)  # 1 s + 1 s
    assert took(*engine.inside(60, 90, margin=1)).to_numpy() == \
        engine.about(3.0, slack=0.05)  # 1 s × 2 + 1 s
    assert took(*engine.inside(90, 120, margin=1)).to_numpy() == \
        engine.about(2.0, slack=0.05)  # brownout only
