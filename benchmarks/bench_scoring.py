"""Scoring and sweep speed.

Figures (one JSON line each):
- ``scoring.score_1m_s``: seconds to score a run of one million requests (three million
  spans, three faults, five gates including a per-window one) from its directory:
  reading, scoring, judging. Target: a few seconds. Beside it, the time merely to read
  the request table into pandas, the floor under any scorer.
- ``sweep.speedup_2_workers``: the same eight-point sweep of the e-commerce scenario
  (about 1.8 s a point), run as ``squall sweep`` in a fresh process with ``--workers 1``
  and with ``--workers 2``; the ratio of whole-process wall times, best of three each.
  Target ≥ 1.8. About 0.7 s of each run (imports, validation) cannot run in parallel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.gates.evaluate import judge
from harness.records.reader import read_run
from harness.records.schema import REQUESTS, SPANS
from harness.records.writer import write_json
from harness.scenario import parse_scenario
from harness.scoring.score import score_run

ROOT = Path(__file__).resolve().parent.parent
N = 1_000_000

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


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


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
    }
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(cols), schema=REQUESTS,
                                        preserve_index=False), directory / "requests.parquet")
    m = 3 * N
    rid = np.repeat(np.arange(N), 3)
    spans = pd.DataFrame({
        "request_id": rid, "kind": np.tile(["agent", "llm", "tool"], N),
        "component": np.tile(["a", "llm", "db"], N), "replica": np.zeros(m, int),
        "attempt": np.ones(m, int), "start_s": t[rid], "end_s": t[rid] + 0.1,
        "queue_s": np.zeros(m), "error_kind": np.where(rng.random(m) < 0.01, "error", None),
        "fallback": np.zeros(m, bool), "tokens_in": np.zeros(m, int),
        "tokens_out": np.zeros(m, int), "cost_usd": np.full(m, 0.0007),
    })
    pq.write_table(pa.Table.from_pandas(spans, schema=SPANS, preserve_index=False),
                   directory / "spans.parquet")
    events = [{"t_s": 0.0, "type": "replica_start", "agent": "a", "replica": i,
               "cold_start_s": 0, "price_per_s": 0.0001} for i in range(4)]
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    write_json(directory / "scenario.json", parse_scenario(SCENARIO).canonical())
    write_json(directory / "run.json", {"mode": "sim", "status": "complete", "seed": 0})


def scoring() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        synthetic_run(directory)
        scenario = parse_scenario(SCENARIO)
        best, floor = float("inf"), float("inf")
        for _ in range(3):
            start = time.perf_counter()
            pq.read_table(directory / "requests.parquet").to_pandas()
            floor = min(floor, time.perf_counter() - start)
            start = time.perf_counter()
            summary = judge(score_run(read_run(directory), scenario), scenario.gate_list())
            best = min(best, time.perf_counter() - start)
        assert summary.requests.total == N
    emit(figure="scoring.score_1m_s", value=round(best, 3), unit="s", requests=N,
         spans=3 * N, target="a few seconds", baseline="reading requests.parquet into pandas",
         baseline_value=round(floor, 3), ratio=round(floor / best, 3))


def _sweep_seconds(workers: int) -> float:
    scenario = ROOT / "scenarios" / "ecommerce-peak.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "harness.cli.main", "sweep", str(scenario),
               "--param", "system.agents.order_tracking.concurrency=8,12,16,24",
               "--param", "system.agents.discovery.replicas.max=12,16",
               "--workers", str(workers), "--out", f"{tmp}/sweep"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"squall sweep failed: {proc.stderr}")
        assert len(pd.read_csv(f"{tmp}/sweep/sweep.csv")) == 8
    return elapsed


def sweep_speedup() -> None:
    runs: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(3):  # interleaved, so drift in machine speed hits both alike
        for workers in (1, 2):
            runs[workers].append(_sweep_seconds(workers))
    times = {w: min(t) for w, t in runs.items()}
    emit(figure="sweep.speedup_2_workers", value=round(times[1] / times[2], 3), unit="x",
         points=8, one_worker_s=round(times[1], 2), two_workers_s=round(times[2], 2),
         target=">= 1.8")


if __name__ == "__main__":
    scoring()
    if "--no-sweep" not in sys.argv:
        sweep_speedup()
