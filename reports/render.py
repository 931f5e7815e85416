"""Rendering reports from run directories alone: a run, a comparison, a sweep.

Each is one self-contained HTML file: inline CSS, charts as inline SVG, no scripts, no
external resources.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

import reports.charts as ch
from harness.errors import InputError
from harness.judging.directory import scenario_of
from harness.metrics import format_value
from harness.outcomes import OUTCOMES
from harness.records.meta import read_meta
from harness.records.reader import RunData, read_run
from harness.records.rundir import RunDir
from harness.scenario.model import Scenario
from harness.scoring.model import Summary
from harness.units import format_duration
from reports.data import ReportData, collect
from reports.graph import system_graph

__all__ = ["render_compare", "render_report", "render_sweep"]


def _env() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["dur"] = format_duration
    env.filters["pct"] = lambda v, d=2: "-" if v is None else f"{100 * v:.{d}f}%"
    env.filters["num"] = lambda v, d=3: "-" if v is None else (
        f"{v:,.{d}g}" if abs(v) < 1e4 else f"{v:,.0f}")
    env.filters["usd"] = lambda v: "-" if v is None else (
        f"${v:,.4f}" if abs(v) < 1 else f"${v:,.2f}")
    env.filters["metric"] = lambda v, name: format_value(name, v)
    env.globals["version"] = _version()
    env.globals["inf"] = float("inf")
    return env


def _version() -> str:
    try:
        return metadata.version("squall")
    except metadata.PackageNotFoundError:
        return "dev"


def _bands(data: ReportData, end: float | None = None) -> list[ch.FaultBand]:
    """Fault windows up to ``end`` (default: as far as the records go)."""
    end = data.duration if end is None else end
    return [ch.FaultBand(f["id"], f["start"], min(f["end"] if f["end"] is not None else end, end))
            for f in data.faults if f["start"] < end]


def run_charts(data: ReportData) -> dict[str, str]:
    """Every time chart of one run (only those its records allow)."""
    duration, bands = data.duration, _bands(data)
    objective = data.scenario.sla.objective
    out: dict[str, str] = {}
    if data.traffic:
        out["traffic"] = ch.line_chart(
            f"Arrivals, throughput and goodput (requests/s per {format_duration(data.width)})",
            [ch.Series(k, data.x, v, step=True) for k, v in data.traffic.items()],
            ylabel="requests / s", faults=bands, duration=duration)
        out["latency"] = ch.line_chart(
            "Latency of successful requests, from their intended start",
            [ch.Series(k, data.x, v) for k, v in data.latency.items()], ylabel="seconds",
            faults=bands, duration=duration,
            hlines=[(objective, f"objective {format_duration(objective)}")])
        out["outcomes"] = ch.stacked_chart(
            "Outcomes over time", data.x, {k: data.outcomes[k] for k in OUTCOMES},
            colors=ch.OUTCOME_COLORS, ylabel="requests / s", faults=bands, duration=duration)
    if data.replicas:
        out["replicas"] = ch.line_chart(
            "Replicas per agent", [ch.Series(k, t, v, step=True)
                                   for k, (t, v) in data.replicas.items()],
            ylabel="replicas", faults=bands, duration=duration)
        out["queues"] = ch.line_chart(
            "Queue depth per agent", [ch.Series(k, t, v) for k, (t, v) in data.queues.items()],
            ylabel="waiting calls", faults=bands, duration=duration)
    if data.breakers:
        out["breakers"] = ch.breaker_chart(data.breakers, faults=bands, duration=duration)
    if data.cost is not None:
        out["cost"] = ch.cost_chart(*data.cost, faults=bands, duration=duration)
    if data.cdf is not None:
        out["cdf"] = ch.cdf_chart({"this run": data.cdf}, objective)
    gen = data.meta.generator
    if gen and gen.get("windows"):
        x = [float(w[0]) for w in gen["windows"]]
        lag = [1000 * float(w[1]) for w in gen["windows"]]
        limit = 1000 * float(gen.get("threshold_s") or 0.05)
        out["generator"] = ch.line_chart(
            "Load generator: p99 send lag per window (after the intended time)",
            [ch.Series("p99 send lag", x, lag, step=True)], ylabel="milliseconds",
            faults=bands, duration=duration, hlines=[(limit, f"limit {limit:.0f} ms")])
    return out


def _demand_chart(data: ReportData) -> str | None:
    try:
        curve = data.scenario.demand.build_curve(data.summary.seed)
    except (InputError, ValueError):
        return None
    t = np.linspace(0, data.scenario.duration, 800)
    series = [ch.Series("rate curve", t.tolist(), np.maximum(curve(t), 0).tolist(),
                        color="#dc2626")]
    if data.traffic:
        series.insert(0, ch.Series("realised arrivals", data.x,
                                   data.traffic["intended arrivals"], step=True,
                                   color="#93c5fd"))
    title = "Demand: the rate curve and the realised arrivals"
    if data.duration < data.scenario.duration:
        title += f" (the records end at {format_duration(data.duration)})"
    return ch.line_chart(title, series, ylabel="requests / s",
                         faults=_bands(data, data.scenario.duration),
                         duration=data.scenario.duration)


def _load(directory: Path, summary: Summary | None) -> tuple[RunData, Scenario, Summary,
                                                               list[str]]:
    notes: list[str] = []
    if summary is None:
        path = RunDir(directory).summary
        if not path.exists():
            raise InputError("no summary.json: score it first (squall report does)",
                             source=str(directory))
        summary = Summary.model_validate_json(path.read_text())
    records_dir = directory
    reps = RunDir(directory).replications()
    if RunDir(directory).aggregate:
        records_dir = reps[0]
        notes.append(f"Charts and tables of calls show replication 0 (seed "
                     f"{summary.seeds[0] if summary.seeds else '?'}) of {len(reps)}; the "
                     "figures and gates cover all of them.")
    run = read_run(records_dir)
    meta = run.meta
    if records_dir != directory and RunDir(directory).run_json.exists():
        meta = read_meta(RunDir(directory).run_json, [])
    scenario = scenario_of(directory, run.scenario_data, meta)
    return run, scenario, summary, notes


def render_report(directory: str | Path, summary: Summary | None = None) -> Path:
    """Write ``report.html`` into a run directory and return its path."""
    directory = Path(directory)
    run, scenario, summary, notes = _load(directory, summary)
    data = collect(run, scenario, summary)
    source = RunDir(directory).source
    html = _env().get_template("report.html.j2").render(
        s=summary, d=data, scenario=scenario, meta=data.meta.to_json(), notes=notes,
        charts=run_charts(data), demand=_demand_chart(data), graph=system_graph(scenario.system),
        missing=sorted(set(data.missing) | set(summary.missing)),
        source=source.read_text(encoding="utf-8") if source.exists() else
        json.dumps(scenario.canonical(), indent=2),
    )
    out = RunDir(directory).report
    out.write_text(html, encoding="utf-8")
    return out


def render_compare(base_dir: Path, cand_dir: Path, comparison: Any, out: Path, *,
                   fidelity: Any = None) -> Path:
    """A report of two runs overlaid on the same axes, with the deltas table (and, for
    ``squall fidelity``, each figure's gap against its tolerance)."""
    base_run, base_scn, base_sum, _ = _load(base_dir, comparison.base)
    cand_run, cand_scn, cand_sum, _ = _load(cand_dir, comparison.candidate)
    base, cand = collect(base_run, base_scn, base_sum), collect(cand_run, cand_scn, cand_sum)
    duration = max(base_scn.duration, cand_scn.duration)
    names = (f"baseline ({base_sum.mode})", f"candidate ({cand_sum.mode})")
    colors = ("#6b7280", "#2563eb")

    def pair(title: str, pick: Any, ylabel: str, **kw: Any) -> str:
        series = []
        for data, name, color in zip((base, cand), names, colors, strict=True):
            x, y = pick(data)
            if len(x):
                series.append(ch.Series(name, x, y, color=color))
        return ch.line_chart(title, series, ylabel=ylabel, duration=duration,
                             faults=_bands(cand), **kw)

    def error_rate(d: ReportData) -> tuple[list[float], list[float | None]]:
        total = np.array([v or 0 for v in d.traffic.get("intended arrivals", [])])
        ok = np.array([v or 0 for v in d.outcomes.get("ok", [])])
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(total > 0, 1 - ok / np.maximum(total, 1e-12), np.nan)
        return d.x, [None if np.isnan(v) else float(v) for v in rate]

    def replicas(d: ReportData) -> tuple[list[float], list[float]]:
        if not d.replicas:
            return [], []
        t = next(iter(d.replicas.values()))[0]
        return t, np.sum([v for _, v in d.replicas.values()], axis=0).tolist()

    charts = {
        "goodput": pair("Goodput", lambda d: (d.x, d.traffic.get("goodput", [])),
                        "requests / s"),
        "latency": pair("p95 latency of successful requests",
                        lambda d: (d.x, d.latency.get("p95", [])), "seconds",
                        hlines=[(cand_scn.sla.objective, "objective")]),
        "errors": pair("Share of requests not ok", error_rate, "fraction"),
        "replicas": pair("Replicas, all agents", replicas, "replicas"),
        "cost": pair("Cumulative cost", lambda d: d.cost or ([], []), "USD"),
    }
    cdfs = {n: d.cdf for n, d in zip(names, (base, cand), strict=True) if d.cdf is not None}
    if cdfs:
        charts["cdf"] = ch.cdf_chart(cdfs, cand_scn.sla.objective)
    html = _env().get_template("compare.html.j2").render(
        c=comparison, base_dir=base_dir, cand_dir=cand_dir, charts=charts, names=names,
        fidelity=fidelity)
    out.write_text(html, encoding="utf-8")
    return out


def render_sweep(out_dir: Path, table: pd.DataFrame, frontier: Sequence[int],
                 best: dict[str, Any] | None, params: Sequence[str]) -> Path:
    """The sweep report: the cost/attainment frontier and the table of every point."""
    rows = table.to_dict("records")
    chart = ch.frontier_chart(
        table["cost.total_usd"].fillna(0).tolist(), table["attainment"].fillna(0).tolist(),
        (table["verdict"] == "pass").tolist(), list(frontier),
        [str(int(p)) for p in table["point"]])
    html = _env().get_template("sweep.html.j2").render(
        rows=rows, params=params, frontier=set(frontier), best=best, chart=chart,
        out_dir=out_dir)
    path = out_dir / "sweep.html"
    path.write_text(html, encoding="utf-8")
    return path
