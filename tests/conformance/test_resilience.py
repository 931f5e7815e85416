"""Conformance: timeouts, deadlines, fallbacks, priorities, joins, checkpoints, load
shedding — the resilience behaviours every engine must show (see kit.py for how
tolerances work)."""

from __future__ import annotations

import pytest

from tests.conformance.kit import (
    EngineUnderTest,
    events,
    requests,
    scenario,
    spans,
    timeseries,
)


def test_a_timed_out_call_keeps_its_server_busy_until_the_work_ends(
        engine: EngineUnderTest) -> None:
    s = scenario("""
        name: waste
        duration: 1s
        system:
          endpoints: {slow: {latency: 10s, concurrency: 1}}
          agents: {a: {replicas: 2, concurrency: 1, llm: {endpoint: slow, timeout: 2s}}}
          workflows: {only: {steps: [a]}}
        demand: {curve: {constant: 2}, arrivals: deterministic}
        sla: {objective: 5s}
    """)
    sp = spans(engine.run(s))
    llm = sp[sp["kind"] == "llm"].sort_values("request_id")
    first, second = llm.iloc[0], llm.iloc[1]
    assert first["error_kind"] == "timeout"
    assert first["end_s"] - first["start_s"] == engine.about(2.0, slack=0.05)
    # The server is still generating the first answer: the second call waits its whole
    # 2 s in the queue and never gets the slot.
    assert second["error_kind"] == "timeout"
    assert second["queue_s"] == engine.about(2.0, slack=0.05)


def test_a_workflow_deadline_ends_the_request_as_a_timeout(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: deadline
        duration: 10s
        system:
          agents: {a: {replicas: 4, service_time: 3s}, b: {replicas: 4, service_time: 3s}}
          workflows: {only: {steps: [a, b], deadline: 4s}}
        demand: {curve: {constant: 1}, arrivals: deterministic}
        sla: {objective: 5s}
    """)
    req = requests(engine.run(s))
    assert set(req["outcome"]) == {"timeout"}
    assert set(req["error_kind"]) == {"deadline"}
    assert req["latency_s"].to_numpy() == engine.about(4.0, slack=0.05)


def test_fallback_agents_serve_when_the_primary_fails(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: fallback
        duration: 1m
        system:
          agents:
            main: {replicas: 2, service_time: 100ms, fallback: lite}
            lite: {replicas: 2, service_time: 50ms}
          workflows: {only: {steps: [main]}}
        demand: {curve: {constant: 2}, arrivals: deterministic}
        faults: [{kind: outage, target: agent.main, at: 20s, duration: 20s}]
        sla: {objective: 5s}
    """)
    req = requests(engine.run(s))
    a, b = engine.inside(20, 40)
    during = req[(req["intended_s"] >= a) & (req["intended_s"] < b)]
    assert len(during) >= 2 * (b - a) - 1
    assert (req["outcome"] == "ok").all()
    assert during["fallback"].all()
    assert not req[req["intended_s"] < 20 - engine.edge]["fallback"].any()


def test_endpoint_fallbacks_take_over_from_a_failing_model(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: llm-fallback
        duration: 1m
        system:
          endpoints: {big: {latency: 1s}, small: {latency: 200ms}}
          agents:
            a: {replicas: 4, concurrency: 4,
                llm: {endpoint: big, fallback: small, retry: {attempts: 2, base: 10ms}}}
          workflows: {only: {steps: [a]}}
        demand: {curve: {constant: 2}, arrivals: deterministic}
        faults: [{kind: error, target: endpoint.big, at: 0s}]
        sla: {objective: 5s}
    """)
    out = engine.run(s)
    sp = spans(out)
    llm = sp[sp["kind"] == "llm"]
    assert (llm[llm["component"] == "big"]["error_kind"] == "error").all()
    assert llm[llm["component"] == "small"]["error_kind"].isna().all()
    assert llm[llm["component"] == "small"]["fallback"].all()
    assert (requests(out)["outcome"] == "ok").all()


def test_low_priority_requests_are_routed_to_the_compact_model(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: priority
        duration: 1m
        system:
          endpoints: {big: {latency: 1s}, small: {latency: 200ms}}
          agents:
            a: {replicas: 4, concurrency: 4, llm: {endpoint: big},
                low_priority: {endpoint: small}}
          workflows:
            vip: {weight: 1, priority: high, steps: [a]}
            batch: {weight: 1, priority: low, steps: [a]}
        demand: {curve: {constant: 4}}
        sla: {objective: 5s}
    """)
    out = engine.run(s)
    sp = spans(out)
    req = requests(out).set_index("id")
    llm = sp[sp["kind"] == "llm"].copy()
    llm["workflow"] = req.loc[llm["request_id"], "workflow"].to_numpy()
    routed = llm.groupby("workflow", observed=True)["component"].agg(set)
    assert routed["vip"] == {"big"}
    assert routed["batch"] == {"small"}


def test_high_priority_calls_jump_the_queue(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: queueing
        seed: 1
        duration: 10m
        system:
          agents: {a: {replicas: 1, concurrency: 2, service_time: {dist: exponential, mean: 1s}}}
          workflows:
            vip: {weight: 1, priority: high, steps: [a]}
            batch: {weight: 1, priority: low, steps: [a]}
        demand: {curve: {constant: 1.8}}
        sla: {objective: 5s}
        records: {drain: 1h}
    """)
    req = requests(engine.run(s))
    wait = req.groupby("workflow", observed=True)["latency_s"].mean()
    assert wait["vip"] < wait["batch"] / 3


@pytest.mark.parametrize(("join", "latency"), [("all", 3.0), ("any", 1.0),
                                               ("{quorum: 2}", 2.0)])
def test_parallel_joins_wait_for_all_any_or_a_quorum(engine: EngineUnderTest, join: str,
                                                    latency: float) -> None:
    s = scenario(f"""
        name: join
        duration: 5s
        system:
          agents:
            one: {{replicas: 4, service_time: 1s}}
            two: {{replicas: 4, service_time: 2s}}
            three: {{replicas: 4, service_time: 3s}}
          workflows: {{only: {{steps: [{{parallel: [one, two, three], join: {join}}}]}}}}
        demand: {{curve: {{constant: 1}}, arrivals: deterministic}}
        sla: {{objective: 5s}}
    """)
    req = requests(engine.run(s))
    assert req["latency_s"].to_numpy() == engine.about(latency, slack=0.05)


@pytest.mark.parametrize(("join", "outcome", "latency"), [
    ("any", "ok", 2.0), ("all", "error", 0.5), ("{quorum: 2}", "error", 0.5)])
def test_a_join_counts_failed_branches(engine: EngineUnderTest, join: str, outcome: str,
                                       latency: float) -> None:
    """One branch fails at 0.5 s and one answers at 2 s: ``any`` still succeeds (at 2 s),
    ``all`` and a quorum of two fail as soon as they can no longer be met."""
    s = scenario(f"""
        name: join-failure
        duration: 5s
        system:
          agents:
            broken: {{replicas: 4, service_time: 500ms}}
            fine: {{replicas: 4, service_time: 2s}}
          workflows: {{only: {{steps: [{{parallel: [broken, fine], join: {join}}}]}}}}
        demand: {{curve: {{constant: 1}}, arrivals: deterministic}}
        faults: [{{kind: error, target: agent.broken, at: 0s}}]
        sla: {{objective: 5s}}
    """)
    req = requests(engine.run(s))
    assert set(req["outcome"]) == {outcome}
    assert req["latency_s"].to_numpy() == engine.about(latency, slack=0.05)


def test_optional_steps_may_fail_without_failing_the_workflow(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: optional
        duration: 10s
        system:
          agents: {a: {replicas: 2, service_time: 100ms}, extra: {replicas: 2}}
          workflows: {only: {steps: [a, {agent: extra, optional: true}]}}
        demand: {curve: {constant: 1}, arrivals: deterministic}
        faults: [{kind: outage, target: agent.extra, at: 0s}]
        sla: {objective: 5s}
    """)
    req = requests(engine.run(s))
    assert (req["outcome"] == "ok").all()


@pytest.mark.parametrize(("checkpoint", "first_step_calls"), [("true", 1), ("false", 2)])
def test_a_retried_workflow_resumes_after_its_last_completed_step(
        engine: EngineUnderTest, checkpoint: str, first_step_calls: int) -> None:
    s = scenario(f"""
        name: checkpoint
        duration: 5s
        system:
          agents: {{prepare: {{replicas: 4, service_time: 1s}},
                    commit: {{replicas: 4, service_time: 100ms}}}}
          workflows:
            only: {{steps: [prepare, commit], checkpoint: {checkpoint},
                    retry: {{attempts: 2, base: 10s, jitter: none}}}}
        demand: {{curve: {{constant: 1}}, arrivals: deterministic}}
        faults: [{{kind: outage, target: agent.commit, at: 0s, duration: 8s}}]
        sla: {{objective: 1m}}
    """)
    out = engine.run(s)
    sp = spans(out)
    per_request = sp[sp["component"] == "prepare"].groupby("request_id").size()
    assert (per_request == first_step_calls).all()
    assert (requests(out)["outcome"] == "ok").all()


def test_a_full_queue_sheds_load_as_rejected(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: shed
        duration: 1m
        system:
          agents: {a: {replicas: 1, concurrency: 1, queue_limit: 2, service_time: 1s}}
          workflows: {only: {steps: [a]}}
        demand: {curve: {constant: 3}, arrivals: deterministic}
        sla: {objective: 5s}
    """)
    req = requests(engine.run(s))
    assert set(req.loc[req["outcome"] != "ok", "error_kind"]) == {"overloaded"}
    assert (req["outcome"] == "rejected").mean() == pytest.approx(2 / 3, abs=0.03)


def test_orchestrator_retries_with_backoff_then_succeed(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: retry
        duration: 30s
        system:
          agents: {a: {replicas: 4, service_time: 100ms,
                       retry: {attempts: 4, backoff: exponential, base: 1s, jitter: none}}}
          workflows: {only: {steps: [a]}}
        demand: {curve: {constant: 1}, arrivals: deterministic}
        faults: [{kind: error, target: agent.a, at: 0s, duration: 20s}]
        sla: {objective: 1m}
    """)
    out = engine.run(s)
    sp = spans(out)
    first = sp[sp["request_id"] == 19].sort_values("attempt")  # arrives at 19 s
    assert first["attempt"].tolist() == [1, 2]
    gaps = sp[sp["request_id"] == 0].sort_values("attempt")["start_s"].diff().dropna()
    # 0.1 s of work, then 1, 2, 4 s of backoff between attempts.
    assert gaps.tolist() == engine.about([1.1, 2.1, 4.1], slack=0.05)


def test_spans_name_who_made_each_call(engine: EngineUnderTest) -> None:
    s = scenario("""
        name: callers
        duration: 10s
        system:
          endpoints: {llm: {latency: 100ms}}
          tools: {db: {latency: 10ms}}
          agents:
            a: {replicas: 2, llm: {endpoint: llm}, tools: [{tool: db}]}
            b: {replicas: 2, llm: {endpoint: llm}}
          workflows: {only: {steps: [a, b]}}
        demand: {curve: {constant: 1}, arrivals: deterministic}
        sla: {objective: 5s}
    """)
    sp = spans(engine.run(s))
    callers = sp.groupby(["kind", "component"], observed=True)["caller"].agg(
        lambda c: set(c.astype(str)))
    assert callers[("agent", "a")] == {"orchestrator"}
    assert callers[("llm", "llm")] == {"a", "b"}
    assert callers[("tool", "db")] == {"a"}


def test_abandoned_work_stays_busy_so_utilization_and_the_autoscaler_see_it(
        engine: EngineUnderTest) -> None:
    # Every call times out after 1 s but its 3 s of work runs on: by Little's law three
    # slots are busy on average, and a utilization autoscaler (target 50%) must scale up.
    s = scenario("""
        name: abandon
        seed: 1
        duration: 3m
        system:
          agents:
            w: {replicas: {initial: 2, max: 20}, concurrency: 1, service_time: 3s,
                timeout: 1s, autoscaler: {metric: utilization, target: 50%, interval: 15s}}
          workflows: {only: {steps: [w]}}
        demand: {curve: {constant: 1}, arrivals: deterministic}
        sla: {objective: 5s}
    """)
    run = engine.run(s)
    assert (requests(run)["outcome"] == "timeout").all()
    ts = timeseries(run)
    agent = ts[(ts["kind"] == "agent") & (ts["t_s"] >= 60)]
    assert agent["busy"].mean() == pytest.approx(3.0, abs=0.2)  # λ × S
    assert agent["replicas"].min() >= 6  # 3 busy / 50% target
    assert agent["busy"].max() <= agent["ready"].min()
    # each decision is recorded as the simulator records it, and each change of size
    decisions = events(run, "scale_decision")
    assert len(decisions) >= 10
    assert {"agent", "current", "metric", "raw", "desired"} <= set(decisions[0])
    scaled = events(run, "scale")
    assert scaled
    assert scaled[0]["from"] == 2
    assert scaled[0]["to"] > 2


def test_an_abandoned_llm_call_holds_the_endpoint_not_the_agent(
        engine: EngineUnderTest) -> None:
    # The agent's 1 s timeout cuts each 3 s LLM call: the endpoint serves it to its end
    # (three of its slots busy on average, by Little's law), but the agent answers at the
    # deadline and its one slot is free again — it does not wait on work it gave up.
    s = scenario("""
        name: abandon-downstream
        seed: 1
        duration: 2m
        system:
          endpoints: {slow: {latency: 3s, concurrency: 8}}
          agents:
            w: {replicas: 1, concurrency: 1, llm: {endpoint: slow, timeout: 1s}}
          workflows: {only: {steps: [w]}}
        demand: {curve: {constant: 0.5}, arrivals: deterministic}
        sla: {objective: 5s}
    """)
    run = engine.run(s)
    req = requests(run)
    assert (req["outcome"] == "timeout").all()
    # one call every 2 s through a single slot: none waits for the last one's LLM call
    assert req["latency_s"].max() == engine.about(1.0, slack=0.1)
    ts = timeseries(run)
    late = ts["t_s"] >= 30
    endpoint = ts[late & (ts["kind"] == "endpoint")]
    assert endpoint["busy"].mean() == pytest.approx(1.5, abs=0.3)  # λ × 3 s
    agent = ts[late & (ts["kind"] == "agent")]
    assert agent["busy"].mean() < 0.75  # busy 1 s of every 2, not the LLM's 3


def test_a_shared_queue_is_load_the_timeseries_and_the_autoscaler_count(
        engine: EngineUnderTest) -> None:
    # The default balancer queues calls in one queue shared by the replicas (at the
    # orchestrator, live): 4 calls/s of 1 s each on 2 slots, so it grows until the
    # autoscaler, scaling on queue per replica, adds replicas.
    s = scenario("""
        name: shared-queue
        seed: 1
        duration: 3m
        system:
          agents:
            w: {replicas: {initial: 1, max: 6}, concurrency: 2, service_time: 1s,
                autoscaler: {metric: queue_per_replica, target: 2, interval: 15s,
                             cold_start: 5s}}
          workflows: {only: {steps: [w]}}
        demand: {curve: {constant: 4}, arrivals: deterministic}
        sla: {objective: 1m}
    """)
    run = engine.run(s)
    ts = timeseries(run)
    agent = ts[ts["kind"] == "agent"]
    before = agent[agent["t_s"] < 14]
    assert before["queue"].max() >= 10  # about 2 more calls a second than it serves
    scaled = events(run, "scale")
    assert scaled
    assert scaled[0]["from"] == 1
    assert scaled[0]["to"] > 1
    assert agent["replicas"].max() >= 3
