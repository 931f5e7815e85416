"""Evaluating gates against a scored run, and the verdict they add up to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.gates.spec import Gate, Op, Scope
from harness.scoring.figures import OUTCOMES
from harness.scoring.model import GateResult, GateStatus, Summary, Verdict
from harness.scoring.windows import group_quantile

if TYPE_CHECKING:
    from harness.scenario.model import Sla
    from harness.scoring.score import Scored

__all__ = ["evaluate_gate", "evaluate_gates", "judge", "scope_metrics", "verdict_of"]

Figure = float | None


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


_WORST_IS_MAX = {Op.LT, Op.LE, Op.EQ, Op.NE}


def _window_values(scored: Scored, metric: str, sla: Sla) -> np.ndarray:
    """The metric per non-empty window."""
    a, w = scored.arrays, scored.windows
    n = len(w.starts)
    idx = np.clip((a.intended // w.width).astype(np.int64), 0, n - 1)
    total = np.maximum(w.total, 1)
    if metric.startswith("latency."):
        q = metric.split(".", 1)[1]
        ok_idx, lat = idx[a.ok], a.latency[a.ok]
        if q == "max":
            values = np.full(n, np.nan)
            np.fmax.at(values, ok_idx, lat)
        elif q == "mean":
            sums = np.bincount(ok_idx, weights=lat, minlength=n)
            with np.errstate(invalid="ignore"):
                values = sums / np.where(w.ok > 0, w.ok, np.nan)
        else:
            pct = {"p50": 50, "p90": 90, "p95": 95, "p99": 99}[q]
            values = group_quantile(ok_idx, lat, pct / 100, n)
    elif metric == "error_rate":
        values = 1 - w.ok / total
    elif metric == "success_rate":
        values = w.ok / total
    elif metric == "attainment":
        values = w.good / total
    elif metric == "goodput_rps":
        values = w.good / w.width
    elif metric == "offered_rps":
        values = w.total / w.width
    else:  # throughput_rps
        dropped = np.bincount(idx[a.outcome == OUTCOMES.index("dropped")], minlength=n)
        values = (w.total - dropped) / w.width
    return np.asarray(values[w.nonempty], dtype=float)


def _result(gate: Gate, value: Figure, threshold: Figure, reason: str = "") -> GateResult:
    if threshold is None:
        return GateResult(name=gate.text, passed=None, status=GateStatus.SKIPPED, value=value,
                          reason=reason or "needs a baseline run: use squall compare",
                          metric=gate.metric)
    if value is None:
        return GateResult(name=gate.text, passed=False, status=GateStatus.FAIL,
                          threshold=threshold, reason=reason or "no value (see the summary)",
                          metric=gate.metric)
    passed = gate.op.holds(value, threshold)
    return GateResult(name=gate.text, passed=passed,
                      status=GateStatus.PASS if passed else GateStatus.FAIL, value=value,
                      threshold=threshold, reason=reason, metric=gate.metric)


def evaluate_gate(gate: Gate, scored: Scored, sla: Sla, baseline: Summary | None) -> GateResult:
    base_value = None
    if gate.relative and baseline is not None:
        base_scope = scope_metrics(baseline, gate)
        base_value = None if base_scope is None else base_scope.get(gate.metric)
    threshold = gate.threshold_for(base_value)
    if gate.relative and baseline is not None and threshold is None:
        return GateResult(name=gate.text, passed=False, status=GateStatus.FAIL,
                          reason="the baseline run has no value for this metric",
                          metric=gate.metric)
    if gate.scope is Scope.WINDOW:
        values = _window_values(scored, gate.metric, sla)
        values = values[~np.isnan(values)]
        if threshold is None:
            return _result(gate, None, None)
        if values.size == 0:
            return _result(gate, None, threshold, "no window has a value")
        holds = np.array([gate.op.holds(float(v), threshold) for v in values])
        worst = float(values.max() if gate.op in _WORST_IS_MAX else values.min())
        failing = int((~holds).sum())
        reason = f"{failing} of {values.size} windows fail" if failing else \
            f"all {values.size} windows pass"
        res = _result(gate, worst, threshold, reason)
        passed = failing == 0
        return res.model_copy(update={"passed": passed,
                                      "status": GateStatus.PASS if passed else GateStatus.FAIL})
    figures = scope_metrics(scored.summary, gate)
    if figures is None:
        return GateResult(name=gate.text, passed=False, status=GateStatus.FAIL,
                          threshold=threshold, metric=gate.metric,
                          reason=f"the run has no {gate.scope.value} {gate.scope_name!r}")
    return _result(gate, figures.get(gate.metric), threshold)


def evaluate_gates(gates: Sequence[Gate], scored: Scored, sla: Sla,
                   baseline: Summary | None = None) -> list[GateResult]:
    return [evaluate_gate(g, scored, sla, baseline) for g in gates]


def judge(scored: Scored, gates: Sequence[Gate], sla: Sla,
          baseline: Summary | None = None) -> Summary:
    """Evaluate ``gates`` on a scored run; set the summary's gates and verdict."""
    summary = scored.summary
    summary.gates = evaluate_gates(gates, scored, sla, baseline)
    summary.verdict = verdict_of(summary.gates, scored.status)
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
