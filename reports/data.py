"""What a report shows, computed from a run directory alone.

Time series are aggregated into at most ``MAX_BINS`` display bins (never narrower than
an SLA window), and tables are capped, so a report's size does not grow with the
number of requests.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from faults.schedule import FaultSchedule
from harness.outcomes import OUTCOMES
from harness.records.meta import RunMeta
from harness.records.reader import RunData
from harness.scenario.model import Scenario
from harness.scoring.figures import Arrays
from harness.scoring.model import Summary
from harness.scoring.windows import group_quantile

__all__ = ["MAX_BINS", "ReportData", "collect"]

MAX_BINS = 600
TOP_ERRORS = 12

Series = list[float | None]


@dataclass
class ReportData:
    summary: Summary
    scenario: Scenario
    meta: RunMeta
    missing: list[str]
    duration: float  #: the span the records cover: the scenario's, or less for a partial run
    width: float  #: display bin width, seconds
    x: list[float]  #: bin starts
    traffic: dict[str, Series] = field(default_factory=dict)
    latency: dict[str, Series] = field(default_factory=dict)
    outcomes: dict[str, Series] = field(default_factory=dict)
    replicas: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    queues: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    breakers: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)
    cost: tuple[list[float], list[float]] | None = None  #: times, cumulative USD
    cdf: tuple[list[float], list[float]] | None = None  #: latency, fraction at or below
    errors: list[dict[str, Any]] = field(default_factory=list)
    agents: list[dict[str, Any]] = field(default_factory=list)
    servers: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)


def display_width(duration: float, window: float) -> float:
    return max(window, duration / MAX_BINS)


def _bins(n: int, width: float, t: np.ndarray) -> np.ndarray:
    return np.clip((t // width).astype(np.int64), 0, n - 1)


def _series(values: np.ndarray) -> Series:
    return [None if not math.isfinite(v) else float(v) for v in values]


def _requests(data: ReportData, req: pd.DataFrame) -> None:
    n, width = len(data.x), data.width
    a = Arrays.from_frame(req, data.scenario.sla.objective)  # the one "good request"
    idx = _bins(n, width, a.intended)
    ok, lat = a.ok, a.latency
    dropped = a.outcome == OUTCOMES.index("dropped")
    data.traffic = {
        "intended arrivals": _series(np.bincount(idx, minlength=n) / width),
        "throughput": _series(np.bincount(idx[~dropped], minlength=n) / width),
        "goodput": _series(np.bincount(idx[a.good], minlength=n) / width),
    }
    for q in (50, 95, 99):
        data.latency[f"p{q}"] = _series(group_quantile(idx[ok], lat[ok], q / 100, n))
    data.outcomes = {o: _series(np.bincount(idx[a.outcome == i], minlength=n) / width)
                     for i, o in enumerate(OUTCOMES)}
    if ok.any():
        probs = np.linspace(0, 1, 400)
        data.cdf = (np.quantile(lat[ok], probs).tolist(), probs.tolist())


def _timeseries(data: ReportData, ts: pd.DataFrame, limit: int = 10) -> None:
    agents = ts[ts["kind"].astype(str) == "agent"]
    for name, rows in list(agents.groupby("component", observed=True))[:limit]:
        t = rows["t_s"].to_numpy()
        data.replicas[str(name)] = (t.tolist(), rows["replicas"].astype(float).tolist())
        data.queues[str(name)] = (t.tolist(), rows["queue"].astype(float).tolist())
    system = ts[ts["kind"].astype(str) == "system"]
    if len(system):
        data.cost = (system["t_s"].tolist(), system["cost_usd"].astype(float).tolist())


def _events(data: ReportData, events: list[dict[str, Any]], end: float) -> None:
    open_since: dict[str, tuple[float, str]] = {}
    spans: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for ev in events:
        if ev.get("type") == "breaker":
            name = str(ev.get("component"))
            if name in open_since:
                start, state = open_since.pop(name)
                if state != "closed":
                    spans[name].append((start, float(ev["t_s"]), state))
            open_since[name] = (float(ev["t_s"]), str(ev.get("to")))
        elif ev.get("type") == "scale":
            data.scaling.append({"t_s": ev["t_s"], "agent": ev.get("agent"),
                                 "from": ev.get("from"), "to": ev.get("to")})
    for name, (start, state) in open_since.items():
        if state != "closed":
            spans[name].append((start, end, state))
    data.breakers = dict(spans)
    data.scaling = data.scaling[-50:]


def _percentile(values: pd.Series, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def _spans(data: ReportData, spans: pd.DataFrame) -> None:
    spans = spans.assign(duration=spans["end_s"] - spans["start_s"],
                         failed=spans["error_kind"].notna())
    for kind, target in (("agent", data.agents), ("llm", data.servers), ("tool", data.servers)):
        rows = spans[spans["kind"].astype(str) == kind]
        for name, g in rows.groupby("component", observed=True):
            ok = g[~g["failed"]]
            target.append({
                "kind": kind, "name": str(name), "calls": len(g),
                "retries": int((g["attempt"] > 1).sum()),
                "error_rate": float(g["failed"].mean()),
                "p50": _percentile(ok["duration"], 50), "p95": _percentile(ok["duration"], 95),
                "queue": float(g["queue_s"].mean()), "fallbacks": int(g["fallback"].sum()),
                "tokens": int(g["tokens_in"].sum() + g["tokens_out"].sum()),
                "cost": float(g["cost_usd"].sum()),
            })
    # Cost per agent: the LLM and tool calls each agent made.
    if "caller" in spans:
        by_caller = spans[spans["kind"].astype(str) != "agent"].groupby(
            "caller", observed=True)["cost_usd"].sum()
        for row in data.agents:
            row["cost"] = float(by_caller.get(row["name"], 0.0))
    failed = spans[spans["failed"]]
    counts = failed.groupby(["kind", "component", "error_kind"], observed=True).size()
    total = max(len(failed), 1)
    for key, count in counts.sort_values(ascending=False).head(TOP_ERRORS).items():
        kind, name, what = cast(tuple[str, str, str], key)
        data.errors.append({"kind": kind, "component": name, "error": what,
                            "count": int(count), "share": count / total})


def collect(run: RunData, scenario: Scenario, summary: Summary) -> ReportData:
    """The report's data for ``run``."""
    duration = min(scenario.duration, summary.duration_s or scenario.duration)
    width = display_width(duration, scenario.sla.window)
    n = max(1, math.ceil(duration / width - 1e-9))
    data = ReportData(summary, scenario, run.meta, list(run.missing), duration, width,
                      (np.arange(n) * width).tolist())
    req = run.requests
    if summary.warmup_s:
        req = req[req["intended_s"] >= summary.warmup_s]
    if len(req):
        _requests(data, req)
    if run.timeseries is not None and len(run.timeseries):
        _timeseries(data, run.timeseries)
    end = duration + run.meta.drain_s
    _events(data, run.events, max(end, duration))
    spans = run.load_spans(["request_id", "kind", "component", "caller", "attempt", "start_s",
                            "end_s", "queue_s", "error_kind", "fallback", "tokens_in",
                            "tokens_out", "cost_usd"])
    if spans is not None and len(spans):
        _spans(data, spans)
    for act in FaultSchedule(scenario.fault_list):
        data.faults.append({"id": act.id, "kind": act.kind, "target": str(act.target),
                            "start": act.start, "end": act.end, "instant": act.instant})
    return data
