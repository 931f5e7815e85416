"""A system played K times faster: times divided, rates multiplied, counts kept — and a
simulation of the fast system on the fast arrivals is the original run, K times faster."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faults.specs import LatencyFault, RateLimitFault
from harness.demand.arrivals import ArrivalSchedule
from harness.records.writer import RunWriter
from harness.scenario import parse_scenario
from harness.scenario.schedule import build_schedule
from harness.scenario.system import System
from harness.scenario.timescale import time_scaled
from harness.sim.engine import simulate

SYSTEM = System.model_validate({
    "endpoints": {
        "big": {"ttft": {"dist": "lognormal", "median": "600ms", "p95": "2s"},
                "per_token": "10ms", "concurrency": 8,
                "rate_limit": {"rpm": 600, "tpm": 100000, "retry_after": "4s"}},
        "small": {"latency": {"dist": "uniform", "low": "100ms", "high": "300ms"}},
    },
    "tools": {"db": {"latency": {"dist": "empirical", "samples": [0.01, 0.03]},
                     "price_per_call": 0.001}},
    "agents": {
        "a": {"replicas": {"initial": 2, "max": 4}, "concurrency": 3,
              "service_time": {"dist": "exponential", "mean": "200ms"}, "timeout": "10s",
              "retry": {"attempts": 3, "base": "100ms", "cap": "2s"},
              "circuit_breaker": {"window": "30s", "open_for": "20s",
                                  "slow_call_duration": "5s"},
              "llm": {"endpoint": "big", "output_tokens": {"dist": "normal", "mean": 200,
                                                           "sd": 50}},
              "tools": [{"tool": "db", "timeout": "1s"}]},
        "b": {"replicas": 1, "circuit_breaker": {"window": 50}},
    },
    "autoscaler": {"target": 0.7, "interval": "15s", "scale_down_window": "2m",
                   "cold_start": {"dist": "gamma", "mean": "20s", "cv": 0.5},
                   "scale_up": {"period": "30s"}},
    "workflows": {"w": {"steps": ["a", "b"], "deadline": "30s"}},
})


def test_times_are_divided_rates_multiplied_counts_kept() -> None:
    fast = time_scaled(SYSTEM, 4)
    big, small = fast.endpoints["big"], fast.endpoints["small"]
    assert (big.ttft.median, big.ttft.p95) == pytest.approx((0.15, 0.5))
    assert big.per_token.mean == pytest.approx(0.0025)
    # a bucket keeps its size (a count) and refills 4 times faster: its minute is 15 s
    assert (big.rate_limit.rpm, big.rate_limit.tpm, big.rate_limit.per) == (600, 100000, 15)
    assert big.rate_limit.retry_after == 1.0
    assert big.concurrency == 8
    assert small.latency.bounds() == pytest.approx((0.025, 0.075))
    assert fast.tools["db"].latency.samples == pytest.approx([0.0025, 0.0075])
    assert fast.tools["db"].price_per_call == 0.001
    a = fast.agents["a"]
    assert a.service_time.mean == pytest.approx(0.05)
    assert (a.timeout, a.retry.base, a.retry.cap, a.retry.attempts) == (2.5, 0.025, 0.5, 3)
    assert (a.circuit_breaker.window, a.circuit_breaker.open_for,
            a.circuit_breaker.slow_call_duration) == (7.5, 5.0, 1.25)
    assert fast.agents["b"].circuit_breaker.window == 50  # a count of calls stays
    assert a.llm[0].output_tokens.mean == 200  # tokens are not time
    assert a.tools[0].timeout == 0.25
    assert (a.replicas.initial, a.concurrency) == (2, 3)
    scaler = fast.autoscaler
    assert (scaler.interval, scaler.scale_down_window, scaler.scale_up.period) == \
        (3.75, 30.0, 7.5)
    assert scaler.cold_start.mean_value() == pytest.approx(5.0)
    assert fast.workflows["w"].deadline == 7.5
    assert time_scaled(SYSTEM, 1) is SYSTEM
    with pytest.raises(ValueError, match="positive"):
        time_scaled(SYSTEM, 0)


def test_fault_parameters_scale_too() -> None:
    latency = LatencyFault.model_validate({"target": "endpoint.big", "at": "60s",
                                          "duration": "30s", "add": "2s", "jitter": "1s",
                                          "multiply": 3})
    fast = time_scaled(latency, 2)
    assert (fast.at, fast.duration, fast.add, fast.jitter, fast.multiply) == \
        (30.0, 15.0, 1.0, 0.5, 3)
    limits = time_scaled(RateLimitFault.model_validate(
        {"target": "endpoint.big", "at": 0, "rpm": 60, "retry_after": "10s"}), 5)
    assert (limits.rpm, limits.per, limits.retry_after) == (60, 12.0, 2.0)


SCENARIO = """
name: twin
seed: 3
duration: 5m
system:
  endpoints: {m: {ttft: {dist: lognormal, median: 400ms, p95: 1s}, per_token: 5ms,
                  concurrency: 6, rate_limit: {rpm: 240}}}
  agents:
    a: {replicas: 2, concurrency: 2, service_time: {dist: exponential, mean: 300ms},
        llm: {endpoint: m, output_tokens: 40}, timeout: 4s,
        retry: {attempts: 2, base: 200ms}}
  workflows: {w: {steps: [a], deadline: 8s}}
demand: {curve: {constant: 5}}
faults: [{kind: latency, target: endpoint.m, at: 2m, duration: 1m, add: 1s},
         {kind: rate_limit, target: endpoint.m, at: 3m30s, duration: 30s, rpm: 60}]
sla: {objective: 3s}
"""


def run(scenario: object, schedule: ArrivalSchedule, seed: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        writer = RunWriter(Path(tmp), {"mode": "sim"})
        simulate(scenario, schedule, writer, seed)  # type: ignore[arg-type]
        writer.close()
        return pd.read_parquet(Path(tmp) / "requests.parquet").sort_values("id")


@pytest.mark.parametrize("k", [2.0, 10.0])
def test_the_fast_system_on_fast_arrivals_is_the_same_run_k_times_faster(k: float) -> None:
    scenario = parse_scenario(SCENARIO)
    schedule = build_schedule(scenario)
    fast = scenario.model_copy(update={
        "system": time_scaled(scenario.system, k),
        "faults": [time_scaled(f, k) for f in scenario.faults],
        "duration": scenario.duration / k})
    fast_schedule = ArrivalSchedule(schedule.times / k, schedule.workflow, schedule.priority,
                                    schedule.workflows, schedule.duration / k)
    slow = run(scenario, schedule, scenario.seed)
    quick = run(fast, fast_schedule, scenario.seed)
    assert (slow["error_kind"] == "rate_limited").sum() >= 5  # the buckets ran dry
    assert list(quick["outcome"]) == list(slow["outcome"])
    assert np.allclose(quick["latency_s"].to_numpy() * k, slow["latency_s"].to_numpy(),
                       rtol=1e-6, atol=1e-9)


def test_the_ecommerce_peak_with_its_faults_autoscaler_and_breakers_is_a_twin_too() -> None:
    from harness.scenario import load_scenario
    from tests.conftest import ROOT

    scenario = load_scenario(ROOT / "scenarios" / "ecommerce-peak.yaml",
                             ["records.drain=1m"])
    k = 4.0
    schedule = build_schedule(scenario)
    fast = scenario.model_copy(update={
        "system": time_scaled(scenario.system, k),
        "faults": [time_scaled(f, k) for f in scenario.faults],
        "duration": scenario.duration / k,
        "records": scenario.records.model_copy(update={"drain": 60 / k})})
    fast_schedule = ArrivalSchedule(schedule.times / k, schedule.workflow, schedule.priority,
                                    schedule.workflows, schedule.duration / k)
    slow = run(scenario, schedule, scenario.seed)
    quick = run(fast, fast_schedule, scenario.seed)
    assert len(slow) > 10_000
    assert list(quick["outcome"]) == list(slow["outcome"])  # every request, the same fate
    assert np.allclose(quick["latency_s"].to_numpy() * k, slow["latency_s"].to_numpy(),
                       rtol=1e-9, atol=1e-9)
