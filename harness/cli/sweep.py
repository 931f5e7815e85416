"""Sweeps: a grid (or a random sample) of scenario variants, simulated in parallel.

Every point (see :mod:`harness.cli.grid`) is validated before anything runs. The
results table has one row per point (its values, its figures, its verdict), the
cost/attainment frontier is the set of points no other point beats on both, and the
recommendation is the cheapest point that passes every gate.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.cli.grid import Param, count, points
from harness.errors import InputError, Problem
from harness.execution import execute
from harness.limits import check_count, check_scenario
from harness.parallel import Executor
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario

__all__ = ["COLUMNS", "SweepResult", "frontier", "run_sweep"]

#: The figures each point reports, in table order.
COLUMNS = ("attainment", "window_adherence", "latency.p95", "latency.p99", "recovery.max",
           "cost.total_usd", "cost.per_good_request_usd", "resilience_score")

@dataclass(frozen=True)
class PointJob:
    """One point, as a worker receives it (it must pickle): the validated scenario as
    data, so a worker on another machine needs no scenario file."""

    index: int
    scenario: dict[str, Any]
    base_dir: str | None
    overrides: tuple[str, ...]
    out: str


def run_point(job: PointJob) -> dict[str, Any]:
    """Simulate one point (in a worker process); its row of the results table."""
    scenario = Scenario.model_validate(job.scenario, context={"base_dir": job.base_dir,
                                                              "trusted": True})
    summary = execute(scenario, mode="sim", out=Path(job.out),
                      source_dir=Path(job.base_dir) if job.base_dir else None,
                      overrides=job.overrides, command=["squall", "sweep"],
                      report=None, overwrite=True, progress=False)
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


SWEEP_FILES = ("sweep.csv", "sweep.parquet", "sweep.json", "sweep.html")


def prepare_sweep_dir(out: Path, *, overwrite: bool = False) -> None:
    """Create a sweep directory; a previous sweep there is replaced only with
    ``overwrite``, and a directory of anything else never is."""
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", source=str(out))
    if out.is_dir() and any(out.iterdir()):
        if not any((out / name).exists() for name in (*SWEEP_FILES, "points")):
            raise InputError("is a non-empty directory that is not a sweep directory: "
                             "choose another --out", source=str(out))
        if not overwrite:
            raise InputError("already holds a sweep: choose another --out, or pass "
                             "--overwrite to replace it", source=str(out))
        for name in SWEEP_FILES:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "points", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def run_sweep(scenario_file: Path, params: Sequence[Param], *, out: Path,
              executor: Executor, samples: int | None = None, seed: int = 0,
              overrides: Sequence[str] = (), allow_paths: Sequence[Path] = (),
              limits: Mapping[str, float] | None = None, overwrite: bool = False,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Validate every point (each within ``limits``), simulate them all, and write
    sweep.csv / .parquet / .json; ``progress(done, total)`` after each point."""
    check_count("points", count(params, samples), limits)
    grid = points(params, samples, seed)
    problems: list[Problem] = []
    jobs = []
    base_dir = str(scenario_file.parent.resolve())
    for i, point in enumerate(grid):  # fail fast: every point must be a valid scenario
        sets = (*overrides, *(f"{k}={v}" for k, v in point.items()))
        try:
            scenario = load_scenario(scenario_file, sets, allow_paths=allow_paths)
            check_scenario(scenario, limits, source=", ".join(f"{k}={v}"
                                                               for k, v in point.items()))
        except InputError as exc:
            problems += [p for p in exc.problems if p not in problems]
            continue
        jobs.append(PointJob(i, scenario.canonical(), base_dir, sets,
                             str(out / "points" / f"p-{i:04d}")))
    if problems:
        raise InputError(problems)
    prepare_sweep_dir(out, overwrite=overwrite)
    rows = []
    for row in executor.map(run_point, jobs):
        rows.append(row)
        if progress is not None:
            progress(len(rows), len(jobs))
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
