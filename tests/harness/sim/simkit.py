"""Running small scenarios in-process for simulator tests, and estimators over records."""

from __future__ import annotations

import json
import math
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.records.writer import RunWriter
from harness.scenario import Scenario, parse_scenario
from harness.scenario.schedule import build_schedule
from harness.sim.engine import simulate


def scenario(text: str, *overrides: str) -> Scenario:
    return parse_scenario(textwrap.dedent(text), "test.yaml", overrides)


#: Where runs without an ``out`` go: the running test's tmp_path (tests/harness/sim/
#: conftest.py sets it), so no test leaves run directories behind in /tmp.
RUNS_DIR: Path | None = None


def simulate_to(s: Scenario, out: Path | None = None, seed: int | None = None) -> Path:
    """Run ``s`` in the simulator; return the run directory (records only, no scoring)."""
    out = Path(tempfile.mkdtemp(prefix="squall-sim-", dir=RUNS_DIR)) if out is None else out
    writer = RunWriter(out, {"mode": "sim"})
    simulate(s, build_schedule(s, seed), writer, s.seed if seed is None else seed)
    writer.close()
    return out


def spans(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "spans.parquet")


def requests(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "requests.parquet").sort_values("id").reset_index(drop=True)


def events(run: Path, kind: str | None = None) -> list[dict[str, Any]]:
    out = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return [e for e in out if kind is None or e["type"] == kind]


def erlang_c(c: int, lam: float, mu: float) -> tuple[float, float]:
    """(P(wait), mean wait) of an M/M/c queue."""
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait, p_wait / (c * mu - lam)


def controlled_mean(y: np.ndarray, controls: list[tuple[np.ndarray, float]],
                    batches: int = 50) -> float:
    """Mean of ``y`` with control variates (Lavenberg & Welch): each control is an
    observed series with a known mean; the coefficients come from batch means."""
    n = len(y) // batches * batches
    ys = y[:n].reshape(batches, -1).mean(1)
    xs = np.stack([c[:n].reshape(batches, -1).mean(1) - mean for c, mean in controls], 1)
    beta, *_ = np.linalg.lstsq(xs - xs.mean(0), ys - ys.mean(), rcond=None)
    return float(y[:n].mean() - xs.mean(0) @ beta)


def queue_run(servers: int, rho: float, customers: int, seed: int,
              service: str) -> dict[str, float]:
    """One replication of a single-agent queue; wait estimates with service and
    inter-arrival controls, after a 5% warm-up."""
    lam = rho * servers
    s = scenario(f"""
        name: queue
        seed: {seed}
        duration: {customers / lam}
        system:
          agents: {{worker: {{replicas: {servers}, concurrency: 1, service_time: {service}}}}}
          workflows: {{only: {{steps: [worker]}}}}
        demand: {{curve: {{constant: {lam}}}, arrivals: poisson}}
        sla: {{objective: 1h}}
        records: {{drain: 2h, step: 1h}}
    """)
    with tempfile.TemporaryDirectory(prefix="squall-queue-") as tmp:  # in a worker process
        sp = spans(simulate_to(s, Path(tmp))).sort_values("request_id")
    wait = sp["queue_s"].to_numpy()
    service_s = (sp["end_s"] - sp["start_s"]).to_numpy() - wait
    gaps = np.diff(sp["start_s"].to_numpy(), prepend=0.0)
    cut = len(wait) // 20
    wait, service_s, gaps = wait[cut:], service_s[cut:], gaps[cut:]
    controls = [(service_s, 1.0), (gaps, 1.0 / lam)]
    return {
        "wait": controlled_mean(wait, controls),
        "p_wait": controlled_mean((wait > 0).astype(float), controls),
        "customers": float(len(wait)),
    }
