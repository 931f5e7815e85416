"""Combining replications of one scenario into estimates with 95% intervals.

Point estimates: proportions pool the replications' counts; every other figure is the
mean of the per-replication values (``None`` if any replication has none: a fault that
never recovered in one run did not recover). Intervals: see :mod:`harness.scoring.stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.outcomes import OUTCOMES
from harness.scoring.model import (
    CostSummary,
    LatencySummary,
    RecoverySummary,
    RequestCounts,
    Resilience,
    Summary,
)
from harness.scoring.stats import Interval, bootstrap_mean, pooled_proportion

__all__ = ["PROPORTIONS", "aggregate"]

Figure = float | None
Figures = dict[str, Figure]

#: Proportions and how to count them in one replication's figures: (successes, trials).
#: The same for a run, a workflow or a phase, since each carries ``requests.total``.
def _counts(name: str) -> Callable[[Figures], tuple[float, float]]:
    def counts(f: Figures) -> tuple[float, float]:
        total = f.get("requests.total") or 0.0
        return (f.get(name) or 0.0) * total, total

    return counts


PROPORTIONS: dict[str, Callable[[Figures], tuple[float, float]]] = {
    name: _counts(name) for name in ("attainment", "success_rate", "error_rate", "fallback_rate")
}


def _mean(values: Sequence[Figure]) -> Figure:
    if not values or any(v is None for v in values):
        return None
    return float(np.mean([v for v in values if v is not None]))


def _estimate(name: str, tables: Sequence[Figures], rng: np.random.Generator
              ) -> tuple[Figure, Interval | None]:
    """One figure over replications (``tables``: each one's figures of one scope)."""
    if name in PROPORTIONS:
        counts = [PROPORTIONS[name](t) for t in tables]
        k = [c[0] for c in counts]
        n = [c[1] for c in counts]
        if sum(n) <= 0:
            return None, None
        return sum(k) / sum(n), pooled_proportion(k, n)
    values = [t.get(name) for t in tables]
    point = _mean(values)
    if point is None:
        return None, None
    return point, bootstrap_mean([v for v in values if v is not None], rng)


def _estimates(tables: Sequence[Figures], rng: np.random.Generator
               ) -> tuple[Figures, dict[str, Interval | None]]:
    """Every figure of one scope over replications, with its interval."""
    names = sorted({k for t in tables for k in t})
    figures: Figures = {}
    intervals: dict[str, Interval | None] = {}
    for name in names:
        figures[name], intervals[name] = _estimate(name, tables, rng)
    return figures, intervals


def _recovery(reps: Sequence[Summary]) -> list[RecoverySummary]:
    out = []
    for i, first in enumerate(reps[0].recovery):
        same = [s.recovery[i] for s in reps if len(s.recovery) > i]
        out.append(first.model_copy(update={
            "absorbed": all(r.absorbed for r in same),
            "confounded_by": sorted({f for r in same for f in r.confounded_by}),
            "time_to_detect_s": _mean([r.time_to_detect_s for r in same
                                    if r.time_to_detect_s is not None]),
            "recovery_time_s": _mean([r.recovery_time_s for r in same]),
            "recovery_after_end_s": _mean([r.recovery_after_end_s for r in same]),
        }))
    return out


def _resilience(reps: Sequence[Summary], score: Figure) -> Resilience:
    """The score is linear in its components, so the mean score is the score of the mean
    components: show those, so the formula beside the score evaluates to it."""
    names = list(reps[0].resilience.components)
    components = {k: _mean([s.resilience.components.get(k) for s in reps]) for k in names}
    return reps[0].resilience.model_copy(update={"score": score, "components": components})


def aggregate(reps: Sequence[Summary], seed: int = 0) -> Summary:
    """One summary for ``reps`` (replications of one scenario), with intervals."""
    if not reps:
        raise ValueError("nothing to aggregate")
    rng = np.random.default_rng(seed)
    first = reps[0]
    run_figures = []
    for s in reps:
        figures = dict(s.metrics)
        figures["requests.total"] = s.requests.total
        run_figures.append(figures)
    metrics, intervals = _estimates(run_figures, rng)
    # Windows are the trials of window adherence: pool them like requests.
    windows = [(s.sla.compliant_windows, s.sla.windows) for s in reps]
    if sum(n for _, n in windows) > 0:
        k, n = zip(*windows, strict=True)
        metrics["window_adherence"] = sum(k) / sum(n)
        intervals["window_adherence"] = pooled_proportion(k, n)
    counts = RequestCounts(**{
        k: sum(getattr(s.requests, k) for s in reps)
        for k in ("total", *OUTCOMES)})
    phases = []
    for phase in first.phases:
        same = [p for s in reps for p in s.phases if p.name == phase.name]
        figures, scoped = _estimates([p.metrics for p in same], rng)
        phases.append(phase.model_copy(update={
            "seconds": float(np.mean([p.seconds for p in same])), "metrics": figures,
            "intervals": scoped}))
    workflows, workflow_intervals = {}, {}
    for name in first.workflows:
        workflows[name], workflow_intervals[name] = _estimates(
            [s.workflows[name] for s in reps if name in s.workflows], rng)
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
        resilience=_resilience(reps, metrics.get("resilience_score")),
        burn_rate={"short": metrics.get("burn_rate.short"),
                   "long": metrics.get("burn_rate.long"),
                   "short_window_s": first.burn_rate.get("short_window_s"),
                   "long_window_s": first.burn_rate.get("long_window_s")},
        metrics=metrics, phases=phases, workflows=workflows,
        workflow_intervals=workflow_intervals,
        missing=sorted({m for s in reps for m in s.missing}),
        warmup_s=first.warmup_s, replications=len(reps), seeds=[s.seed for s in reps],
        intervals=intervals,
        samples={name: [s.metrics.get(name) for s in reps] for name in sorted(metrics)},
    )
