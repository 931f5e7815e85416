"""Simulator speed and memory.

Figures (one JSON line each):
- ``sim.ecommerce_rps``: simulated workflow requests per wall-second, one core, for the
  e-commerce library scenario with its faults (30 minutes of demand), records written;
  against a minimal hand-written SimPy model of the same stations on the same arrival
  schedule (``minimal_chain.py``) in the same run. Targets: ≥ 5,000/s, ratio ≥ 0.33.
- ``sim.peak_memory_1m_mb``: peak resident memory of ``squall run`` (simulation, records
  and scoring) for one million requests, measured on the child process. Target < 2 GB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from minimal_chain import run_minimal

from harness.records.writer import RunWriter
from harness.scenario import load_scenario
from harness.scenario.schedule import build_schedule
from harness.sim.engine import simulate

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "ecommerce-peak.yaml"
SMOKE = os.environ.get("SQUALL_BENCH_SMOKE") == "1"  # make test: tiny sizes, one repeat
REPEATS = 1 if SMOKE else 3


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def squall_once(scenario: Any, schedule: Any) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        writer = RunWriter(Path(tmp), {"mode": "sim"})
        start = time.perf_counter()
        simulate(scenario, schedule, writer, scenario.seed)
        writer.close()
        return time.perf_counter() - start


def speed() -> None:
    scenario = load_scenario(SCENARIO, ["demand.curve={constant: 3}"] if SMOKE
                             else ["duration=30m"])
    schedule = build_schedule(scenario)
    n = len(schedule)
    ours, base = [], []
    for _ in range(REPEATS):  # interleaved, so drift in machine speed hits both alike
        ours.append(squall_once(scenario, schedule))
        start = time.perf_counter()
        run_minimal(scenario, schedule)
        base.append(time.perf_counter() - start)
    emit(figure="sim.ecommerce_rps", value=round(n / min(ours)), unit="requests/s",
         requests=n, target=">= 5000", baseline="minimal hand-written SimPy chain",
         baseline_value=round(n / min(base)), ratio=round(min(base) / min(ours), 3),
         ratio_target=">= 0.33")


def memory() -> None:
    overrides = ["duration=12m" if SMOKE else "duration=9h15m",
                 f"demand.curve={{constant: {3 if SMOKE else 30}}}", "records.step=10s"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "harness.cli.main", "run", str(SCENARIO), "--mode", "sim",
               "--out", f"{tmp}/run", "--no-report", "-q"]
        for item in overrides:
            cmd += ["--set", item]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode not in (0, 1):
            raise SystemExit(f"squall run failed ({proc.returncode}): {proc.stderr}")
        total = json.loads((Path(tmp) / "run" / "summary.json").read_text())["requests"]["total"]
    emit(figure="sim.peak_memory_1m_mb", value=round(max(peak_kb, before) / 1024), unit="MB",
         requests=total, target="< 2048", wall_s=round(wall, 1),
         note="whole squall run: simulation, records and scoring, in a child process")


if __name__ == "__main__":
    speed()
    memory()
