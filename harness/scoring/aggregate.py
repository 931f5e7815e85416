"""Combining replications of one scenario into estimates with 95% intervals.

Point estimates: proportions pool the replications' counts; every other figure is the
mean of the per-replication values (``None`` if any replication has none: a fault that
never recovered in one run did not recover). Intervals: see :mod:`harness.scoring.stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.scoring.model import (
    CostSummary,
    LatencySummary,
    PhaseSummary,
    RecoverySummary,
    RequestCounts,
    Summary,
)
from harness.scoring.stats import Interval, bootstrap_mean, pooled_proportion

__all__ = ["PROPORTIONS", "aggregate"]

Figure = float | None

#: Proportions and how to count them in one replication's summary: (successes, trials).
PROPORTIONS: dict[str, Callable[[Summary], tuple[float, float]]] = {
    "attainment": lambda s: ((s.sla.attainment or 0.0) * s.requests.total, s.requests.total),
    "success_rate": lambda s: (s.requests.ok, s.requests.total),
    "error_rate": lambda s: (s.requests.total - s.requests.ok, s.requests.total),
    "window_adherence": lambda s: (s.sla.compliant_windows, s.sla.windows),
    "fallback_rate": lambda s: ((s.metrics.get("fallback_rate") or 0.0) * s.requests.total,
                                s.requests.total),
}


def _mean(values: Sequence[Figure]) -> Figure:
    if not values or any(v is None for v in values):
        return None
    return float(np.mean([v for v in values if v is not None]))


def _estimate(name: str, reps: Sequence[Summary], rng: np.random.Generator
              ) -> tuple[Figure, Interval | None]:
    if name in PROPORTIONS:
        counts = [PROPORTIONS[name](s) for s in reps]
        k = [c[0] for c in counts]
        n = [c[1] for c in counts]
        if sum(n) <= 0:
            return None, None
        return sum(k) / sum(n), pooled_proportion(k, n)
    values = [s.metrics.get(name) for s in reps]
    point = _mean(values)
    if point is None:
        return None, None
    return point, bootstrap_mean([v for v in values if v is not None], rng)


def _recovery(reps: Sequence[Summary]) -> list[RecoverySummary]:
    out = []
    for i, first in enumerate(reps[0].recovery):
        same = [s.recovery[i] for s in reps if len(s.recovery) > i]
        out.append(RecoverySummary(
            fault=first.fault, kind=first.kind, target=first.target, start_s=first.start_s,
            end_s=first.end_s, absorbed=all(r.absorbed for r in same),
            time_to_detect_s=_mean([r.time_to_detect_s for r in same
                                    if r.time_to_detect_s is not None]),
            recovery_time_s=_mean([r.recovery_time_s for r in same]),
            recovery_after_end_s=_mean([r.recovery_after_end_s for r in same]),
        ))
    return out


def _figure_means(tables: Sequence[dict[str, Figure]]) -> dict[str, Figure]:
    keys = sorted({k for t in tables for k in t})
    return {k: _mean([t.get(k) for t in tables]) for k in keys}


def aggregate(reps: Sequence[Summary], seed: int = 0) -> Summary:
    """One summary for ``reps`` (replications of one scenario), with intervals."""
    if not reps:
        raise ValueError("nothing to aggregate")
    rng = np.random.default_rng(seed)
    first = reps[0]
    names = sorted({k for s in reps for k in s.metrics})
    metrics: dict[str, Figure] = {}
    intervals: dict[str, Interval | None] = {}
    for name in names:
        metrics[name], intervals[name] = _estimate(name, reps, rng)
    counts = RequestCounts(**{
        k: sum(getattr(s.requests, k) for s in reps)
        for k in ("total", "ok", "error", "timeout", "rejected", "dropped")})
    phases = []
    for phase in first.phases:
        same = [p for s in reps for p in s.phases if p.name == phase.name]
        phases.append(PhaseSummary(
            name=phase.name, scope=phase.scope, start_s=phase.start_s, end_s=phase.end_s,
            seconds=float(np.mean([p.seconds for p in same])),
            metrics=_figure_means([p.metrics for p in same])))
    workflows = {
        name: _figure_means([s.workflows[name] for s in reps if name in s.workflows])
        for name in first.workflows
    }
    return Summary(
        scenario=first.scenario, mode=first.mode, seed=first.seed,
        duration_s=first.duration_s, requests=counts,
        latency_s=LatencySummary(**{q: metrics.get(f"latency.{q}") for q in
                                    ("p50", "p90", "p95", "p99", "p999", "max", "mean")}),
        sla=first.sla.model_copy(update={
            "attainment": metrics.get("attainment"),
            "window_adherence": metrics.get("window_adherence"),
            "windows": sum(s.sla.windows for s in reps),
            "compliant_windows": sum(s.sla.compliant_windows for s in reps)}),
        goodput_rps=metrics.get("goodput_rps"), throughput_rps=metrics.get("throughput_rps"),
        recovery=_recovery(reps),
        cost=CostSummary(
            total_usd=metrics.get("cost.total_usd"), llm_usd=metrics.get("cost.llm_usd"),
            compute_usd=metrics.get("cost.compute_usd"),
            per_good_request_usd=metrics.get("cost.per_good_request_usd"),
            wasted_usd=metrics.get("cost.wasted_usd"),
            wasted_share=metrics.get("cost.wasted_share"),
            cold_starts=round(float(np.mean([s.cost.cold_starts for s in reps])))),
        resilience_score=metrics.get("resilience_score"),
        resilience=first.resilience.model_copy(update={"score": metrics.get(
            "resilience_score")}),
        burn_rate={"short": metrics.get("burn_rate.short"),
                   "long": metrics.get("burn_rate.long"),
                   "short_window_s": first.burn_rate.get("short_window_s"),
                   "long_window_s": first.burn_rate.get("long_window_s")},
        metrics=metrics, phases=phases, workflows=workflows,
        missing=sorted({m for s in reps for m in s.missing}),
        warmup_s=first.warmup_s, replications=len(reps), seeds=[s.seed for s in reps],
        intervals=intervals,
        samples={name: [s.metrics.get(name) for s in reps] for name in names},
    )
