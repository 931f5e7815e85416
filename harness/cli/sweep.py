"""Sweeps: a grid (or a random sample) of scenario variants, simulated in parallel.

Every point (see :mod:`harness.cli.grid`) is validated before anything runs. The
results table has one row per point (its values, its figures, its verdict), the
cost/attainment frontier is the set of points no other point beats on both, and the
recommendation is the cheapest point that passes every gate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.cli.execute import execute
from harness.cli.grid import Param, points
from harness.errors import InputError, Problem
from harness.parallel import Executor
from harness.scenario.loader import load_scenario

__all__ = ["COLUMNS", "SweepResult", "frontier", "run_sweep"]

#: The figures each point reports, in table order.
COLUMNS = ("attainment", "window_adherence", "latency.p95", "latency.p99", "recovery.max",
           "cost.total_usd", "cost.per_good_request_usd", "resilience_score")

@dataclass(frozen=True)
class PointJob:
    index: int
    scenario_file: str
    overrides: tuple[str, ...]
    out: str


def run_point(job: PointJob) -> dict[str, Any]:
    """Simulate one point (in a worker process); its row of the results table."""
    scenario = load_scenario(job.scenario_file, job.overrides)
    summary = execute(scenario, mode="sim", out=Path(job.out),
                      source_dir=Path(job.scenario_file).parent, overrides=job.overrides,
                      command=["squall", "sweep"], write_report=False)
    row: dict[str, Any] = {k: summary.metrics.get(k) for k in COLUMNS}
    row["verdict"] = summary.verdict.value
    row["gates_passed"] = sum(g.status.value == "pass" for g in summary.gates)
    row["gates"] = len(summary.gates)
    return row


def frontier(table: pd.DataFrame, cost: str = "cost.total_usd",
             quality: str = "attainment") -> pd.DataFrame:
    """Points no other point beats on both lower cost and higher quality."""
    data = table.dropna(subset=[cost, quality]).sort_values([cost, quality],
                                                             ascending=[True, False])
    best, keep = -math.inf, []
    for index, row in data.iterrows():
        if row[quality] > best:
            keep.append(index)
            best = row[quality]
    return table.loc[keep]


@dataclass
class SweepResult:
    table: pd.DataFrame
    frontier: pd.DataFrame
    best: dict[str, Any] | None  #: the cheapest point that passes every gate

    def to_json(self) -> dict[str, Any]:
        def rows(df: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(df.to_json(orient="records"))  # type: ignore[no-any-return]

        return {"points": len(self.table), "best": self.best, "frontier": rows(self.frontier)}


def run_sweep(scenario_file: Path, params: Sequence[Param], *, out: Path,
              executor: Executor, samples: int | None = None, seed: int = 0,
              overrides: Sequence[str] = ()) -> SweepResult:
    """Validate every point, simulate them all, and write sweep.csv / .parquet / .json."""
    grid = points(params, samples, seed)
    problems: list[Problem] = []
    for point in grid:  # fail fast: every point must be a valid scenario
        sets = [*overrides, *(f"{k}={v}" for k, v in point.items())]
        try:
            load_scenario(scenario_file, sets)
        except InputError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise InputError(problems)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [PointJob(i, str(scenario_file),
                     (*overrides, *(f"{k}={v}" for k, v in point.items())),
                     str(out / "points" / f"p-{i:04d}"))
            for i, point in enumerate(grid)]
    rows = list(executor.map(run_point, jobs))
    table = pd.DataFrame([{"point": i, **point, **row}
                          for i, (point, row) in enumerate(zip(grid, rows, strict=True))])
    passing = table[table["verdict"] == "pass"].sort_values("cost.total_usd")
    best = None
    if len(passing):
        best = json.loads(passing.iloc[[0]].to_json(orient="records"))[0]
    result = SweepResult(table, frontier(table), best)
    table.to_csv(out / "sweep.csv", index=False)
    table.astype({p.path: str for p in params}).to_parquet(out / "sweep.parquet", index=False)
    (out / "sweep.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    from reports.render import render_sweep

    render_sweep(out, table, [int(p) for p in result.frontier["point"]], best,
                 [p.path for p in params])
    return result
