"""The simulator against queueing theory and against the policies' own rules.

Near saturation a queue's mean wait is noisy (its length is autocorrelated over hundreds
of customers), so each case pools independent replications, run on every core, and uses
the realised service and inter-arrival means as control variates. The run lengths give
the 3% bound at least 3.4 standard errors of room.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from tests.harness.sim.simkit import erlang_c, events, queue_run, requests, scenario, simulate_to
from tests.harness.sim.simkit import spans as span_table

EXPONENTIAL = "{dist: exponential, mean: 1s}"


def pooled(servers: int, rho: float, customers: int, replications: int, service: str
           ) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        runs = list(pool.map(queue_run, [servers] * replications, [rho] * replications,
                             [customers] * replications, range(100, 100 + replications),
                             [service] * replications))
    weight = np.array([r["customers"] for r in runs])
    return {k: float(np.average([r[k] for r in runs], weights=weight))
            for k in ("wait", "p_wait")}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("servers", "rho", "customers", "replications"),
    [(1, 0.5, 200_000, 2), (2, 0.8, 250_000, 4), (4, 0.9, 250_000, 16)],
)
def test_mmc_waits_match_erlang_c(servers: int, rho: float, customers: int,
                                  replications: int) -> None:
    p_wait, wait = erlang_c(servers, rho * servers, 1.0)
    got = pooled(servers, rho, customers, replications, EXPONENTIAL)
    assert got["p_wait"] == pytest.approx(p_wait, rel=0.03)
    assert got["wait"] == pytest.approx(wait, rel=0.03)


@pytest.mark.slow
def test_md1_wait_matches_pollaczek_khinchine() -> None:
    rho = 0.8
    got = pooled(1, rho, 250_000, 4, "1s")
    assert got["wait"] == pytest.approx(rho / (2 * (1 - rho)), rel=0.03)  # Wq = ρ/(2μ(1−ρ))
    assert got["p_wait"] == pytest.approx(rho, rel=0.03)  # PASTA: P(busy) = ρ


def test_littles_law_holds_on_the_ecommerce_scenario(scenarios_dir: object) -> None:
    from harness.scenario import load_scenario

    s = load_scenario(f"{scenarios_dir}/ecommerce-peak.yaml", ["records.step=250ms"])
    run = simulate_to(s)
    ts = __import__("pandas").read_parquet(run / "timeseries.parquet")
    in_system = ts[ts["kind"] == "system"].sort_values("t_s")
    step = 0.25
    horizon = float(in_system["t_s"].iloc[-1]) + step
    # L: time-average number of requests in the system, sampled every 250 ms.
    big_l = float(in_system["busy"].sum()) * step / horizon
    req = requests(run)
    lam = len(req) / horizon
    big_w = float(req["latency_s"].mean())
    assert req["outcome"].ne("dropped").all()
    assert big_l == pytest.approx(lam * big_w, rel=0.02)


BREAKER = """
    name: breaker
    duration: 3m
    system:
      tools: {{api: {{latency: 100ms}}}}
      agents:
        caller:
          replicas: 4
          concurrency: 4
          tools: [{{tool: api}}]
          circuit_breaker: {{failure_rate: 50%, window: 10, min_calls: 10, open_for: 20s,
                             half_open_calls: 3}}
      workflows: {{only: {{steps: [caller]}}}}
    demand: {{curve: {{constant: 5}}, arrivals: deterministic}}
    faults: [{{id: down, kind: error, target: tool.api, at: 60s, duration: {down}}}]
    sla: {{objective: 1s}}
"""


def test_breaker_opens_after_the_configured_failures_and_probes_on_time() -> None:
    run = simulate_to(scenario(BREAKER.format(down="50s")))
    transitions = [(e["t_s"], e["from"], e["to"]) for e in events(run, "breaker")]
    agent_spans = span_table(run)
    agent_spans = agent_spans[agent_spans["kind"] == "agent"].sort_values("end_s")
    failed = agent_spans[agent_spans["error_kind"].notna()]
    # Window of 10, threshold 50%: the fifth failure after 60 s opens it.
    opened = transitions[0]
    assert opened[1:] == ("closed", "open")
    assert opened[0] == pytest.approx(failed["end_s"].iloc[4])
    refused = agent_spans[(agent_spans["error_kind"] == "circuit_open")]
    assert (refused["start_s"] >= opened[0]).all()
    # 20 s later the next call is a half-open trial; the fault is still on, so it reopens.
    second = transitions[1]
    assert second[1:] == ("open", "half_open")
    assert opened[0] + 20 <= second[0] <= opened[0] + 20.2 + 1e-9  # next arrival ≤ 200 ms
    assert transitions[2][1:] == ("half_open", "open")
    # After the fault ends (110 s), trials succeed and it closes.
    closing = [t for t in transitions if t[2] == "closed"]
    assert closing
    assert closing[0][0] >= 110


def test_retries_multiply_load_by_the_expected_factor() -> None:
    p, attempts = 0.3, 3
    s = scenario(f"""
        name: retries
        seed: 4
        duration: 20m
        system:
          tools: {{api: {{latency: 10ms, error_rate: {p}}}}}
          agents:
            caller:
              replicas: 8
              concurrency: 8
              tools: [{{tool: api, retry: {{attempts: {attempts}, base: 1ms, jitter: none}}}}]
          workflows: {{only: {{steps: [caller]}}}}
        demand: {{curve: {{constant: 20}}}}
        sla: {{objective: 1s}}
    """)
    run = simulate_to(s)
    req = requests(run)
    tool_calls = (span_table(run)["kind"] == "tool").sum()
    expected = sum(p**k for k in range(attempts))  # 1 + p + p²
    n = len(req)
    # Each logical call makes 1 + B1 + B1·B2 attempts: sd ≈ 0.58 per call.
    assert tool_calls / n == pytest.approx(expected, abs=5 * 0.58 / math.sqrt(n))
    fail = (req["outcome"] != "ok").mean()
    assert fail == pytest.approx(p**attempts, abs=5 * math.sqrt(p**3 / n))


def _hpa(current: int, total: float, target: float, tolerance: float) -> int:
    """The HPA rule from the Kubernetes documentation, written independently."""
    if current == 0:
        return math.ceil(total / target)
    ratio = total / current / target
    return current if abs(ratio - 1) <= tolerance else math.ceil(current * ratio - 1e-9)


def test_the_autoscaler_follows_the_hpa_rule_step_by_step() -> None:
    s = scenario("""
        name: scaling
        seed: 2
        duration: 20m
        system:
          agents:
            worker:
              replicas: {initial: 2, min: 2, max: 30}
              concurrency: 4
              service_time: {dist: exponential, mean: 2s}
          autoscaler: {metric: in_flight, target: 4, interval: 15s, scale_down_window: 60s,
                       scale_up: {percent: 100%, pods: 4, period: 15s}, cold_start: 10s}
          workflows: {only: {steps: [worker]}}
        demand: {curve: {piecewise: [[0s, 2], [5m, 2], [7m, 30], [12m, 30], [13m, 2]]}}
        sla: {objective: 30s}
    """)
    run = simulate_to(s)
    decisions = events(run, "scale_decision")
    assert len(decisions) == 79  # every 15 s in [0, 20 m): 15 s … 19 m 45 s
    history: list[tuple[float, int]] = []
    adds: list[tuple[float, int]] = []
    for d in decisions:
        now, current = d["t_s"], d["current"]
        raw = _hpa(current, d["metric"], 4, 0.1)
        assert d["raw"] == raw, d
        history.append((now, raw))
        window = [r for t, r in history if t >= now - 60]
        desired = min(current, max(window)) if raw < current else raw
        if desired > current:
            added = sum(n for t, n in adds if t > now - 15)
            start = current - added
            desired = max(current, min(desired, max(2 * start, start + 4)))
        desired = max(2, min(30, desired))
        if desired > current:
            adds.append((now, desired - current))
        assert d["desired"] == desired, d
    # The replica events realise the decisions.
    starts = events(run, "replica_start")
    assert len(starts) == 2 + sum(n for _, n in adds)
    assert max(d["desired"] for d in decisions) > 10  # it really scaled


def test_a_crash_fails_in_flight_calls_and_restarts_after_its_delay() -> None:
    s = scenario("""
        name: crash
        seed: 3
        duration: 2m
        system:
          agents: {worker: {replicas: 3, concurrency: 2, service_time: 5s}}
          workflows: {only: {steps: [worker]}}
        demand: {curve: {constant: 1}, arrivals: deterministic}
        faults: [{id: boom, kind: crash, target: agent.worker, at: 30s, count: 2,
                  restart_after: 20s}]
        sla: {objective: 10s}
    """)
    run = simulate_to(s)
    crashes = events(run, "replica_crash")
    assert [e["t_s"] for e in crashes] == [30, 30]
    back = [e["t_s"] for e in events(run, "replica_ready") if e["t_s"] > 0]
    assert back == [50, 50]  # restarted in place: no new replicas, no cold start configured
    assert len(events(run, "replica_start")) == 3
    crashed = span_table(run)
    crashed = crashed[crashed["error_kind"] == "crash"]
    assert len(crashed) > 0
    assert (crashed["end_s"] == 30).all()
