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

import pandas as pd
import pyarrow.parquet as pq
from synthetic import SCENARIO, SMOKE, N, synthetic_run

from harness.judging.evaluate import judge
from harness.records.reader import read_run
from harness.scenario import parse_scenario
from harness.scoring.score import score_run

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 1 if SMOKE else 3

def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def scoring() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        synthetic_run(directory)
        scenario = parse_scenario(SCENARIO)
        best, floor = float("inf"), float("inf")
        for _ in range(REPEATS):
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
    values = "8,12" if SMOKE else "8,12,16,24"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "harness.cli.main", "sweep", str(scenario),
               "--param", f"system.agents.order_tracking.concurrency={values}",
               "--param", "system.agents.discovery.replicas.max=12,16",
               "--workers", str(workers), "--out", f"{tmp}/sweep"]
        if SMOKE:
            cmd += ["--set", "demand.curve={constant: 2}"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode not in (0, 1):  # 1: no point passes every gate
            raise SystemExit(f"squall sweep failed ({proc.returncode}): {proc.stderr}")
        assert len(pd.read_csv(f"{tmp}/sweep/sweep.csv")) == (4 if SMOKE else 8)
    return elapsed


def sweep_speedup() -> None:
    runs: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(REPEATS):  # interleaved, so drift in machine speed hits both alike
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
