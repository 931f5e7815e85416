"""Rendering ``report.html`` from a run directory alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from faults.schedule import FaultSchedule
from harness.errors import InputError
from harness.records.reader import RunData, read_run
from harness.scenario.model import Scenario
from harness.scoring.model import Summary
from harness.units import format_duration
from reports.charts import FaultBand, Series, line_chart

__all__ = ["render_report"]


def _env() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["dur"] = format_duration
    env.filters["pct"] = lambda v, d=2: "-" if v is None else f"{100 * v:.{d}f}%"
    env.filters["num"] = lambda v, d=3: "-" if v is None else f"{v:,.{d}g}" if abs(v) < 1e4 \
        else f"{v:,.0f}"
    env.filters["usd"] = lambda v: "-" if v is None else f"${v:,.4f}" if v < 1 else f"${v:,.2f}"
    return env


def _per_window(run: RunData, scenario: Scenario) -> dict[str, Any]:
    req = run.requests
    width = scenario.sla.window
    n = max(1, int(np.ceil(scenario.duration / width)))
    idx = np.clip((req["intended_s"].to_numpy() // width).astype(np.int64), 0, n - 1)
    outcome = req["outcome"].astype(str).to_numpy()
    lat = req["latency_s"].astype(float).to_numpy()
    ok = outcome == "ok"
    good = ok & (lat <= scenario.sla.objective)
    x = (np.arange(n) * width).tolist()
    series: dict[str, Any] = {"x": x}
    series["offered"] = (np.bincount(idx, minlength=n) / width).tolist()
    series["throughput"] = (np.bincount(idx[outcome != "dropped"], minlength=n) / width).tolist()
    series["goodput"] = (np.bincount(idx[good], minlength=n) / width).tolist()
    for q in (50, 95, 99):
        vals = np.full(n, np.nan)
        if ok.any():
            from harness.scoring.windows import group_quantile

            vals = group_quantile(idx[ok], lat[ok], q / 100, n)
        series[f"p{q}"] = vals.tolist()
    return series


def render_report(directory: str | Path, summary: Summary | None = None) -> Path:
    """Write ``report.html`` into a run directory and return its path."""
    directory = Path(directory)
    run = read_run(directory)
    if summary is None:
        path = directory / "summary.json"
        if not path.exists():
            raise InputError("no summary.json: score the run first (squall report scores it)",
                             source=str(directory))
        summary = Summary.model_validate(json.loads(path.read_text()))
    if run.scenario_data is None:
        raise InputError("no scenario.json in the run directory", source=str(directory))
    scenario = Scenario.model_validate(run.scenario_data,
                                       context={"base_dir": run.meta.get("scenario_dir")})
    bands = [FaultBand(a.id, a.start, a.end_or(scenario.duration))
             for a in FaultSchedule(scenario.fault_list)]
    w = _per_window(run, scenario)
    charts = {
        "traffic": line_chart(
            "Arrivals, throughput and goodput (requests/s per SLA window)",
            [Series("intended arrivals", w["x"], w["offered"], step=True),
             Series("throughput", w["x"], w["throughput"], step=True),
             Series("goodput", w["x"], w["goodput"], step=True)],
            ylabel="req/s", faults=bands, duration=scenario.duration),
        "latency": line_chart(
            "Latency of successful requests",
            [Series("p50", w["x"], w["p50"]), Series("p95", w["x"], w["p95"]),
             Series("p99", w["x"], w["p99"])],
            ylabel="seconds", faults=bands, duration=scenario.duration,
            hlines=[(scenario.sla.objective,
                     f"objective {format_duration(scenario.sla.objective)}")]),
    }
    html = _env().get_template("report.html.j2").render(
        s=summary, scenario=scenario, meta=run.meta, charts=charts, missing=run.missing,
    )
    out = directory / "report.html"
    out.write_text(html, encoding="utf-8")
    return out
