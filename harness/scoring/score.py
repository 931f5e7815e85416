"""Scoring a run: from records to :class:`~harness.scoring.model.Summary`.

Everything is computed from the run's records and its scenario, so a run directory can
be re-scored at any time, by either engine's records, with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faults.schedule import Activation, FaultSchedule
from harness.metrics import PHASES
from harness.outcomes import RunStatus
from harness.records.meta import RunMeta
from harness.records.reader import RunData
from harness.scenario.model import Scenario
from harness.scoring.cost import Lifetimes, compute_cost, lifetimes, wasted_cost
from harness.scoring.figures import Arrays, Figures, subset_metrics
from harness.scoring.model import (
    CostSummary,
    LatencySummary,
    PhaseSummary,
    RecoverySummary,
    RequestCounts,
    Resilience,
    SlaSummary,
    Summary,
    Verdict,
)
from harness.scoring.phases import fault_span, phase_labels
from harness.scoring.recovery import FaultRecovery, recover_all
from harness.scoring.windows import Windows, window_stats
from harness.units import format_duration

__all__ = ["RESILIENCE_WEIGHTS", "Scored", "score_run"]

#: Weights of the resilience score's components (they sum to 1).
RESILIENCE_WEIGHTS = {
    "attainment": 0.4,  # good requests / arrivals
    "window_adherence": 0.2,  # compliant windows / windows with traffic
    "recovery": 0.2,  # per fault: absorbed 1, recovered 1 − t/300 s, never 0; mean
    "error_budget": 0.1,  # budget left: 1 − (1 − attainment) / (1 − availability), ≥ 0
    "efficiency": 0.1,  # 1 − wasted cost share
}
RECOVERY_REFERENCE_S = 300.0


@dataclass
class Scored:
    """A summary plus what gate evaluation needs beyond it."""

    summary: Summary
    arrays: Arrays
    windows: Windows
    spans: dict[str, tuple[float, float]]  #: scope name → [start, end)
    status: RunStatus = RunStatus.COMPLETE  #: how the run ended (run.json)


def _doubts(meta: RunMeta) -> list[str]:
    """Why a run cannot pass whatever its gates say."""
    doubts = list(meta.doubts)
    gen = meta.generator
    if gen is not None and not gen.get("held", True):
        p99, limit = gen.get("send_lag_p99_s"), gen.get("threshold_s")
        doubts.insert(0, f"the load generator could not hold the schedule: p99 send lag "
                         f"{1000 * (p99 or 0):.0f} ms > {1000 * (limit or 0):.0f} ms")
    return doubts


def _burn(windows: Windows, horizon: float, budget: float, run_end: float) -> float | None:
    """Worst bad-fraction / budget over trailing ``horizon`` seconds."""
    total, bad = windows.total, windows.total - windows.good
    if total.sum() == 0 or budget <= 0:
        return None
    k = max(1, round(min(horizon, run_end) / windows.width))
    ct, cb = np.concatenate([[0], np.cumsum(total)]), np.concatenate([[0], np.cumsum(bad)])
    tot = ct[k:] - ct[:-k]
    worst = np.where(tot > 0, (cb[k:] - cb[:-k]) / np.maximum(tot, 1), 0.0)
    return float(worst.max() / budget)


def _recovery_component(recs: Sequence[FaultRecovery]) -> float:
    if not recs:
        return 1.0
    parts = []
    for r in recs:
        if r.absorbed:
            parts.append(1.0)
        elif r.recovery_time_s is None:
            parts.append(0.0)
        else:
            parts.append(max(0.0, 1 - r.recovery_time_s / RECOVERY_REFERENCE_S))
    return float(np.mean(parts))


def _resilience(m: Figures, recs: Sequence[FaultRecovery], budget: float) -> Resilience:
    attainment = m.get("attainment") or 0.0
    components: dict[str, float | None] = {
        "attainment": attainment,
        "window_adherence": m.get("window_adherence") or 0.0,
        "recovery": _recovery_component(recs),
        "error_budget": max(0.0, 1 - (1 - attainment) / budget) if budget > 0 else
        float(attainment >= 1.0),
        "efficiency": 1 - (m.get("cost.wasted_share") or 0.0),
    }
    score = 100 * sum(RESILIENCE_WEIGHTS[k] * (v or 0.0) for k, v in components.items())
    return Resilience(score=round(score, 2), weights=RESILIENCE_WEIGHTS, components=components)


def _max(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return max((v for v in values if v is not None), default=0.0)


def _recovery_figures(recs: Sequence[FaultRecovery]) -> Figures:
    hurt = [r for r in recs if not r.absorbed]
    done = [r.recovery_time_s for r in hurt if r.recovery_time_s is not None]
    return {
        "recovery.max": _max([r.recovery_time_s for r in recs]) if recs else 0.0,
        "recovery.mean": float(np.mean(done)) if done else (0.0 if not hurt else None),
        "time_to_detect.max": max(
            (r.time_to_detect_s for r in hurt if r.time_to_detect_s is not None), default=None),
        "recovery_after_end.max": _max([r.recovery_after_end_s for r in recs]) if recs else 0.0,
    }


def _cost_figures(run: RunData, scenario: Scenario, life: Lifetimes, *, llm: float,
                  good: int, since: float = 0.0) -> tuple[Figures, bool]:
    compute = compute_cost(life, scenario.cost.cold_start_usd, since)
    requests = run.requests
    if since > 0:
        requests = requests[requests["intended_s"] >= since]
    wasted, exact = wasted_cost(requests,
                                run.load_spans(["request_id", "error_kind", "cost_usd"]))
    total = llm + compute
    return {
        "cost.compute_usd": compute, "cost.total_usd": total, "cost.wasted_usd": wasted,
        "cost.per_good_request_usd": total / good if good else None,
        "cost.wasted_share": wasted / total if total > 0 else 0.0,
    }, exact


def _phases(a: Arrays, windows: Windows, scenario: Scenario, *, acts: Sequence[Activation],
            recs: Sequence[FaultRecovery], life: Lifetimes
            ) -> tuple[list[PhaseSummary], dict[str, tuple[float, float]]]:
    """Figures per phase (window by window) and per fault scope."""
    duration, width = scenario.duration, scenario.sla.window
    cold_usd = scenario.cost.cold_start_usd
    labels = phase_labels(windows, acts, recs, duration)
    req_window = np.clip((a.intended // width).astype(np.int64), 0, len(labels) - 1)
    phases, spans = [], {}
    for name in PHASES:
        in_phase = labels == name
        if not in_phase.any():
            continue
        starts = windows.starts[in_phase]
        ends = np.minimum(starts + width, duration)
        figures = subset_metrics(a, in_phase[req_window], float((ends - starts).sum()))
        figures["cost.compute_usd"] = sum(
            compute_cost(life, cold_usd, lo, hi) for lo, hi in zip(starts, ends, strict=True))
        traffic = windows.nonempty[in_phase]
        figures["window_adherence"] = float(
            (windows.compliant[in_phase] & traffic).sum() / traffic.sum()) if traffic.any() \
            else None
        lo, hi = float(starts[0]), float(ends[-1])
        phases.append(PhaseSummary(name=name, start_s=lo, end_s=hi,
                                   seconds=float((ends - starts).sum()), metrics=figures))
        spans[name] = (lo, hi)
    for act, rec in zip(acts, recs, strict=True):
        lo, hi = fault_span(act, rec, width, duration)
        figures = subset_metrics(a, (a.intended >= lo) & (a.intended < hi), max(hi - lo, 0.0))
        figures["cost.compute_usd"] = compute_cost(life, cold_usd, lo, hi)
        phases.append(PhaseSummary(name=act.id, scope="fault", start_s=lo, end_s=hi,
                                   seconds=hi - lo, metrics=figures))
        spans[act.id] = (lo, hi)
    return phases, spans


def _scored_horizon(run: RunData, scenario: Scenario) -> tuple[Scenario, list[str]]:
    """A run that did not finish is scored up to where its records end, not over the
    scenario's whole duration (its throughput and windows would count time it never
    reached). Requests are recorded as they end, so every request that ended by then
    is there; those still in flight are not."""
    requests = run.requests
    if run.meta.finished or not len(requests):
        return scenario, []
    reached = float(requests["end_s"].max())
    if not math.isfinite(reached) or reached >= scenario.duration:
        return scenario, []
    horizon = max(reached, scenario.sla.window)
    note = (f"scored up to {format_duration(horizon)}, where the records end, not the "
            f"scenario's {format_duration(scenario.duration)}; requests still in flight "
            "then are not counted")
    return scenario.model_copy(update={"duration": horizon}), [note]


def _clean(figures: Figures) -> Figures:
    """NaN becomes null; keys sorted."""
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
            for k, v in sorted(figures.items())}


def score_run(run: RunData, scenario: Scenario, *, mode: str | None = None,
              seed: int | None = None, warmup: float = 0.0) -> Scored:
    """Score ``run`` against ``scenario``'s SLA. Requests that arrived before ``warmup``
    seconds are left out (the system starting empty is not its steady state). Gates
    are judged separately (:func:`harness.judging.evaluate.judge`); the verdict here
    reflects only how the run ended."""
    requests = run.requests
    scenario, cut = _scored_horizon(run, scenario)
    sla, duration = scenario.sla, scenario.duration
    if warmup > 0:
        requests = requests[requests["intended_s"] >= warmup].reset_index(drop=True)
    a = Arrays.from_frame(requests, sla.objective)
    windows = window_stats(a.intended, a.latency, a.ok, a.good, duration=duration,
                           width=sla.window, percentile=sla.percentile,
                           objective=sla.objective, budget=sla.error_budget)
    metrics = subset_metrics(a, np.ones(len(a), dtype=bool), duration - warmup)
    nonempty = int(windows.nonempty.sum())
    compliant = int((windows.compliant & windows.nonempty).sum())
    metrics["window_adherence"] = compliant / nonempty if nonempty else None

    acts = [act for act in FaultSchedule(scenario.fault_list) if act.start < duration]
    recs = recover_all(acts, windows, sla.stability, duration, finished=run.meta.finished)
    metrics.update(_recovery_figures(recs))
    life = lifetimes(run.events, duration)
    cost, exact = _cost_figures(run, scenario, life, llm=metrics["cost.llm_usd"] or 0.0,
                                good=int(a.good.sum()), since=warmup)
    metrics.update(cost)
    short, long = sla.burn_windows
    metrics["burn_rate.short"] = _burn(windows, short, sla.error_budget, duration)
    metrics["burn_rate.long"] = _burn(windows, long, sla.error_budget, duration)
    resilience = _resilience(metrics, recs, sla.error_budget)
    metrics["resilience_score"] = resilience.score
    metrics = _clean(metrics)

    phases, spans = _phases(a, windows, scenario, acts=acts, recs=recs, life=life)
    missing = [*run.missing, *cut]
    if not exact:
        missing.append("spans are missing: wasted cost counts failed requests only")
    summary = Summary(
        scenario=scenario.name,
        mode=mode or run.meta.mode,
        seed=scenario.seed if seed is None else seed,
        duration_s=duration,
        requests=RequestCounts(**{k.split(".")[1]: int(v or 0) for k, v in metrics.items()
                                  if k.startswith("requests.")}),
        latency_s=LatencySummary(**{k.split(".")[1]: v for k, v in metrics.items()
                                    if k.startswith("latency.")}),
        sla=SlaSummary(objective_s=sla.objective, attainment=metrics["attainment"],
                       window_adherence=metrics["window_adherence"],
                       availability=sla.availability, percentile=sla.percentile,
                       window_s=sla.window, windows=nonempty, compliant_windows=compliant),
        goodput_rps=metrics["goodput_rps"],
        throughput_rps=metrics["throughput_rps"],
        recovery=[RecoverySummary(**{k: (list(v) if k == "confounded_by" else v)
                                     for k, v in vars(r).items() if k != "recovered_at_s"})
                  for r in recs],
        cost=CostSummary(total_usd=metrics["cost.total_usd"], llm_usd=metrics["cost.llm_usd"],
                         compute_usd=metrics["cost.compute_usd"],
                         per_good_request_usd=metrics["cost.per_good_request_usd"],
                         wasted_usd=metrics["cost.wasted_usd"],
                         wasted_share=metrics["cost.wasted_share"],
                         cold_starts=life.cold_starts()),
        resilience_score=resilience.score,
        resilience=resilience,
        burn_rate={"short": metrics["burn_rate.short"], "long": metrics["burn_rate.long"],
                   "short_window_s": short, "long_window_s": long},
        metrics=metrics,
        phases=phases,
        workflows={name: _clean(subset_metrics(a, a.workflow == i, duration - warmup))
                   for i, name in enumerate(a.workflows)},
        missing=missing,
        warmup_s=warmup,
        doubts=_doubts(run.meta),
        stopped_by=run.meta.stopped_by,
        generator=run.meta.generator,
    )
    summary.verdict = Verdict.ABORTED if run.meta.status is RunStatus.ABORTED else Verdict.PASS
    return Scored(summary, a, windows, spans, run.meta.status)
