"""Evaluating gates against a scored run, and the verdict they add up to.

With replications a figure has a 95% interval: a gate passes only if the whole interval
satisfies it, fails if none of it does, and is otherwise **inconclusive** (exit 3) — a
gate is never passed on a lucky point estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.gates.spec import Gate, Op, Scope
from harness.metrics import format_value
from harness.outcomes import RunStatus
from harness.scoring.model import GateResult, GateStatus, Summary, Verdict
from harness.scoring.window_figures import window_series

if TYPE_CHECKING:
    from harness.scoring.score import Scored

__all__ = ["evaluate_gate", "judge", "judge_replications", "scope_metrics", "verdict_of"]

Figure = float | None
Interval = tuple[float, float]
WindowValues = Callable[[str], np.ndarray]

_WORST_IS_MAX = {Op.LT, Op.LE, Op.EQ, Op.NE}


def scope_metrics(summary: Summary, gate: Gate) -> dict[str, Figure] | None:
    """The figures a gate's scope refers to, or None if the run has no such scope."""
    return _scope(summary, gate)[0]


def _scope(summary: Summary, gate: Gate
           ) -> tuple[dict[str, Figure] | None, dict[str, Interval | None]]:
    """A gate's scope: its figures (None: no such scope) and their 95% intervals."""
    if gate.scope is Scope.RUN:
        return summary.metrics, summary.intervals
    if gate.scope is Scope.WORKFLOW:
        name = gate.scope_name or ""
        return summary.workflows.get(name), summary.workflow_intervals.get(name, {})
    for phase in summary.phases:
        if phase.name == gate.scope_name:
            return phase.metrics, phase.intervals
    return None, {}


def window_values(scored: Scored) -> WindowValues:
    """Per-window values of a window metric, for the non-empty windows of one run."""
    return lambda metric: window_series(scored.arrays, scored.windows, metric)


def _effective(value: float, interval: Interval | None, threshold: float,
               spread: Interval | None) -> Interval | None:
    """The interval to judge ``value`` by when the threshold is uncertain too (a
    baseline with replications): the 95% interval of value − threshold, the two
    independent runs' half-widths added in quadrature, shifted back onto the threshold."""
    if spread is None:
        return interval
    lo, hi = interval if interval is not None else (value, value)
    t_lo, t_hi = spread
    below = math.hypot(value - lo, t_hi - threshold)
    above = math.hypot(hi - value, threshold - t_lo)
    return value - below, value + above


def _status(gate: Gate, value: float, threshold: float,
            interval: Interval | None) -> tuple[GateStatus, str]:
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


def _result(gate: Gate, value: Figure, threshold: Figure, reason: str = "", *,
            interval: Interval | None = None, spread: Interval | None = None) -> GateResult:
    base = {"name": gate.text, "metric": gate.metric, "value": value, "threshold": threshold,
            "interval": interval}
    if threshold is None:
        return GateResult(**base, passed=None, status=GateStatus.SKIPPED,
                          reason=reason or "needs a baseline run: use squall compare")
    if value is None:
        return GateResult(**base, passed=False, status=GateStatus.FAIL,
                          reason=reason or "no value (see the summary)")
    judged = _effective(value, interval, threshold, spread)
    status, why = _status(gate, value, threshold, judged)
    if spread is not None:
        why = why.replace("95% interval", "95% interval, the baseline's uncertainty included,")
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


def _threshold_spread(gate: Gate, interval: Interval | None) -> Interval | None:
    """A relative gate's threshold interval, from the baseline value's interval."""
    if interval is None:
        return None
    ends = [gate.threshold_for(v) for v in interval]
    if ends[0] is None or ends[1] is None:
        return None
    return min(ends[0], ends[1]), max(ends[0], ends[1])


def evaluate_gate(gate: Gate, summary: Summary, *, windows: WindowValues | None = None,
                  baseline: Summary | None = None) -> GateResult:
    """One gate on a run's summary (``windows`` gives per-window values for
    ``every window`` gates; ``baseline`` anchors relative gates). With replications the
    gate is judged on the figure's 95% interval in its scope, and a relative gate on the
    interval of the difference from the baseline, when the baseline has one."""
    base_value, spread = None, None
    if gate.relative and baseline is not None:
        base_scope, base_intervals = _scope(baseline, gate)
        base_value = None if base_scope is None else base_scope.get(gate.metric)
        if base_value is None:
            return GateResult(name=gate.text, metric=gate.metric, passed=False,
                              status=GateStatus.FAIL,
                              reason="the baseline run has no value for this metric")
        spread = _threshold_spread(gate, base_intervals.get(gate.metric))
    threshold = gate.threshold_for(base_value)
    if gate.scope is Scope.WINDOW:
        if threshold is None:
            return _result(gate, None, None)
        if windows is None:
            raise ValueError("an 'every window' gate needs the run's windows")
        return _per_window(gate, windows(gate.metric), threshold)
    figures, intervals = _scope(summary, gate)
    if figures is None:
        return GateResult(name=gate.text, metric=gate.metric, passed=False,
                          status=GateStatus.FAIL, threshold=threshold,
                          reason=f"the run has no {gate.scope.value} {gate.scope_name!r}")
    return _result(gate, figures.get(gate.metric), threshold,
                   interval=intervals.get(gate.metric), spread=spread)


def _unknowable(result: GateResult) -> GateResult:
    """In a partial or damaged run a figure with no value is missing data, not a failure."""
    if result.status is GateStatus.FAIL and result.value is None:
        return result.model_copy(update={
            "status": GateStatus.INCONCLUSIVE, "passed": None,
            "reason": "no value: the run is partial or damaged"})
    return result


def judge(scored: Scored, gates: Sequence[Gate], baseline: Summary | None = None) -> Summary:
    """Evaluate ``gates`` on one scored run; set the summary's gates and verdict."""
    summary = scored.summary
    values = window_values(scored)
    summary.gates = [evaluate_gate(g, summary, windows=values, baseline=baseline)
                     for g in gates]
    if scored.status != RunStatus.COMPLETE or summary.missing:
        summary.gates = [_unknowable(r) for r in summary.gates]
    summary.verdict = verdict_of(summary.gates, scored.status, summary.missing,
                                 summary.doubts)
    return summary


def judge_replications(summary: Summary, reps: Sequence[Summary], gates: Sequence[Gate],
                       baseline: Summary | None = None,
                       status: str = RunStatus.COMPLETE) -> Summary:
    """Evaluate ``gates`` on an aggregate of replications ``reps``. ``every window``
    gates hold only if they held in every replication (each judged its own windows);
    a replication that did not judge the gate makes it fail."""
    results = []
    for gate in gates:
        if gate.scope is not Scope.WINDOW:
            results.append(evaluate_gate(gate, summary, baseline=baseline))
            continue
        runs = [next((r for r in rep.gates if r.name == gate.text), None) for rep in reps]
        judged = [r for r in runs if r is not None]
        if judged and all(r.status is GateStatus.SKIPPED for r in judged):
            results.append(judged[0])
            continue
        failed = sum(r.status is not GateStatus.PASS for r in judged) + len(runs) - len(judged)
        values = [r.value for r in judged if r.value is not None]
        worst = (max(values) if gate.op in _WORST_IS_MAX else min(values)) if values \
            else None
        reason = (f"failed in {failed} of {len(runs)} replications" if failed
                  else f"held in all {len(runs)} replications")
        if len(judged) < len(runs):
            reason += f"; {len(runs) - len(judged)} did not judge it"
        results.append(GateResult(
            name=gate.text, metric=gate.metric, value=worst,
            threshold=judged[0].threshold if judged else None, passed=not failed,
            status=GateStatus.FAIL if failed else GateStatus.PASS, reason=reason))
    summary.gates = results
    summary.verdict = verdict_of(results, status, summary.missing)
    return summary


def verdict_of(results: Sequence[GateResult], status: str = RunStatus.COMPLETE,
               missing: Sequence[str] = (), doubts: Sequence[str] = ()) -> Verdict:
    """aborted > doubted > fail > inconclusive > none > pass.

    A doubted run (its load generator lagged its schedule, say) is inconclusive whatever
    its gates say: the system did not see the load the scenario asked for.

    A run that did not complete, or whose records are damaged (``missing`` says how), is
    judged on what it recorded: a gate that fails there fails, but nothing can pass —
    the verdict is at best inconclusive. A run without gates (or whose only gates need a
    baseline it does not have) has no verdict (``none``).
    """
    if status == RunStatus.ABORTED:
        return Verdict.ABORTED
    if doubts:
        return Verdict.INCONCLUSIVE
    statuses = {r.status for r in results}
    if GateStatus.FAIL in statuses:
        return Verdict.FAIL
    partial = status != RunStatus.COMPLETE or bool(missing)
    if GateStatus.INCONCLUSIVE in statuses or partial:
        return Verdict.INCONCLUSIVE
    if statuses <= {GateStatus.SKIPPED}:  # no gate, or none that could be judged
        return Verdict.NONE
    return Verdict.PASS
