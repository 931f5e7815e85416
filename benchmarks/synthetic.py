"""A synthetic run directory of a million requests, shaped like a real one: for
benchmarks of scoring and reporting that should not wait for a simulation first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.records.schema import REQUESTS, SPANS, TIMESERIES
from harness.records.writer import write_json
from harness.scenario import parse_scenario

#: ``SQUALL_BENCH_SMOKE=1`` (``make test`` runs every benchmark that way): a tiny size,
#: so a benchmark cannot rot unnoticed; the figures then mean nothing.
SMOKE = os.environ.get("SQUALL_BENCH_SMOKE") == "1"
N = 20_000 if SMOKE else 1_000_000

SCENARIO = """
name: big
duration: 2h
system:
  agents: {a: {replicas: 4, compute_price_per_s: 0.0001}, b: {replicas: 4}}
  workflows: {w1: {steps: [a, b]}, w2: {steps: [a]}}
demand: {curve: {constant: 139}}
faults:
  - {id: f1, kind: latency, target: agent.a, at: 20m, duration: 5m, add: 2s}
  - {id: f2, kind: error, target: agent.b, at: 50m, duration: 5m, probability: 20%}
  - {id: f3, kind: crash, target: agent.a, at: 80m, count: 2, restart_after: 1m}
sla: {objective: 3s, window: 10s}
gates: ["attainment >= 95%", "latency.p95 < 3s", "recovery.max <= 5m",
        "during f2: error_rate < 10%", "every window: latency.p99 < 10s"]
"""


def synthetic_run(directory: Path) -> None:
    """A run directory of one million requests with realistic shape."""
    rng = np.random.default_rng(7)
    t = np.sort(rng.uniform(0, 7200, N))
    lat = rng.lognormal(0, 0.6, N)
    hurt = ((t > 1200) & (t < 1500)) | ((t > 4800) & (t < 4860))
    lat[hurt] += rng.exponential(3.0, hurt.sum())
    outcome = np.where(rng.random(N) < 0.01, "error", "ok")
    outcome[((t > 3000) & (t < 3300)) & (rng.random(N) < 0.2)] = "error"
    wf = np.where(rng.random(N) < 0.6, "w1", "w2")
    cols = {
        "id": np.arange(N), "workflow": wf, "priority": np.full(N, "normal"),
        "intended_s": t, "sent_s": t, "end_s": t + lat, "latency_s": lat, "outcome": outcome,
        "error_kind": np.where(outcome == "ok", None, "error"), "attempts": np.ones(N, int),
        "steps": np.ones(N, int), "fallback": np.zeros(N, bool), "tokens_in": np.full(N, 500),
        "tokens_out": np.full(N, 100), "cost_usd": np.full(N, 0.002), "ttft_s": np.full(N, np.nan),
        "itl_s": np.full(N, np.nan),
    }
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(cols), schema=REQUESTS,
                                        preserve_index=False), directory / "requests.parquet")
    m = 3 * N
    rid = np.repeat(np.arange(N), 3)
    spans = pd.DataFrame({
        "request_id": rid, "kind": np.tile(["agent", "llm", "tool"], N),
        "component": np.tile(["a", "llm", "db"], N),
        "caller": np.tile(["orchestrator", "a", "a"], N), "replica": np.zeros(m, int),
        "attempt": np.ones(m, int), "start_s": t[rid], "end_s": t[rid] + 0.1,
        "queue_s": np.zeros(m), "error_kind": np.where(rng.random(m) < 0.01, "error", None),
        "fallback": np.zeros(m, bool), "tokens_in": np.zeros(m, int),
        "tokens_out": np.zeros(m, int), "cost_usd": np.full(m, 0.0007),
        "hop_s": np.full(m, np.nan),
    })
    pq.write_table(pa.Table.from_pandas(spans, schema=SPANS, preserve_index=False),
                   directory / "spans.parquet")
    ts_t = np.arange(0, 7200, 1.0)
    rows = []
    for kind, name in (("agent", "a"), ("agent", "b"), ("system", "requests")):
        k = len(ts_t)
        rows.append(pd.DataFrame({
            "t_s": ts_t, "kind": kind, "component": name, "replicas": np.full(k, 4),
            "ready": np.full(k, 4), "capacity": np.full(k, 4), "busy": rng.integers(0, 5, k),
            "queue": rng.integers(0, 20, k), "breaker": None,
            "cost_usd": np.cumsum(np.full(k, 0.3))}))
    pq.write_table(pa.Table.from_pandas(pd.concat(rows), schema=TIMESERIES,
                                        preserve_index=False), directory / "timeseries.parquet")
    events = [{"t_s": 0.0, "type": "replica_start", "agent": "a", "replica": i,
               "cold_start_s": 0, "price_per_s": 0.0001} for i in range(4)]
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    write_json(directory / "scenario.json", parse_scenario(SCENARIO).canonical())
    write_json(directory / "run.json", {"mode": "sim", "status": "complete", "seed": 0})
