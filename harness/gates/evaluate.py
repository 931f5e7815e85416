"""Evaluating gates against a scored run, and the verdict they add up to.

With replications a figure has a 95% interval: a gate passes only if the whole interval
satisfies it, fails if none of it does, and is otherwise **inconclusive** (exit 3) — a
gate is never passed on a lucky point estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.gates.spec import Gate, Op, Scope
from harness.metrics import format_value
from harness.scoring.figures import OUTCOMES
from harness.scoring.model import GateResult, GateStatus, Summary, Verdict
from harness.scoring.windows import group_quantile

if TYPE_CHECKING:
    from harness.scoring.score import Scored

__all__ = ["evaluate_gate", "judge", "judge_replications", "scope_metrics", "verdict_of"]

Figure = float | None
WindowValues = Callable[[str], np.ndarray]

_WORST_IS_MAX = {Op.LT, Op.LE, Op.EQ, Op.NE}


def scope_metrics(summary: Summary, gate: Gate) -> dict[str, Figure] | None:
    """The figures a gate's scope refers to, or None if the run has no such scope."""
    if gate.scope is Scope.RUN:
        return summary.metrics
    if gate.scope is Scope.WORKFLOW:
        return summary.workflows.get(gate.scope_name or "")
    for phase in summary.phases:
        if phase.name == gate.scope_name:
            return phase.metrics
    return None


def window_values(scored: Scored) -> WindowValues:
    """Per-window values of a window metric, for the non-empty windows of one run."""
    a, w = scored.arrays, scored.windows

    def values(metric: str) -> np.ndarray:
        n = len(w.starts)
        idx = np.clip((a.intended // w.width).astype(np.int64), 0, n - 1)
        total = np.maximum(w.total, 1)
        if metric.startswith("latency."):
            q = metric.split(".", 1)[1]
            ok_idx, lat = idx[a.ok], a.latency[a.ok]
            if q == "max":
                out = np.full(n, np.nan)
                np.fmax.at(out, ok_idx, lat)
            elif q == "mean":
                sums = np.bincount(ok_idx, weights=lat, minlength=n)
                with np.errstate(invalid="ignore"):
                    out = sums / np.where(w.ok > 0, w.ok, np.nan)
            else:
                pct = {"p50": 50, "p90": 90, "p95": 95, "p99": 99}[q]
                out = group_quantile(ok_idx, lat, pct / 100, n)
        elif metric == "error_rate":
            out = 1 - w.ok / total
        elif metric == "success_rate":
            out = w.ok / total
        elif metric == "attainment":
            out = w.good / total
        elif metric == "goodput_rps":
            out = w.good / w.width
        elif metric == "offered_rps":
            out = w.total / w.width
        else:  # throughput_rps
            dropped = np.bincount(idx[a.outcome == OUTCOMES.index("dropped")], minlength=n)
            out = (w.total - dropped) / w.width
        return np.asarray(out[w.nonempty], dtype=float)

    return values


def _status(gate: Gate, value: float, threshold: float,
            interval: tuple[float, float] | None) -> tuple[GateStatus, str]:
    if interval is None:
        passed = gate.op.holds(value, threshold)
        return (GateStatus.PASS if passed else GateStatus.FAIL), ""
    lo, hi = interval
    ends = [gate.op.holds(lo, threshold), gate.op.holds(hi, threshold)]
    shown = f"[{format_value(gate.metric, lo)}, {format_value(gate.metric, hi)}]"
    if all(ends):
        return GateStatus.PASS, f"95% interval {shown}"
    if not any(ends):
        return GateStatus.FAIL, f"95% interval {shown}"
    return GateStatus.INCONCLUSIVE, f"95% interval {shown} straddles the threshold"


def _result(gate: Gate, value: Figure, threshold: Figure, reason: str = "",
            interval: tuple[float, float] | None = None) -> GateResult:
    base = {"name": gate.text, "metric": gate.metric, "value": value, "threshold": threshold,
            "interval": interval}
    if threshold is None:
        return GateResult(**base, passed=None, status=GateStatus.SKIPPED,
                          reason=reason or "needs a baseline run: use squall compare")
    if value is None:
        return GateResult(**base, passed=False, status=GateStatus.FAIL,
                          reason=reason or "no value (see the summary)")
    status, why = _status(gate, value, threshold, interval)
    passed = None if status is GateStatus.INCONCLUSIVE else status is GateStatus.PASS
    return GateResult(**base, passed=passed, status=status,
                      reason="; ".join(r for r in (reason, why) if r))


def _per_window(gate: Gate, values: np.ndarray, threshold: float) -> GateResult:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return _result(gate, None, threshold, "no window has a value")
    holds = np.array([gate.op.holds(float(v), threshold) for v in values])
    worst = float(values.max() if gate.op in _WORST_IS_MAX else values.min())
    failing = int((~holds).sum())
    passed = failing == 0
    reason = f"{failing} of {values.size} windows fail" if failing else \
        f"all {values.size} windows pass"
    return GateResult(name=gate.text, metric=gate.metric, value=worst, threshold=threshold,
                      passed=passed, status=GateStatus.PASS if passed else GateStatus.FAIL,
                      reason=reason)


def evaluate_gate(gate: Gate, summary: Summary, *, windows: WindowValues | None = None,
                  baseline: Summary | None = None) -> GateResult:
    """One gate on a run's summary (``windows`` gives per-window values for
    ``every window`` gates; ``baseline`` anchors relative gates)."""
    base_value = None
    if gate.relative and baseline is not None:
        base_scope = scope_metrics(baseline, gate)
        base_value = None if base_scope is None else base_scope.get(gate.metric)
        if base_value is None:
            return GateResult(name=gate.text, metric=gate.metric, passed=False,
                              status=GateStatus.FAIL,
                              reason="the baseline run has no value for this metric")
    threshold = gate.threshold_for(base_value)
    if gate.scope is Scope.WINDOW:
        if threshold is None:
            return _result(gate, None, None)
        if windows is None:
            raise ValueError("an 'every window' gate needs the run's windows")
        return _per_window(gate, windows(gate.metric), threshold)
    figures = scope_metrics(summary, gate)
    if figures is None:
        return GateResult(name=gate.text, metric=gate.metric, passed=False,
                          status=GateStatus.FAIL, threshold=threshold,
                          reason=f"the run has no {gate.scope.value} {gate.scope_name!r}")
    interval = summary.intervals.get(gate.metric) if gate.scope is Scope.RUN else None
    return _result(gate, figures.get(gate.metric), threshold, interval=interval)


def judge(scored: Scored, gates: Sequence[Gate], baseline: Summary | None = None) -> Summary:
    """Evaluate ``gates`` on one scored run; set the summary's gates and verdict."""
    summary = scored.summary
    values = window_values(scored)
    summary.gates = [evaluate_gate(g, summary, windows=values, baseline=baseline)
                     for g in gates]
    summary.verdict = verdict_of(summary.gates, scored.status)
    return summary


def judge_replications(summary: Summary, per_run: Sequence[Sequence[GateResult]],
                       gates: Sequence[Gate], baseline: Summary | None = None) -> Summary:
    """Evaluate ``gates`` on an aggregate of replications. ``every window`` gates hold
    only if they held in every replication (``per_run``: each replication's results)."""
    results = []
    for i, gate in enumerate(gates):
        if gate.scope is Scope.WINDOW:
            runs = [r[i] for r in per_run]
            failed = sum(r.status is GateStatus.FAIL for r in runs)
            values = [r.value for r in runs if r.value is not None]
            worst = (max(values) if gate.op in _WORST_IS_MAX else min(values)) if values \
                else None
            status = GateStatus.FAIL if failed else GateStatus.PASS
            results.append(GateResult(
                name=gate.text, metric=gate.metric, value=worst, threshold=runs[0].threshold,
                passed=not failed, status=status,
                reason=f"failed in {failed} of {len(runs)} replications" if failed
                else f"held in all {len(runs)} replications"))
        else:
            results.append(evaluate_gate(gate, summary, baseline=baseline))
    summary.gates = results
    summary.verdict = verdict_of(results)
    return summary


def verdict_of(results: Sequence[GateResult], status: object = "complete") -> Verdict:
    """aborted > fail > inconclusive > pass."""
    if status == "aborted":
        return Verdict.ABORTED
    statuses = {r.status for r in results}
    if GateStatus.FAIL in statuses:
        return Verdict.FAIL
    if GateStatus.INCONCLUSIVE in statuses or status == "inconclusive":
        return Verdict.INCONCLUSIVE
    return Verdict.PASS
