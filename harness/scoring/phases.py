"""Phases of a run, window by window: ``baseline`` before the first fault, ``fault`` while
any fault is active, ``recovery`` from a fault's end until the SLI recovered, ``after``
for the rest. Also the time span each fault scope covers (``during FAULT:`` gates)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faults.schedule import Activation
from harness.scoring.recovery import FaultRecovery
from harness.scoring.windows import Windows

__all__ = ["fault_span", "phase_labels"]


def fault_span(act: Activation, rec: FaultRecovery, width: float, run_end: float
               ) -> tuple[float, float]:
    """``[start, end)`` of a fault's scope. An instantaneous fault covers the time until
    the SLI recovered (at least one window)."""
    if not act.instant or (act.end is not None and act.end > act.start):
        return act.start, act.end_or(run_end)
    if rec.absorbed:
        return act.start, min(act.start + width, run_end)
    if rec.recovered_at_s is None:
        return act.start, run_end
    return act.start, max(rec.recovered_at_s, act.start + width)


def phase_labels(windows: Windows, acts: Sequence[Activation],
                 recoveries: Sequence[FaultRecovery], run_end: float) -> np.ndarray:
    n = len(windows.starts)
    labels = np.full(n, "baseline", dtype=object)
    if not acts:
        return labels
    first = min(a.start for a in acts)
    labels[windows.starts + windows.width > first] = "after"
    width = windows.width
    for act, rec in zip(acts, recoveries, strict=True):
        a, b = fault_span(act, rec, width, run_end)
        fault_end = b
        if not act.instant or act.end is not None:
            lo, hi = windows.index_at(a), windows.index_at(max(b - 1e-9, a))
        else:
            lo = hi = windows.index_at(a)
            fault_end = a
        labels[lo : hi + 1] = "fault"
        if rec.absorbed:
            continue
        until = run_end if rec.recovered_at_s is None else rec.recovered_at_s
        r_lo = windows.index_at(fault_end) + (0 if labels[windows.index_at(fault_end)] != "fault"
                                              else 1)
        r_hi = windows.index_at(max(until - 1e-9, 0.0))
        for k in range(r_lo, r_hi + 1):
            if labels[k] != "fault":
                labels[k] = "recovery"
    return labels
