"""How long each fault hurt the SLI, from the window compliance series.

For a fault starting at ``s`` (and ending at ``e``, or lasting to the end):

- it is **absorbed** if no window from the one containing ``s`` up to ``stability``
  windows past ``e`` is non-compliant; its recovery time is 0. That span stops where a
  later fault starts after this one has ended: its windows are the later fault's;
- otherwise **time to detect** is the start of the first non-compliant window in that
  span, minus ``s`` (0 when the window containing ``s`` is already bad);
- the **recovery moment** is the start of the first run of ``stability`` compliant
  windows after the first bad one; **recovery time** is that moment minus ``s``, and
  **recovery after end** is that moment minus ``e`` (0 if it came before ``e``);
- if no such run exists before the run ends, the fault **never recovered**: recovery
  time is null, and gates on it fail — unless the run did not finish: then the records
  end before recovery could be confirmed, and recovery is **unknown** (gates on it are
  inconclusive).

**Overlapping faults.** The SLI is one signal: when two faults' impacts overlap, the
windows cannot say which fault hurt them, and each fault's figures are measured on the
same windows. Such figures are marked **confounded**, naming the faults they overlap
with: a fault's impact span runs from its start to its recovery moment (to the end of
its absorption horizon if absorbed, to the end of the run if it never recovered), and two
faults are confounded when their spans overlap. The figures are still given — read them
as "the system recovered from this and everything that overlapped it", not as one
fault's own effect. In the simulator ``squall run --attribute`` separates them by
counterfactual: for each confounded fault it runs the scenario again without that fault,
with the same seed and arrivals, and reports the attainment that fault cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from faults.schedule import Activation
from harness.scoring.windows import Windows

__all__ = ["FaultRecovery", "recover"]


@dataclass(frozen=True)
class FaultRecovery:
    fault: str
    kind: str
    target: str
    start_s: float
    end_s: float | None
    absorbed: bool
    time_to_detect_s: float | None
    recovery_time_s: float | None
    recovery_after_end_s: float | None
    recovered_at_s: float | None  #: the recovery moment (null: never, or absorbed)
    confounded_by: tuple[str, ...] = ()  #: faults whose impact spans overlap this one's
    unknown: bool = False  #: the records end before recovery could be confirmed

    @property
    def never_recovered(self) -> bool:
        return not self.absorbed and self.recovery_time_s is None


def _stable_run(compliant: np.ndarray, start: int, stability: int) -> int | None:
    """First index ``k >= start`` with ``compliant[k : k + stability]`` all true. A run
    of compliant windows cut short by the end of the run does not count: the recovery
    was never confirmed."""
    run = 0
    for k in range(start, len(compliant)):
        run = run + 1 if compliant[k] else 0
        if run == stability:
            return k - stability + 1
    return None


def recover(act: Activation, windows: Windows, stability: int, run_end: float,
            next_start: float | None = None) -> FaultRecovery:
    """Recovery of ``act``; ``next_start`` is when the next fault that starts after this
    one has ended begins (it bounds the windows this fault can be blamed for)."""
    width = windows.width
    first = windows.index_at(act.start)
    end = act.end_or(run_end)
    horizon = min(windows.index_at(end) + stability, len(windows.starts) - 1)
    if next_start is not None:
        horizon = max(first, min(horizon, windows.index_at(next_start) - 1))
    bad = np.flatnonzero(~windows.compliant[first : horizon + 1])
    base: dict[str, Any] = {"fault": act.id, "kind": act.kind, "target": str(act.target),
                            "start_s": act.start, "end_s": act.end}
    if bad.size == 0:
        return FaultRecovery(**base, absorbed=True, time_to_detect_s=None, recovery_time_s=0.0,
                             recovery_after_end_s=0.0, recovered_at_s=None)
    first_bad = first + int(bad[0])
    detect = max(first_bad * width - act.start, 0.0)
    k = _stable_run(windows.compliant, first_bad + 1, stability)
    if k is None:
        return FaultRecovery(**base, absorbed=False, time_to_detect_s=detect,
                             recovery_time_s=None, recovery_after_end_s=None, recovered_at_s=None)
    moment = k * width
    return FaultRecovery(
        **base, absorbed=False, time_to_detect_s=detect, recovery_time_s=moment - act.start,
        recovery_after_end_s=max(moment - end, 0.0), recovered_at_s=moment,
    )


def _impact_span(act: Activation, rec: FaultRecovery, windows: Windows, stability: int,
                 run_end: float) -> tuple[float, float]:
    """``[start, end)`` of the windows a fault's figures were read from."""
    if rec.recovered_at_s is not None:
        return act.start, rec.recovered_at_s
    if rec.absorbed:
        horizon = windows.index_at(act.end_or(run_end)) + stability
        return act.start, min((horizon + 1) * windows.width, run_end)
    return act.start, run_end


def recover_all(acts: Iterable[Activation], windows: Windows, stability: int,
                run_end: float, *, finished: bool = True) -> list[FaultRecovery]:
    """Every fault's recovery, marked confounded where impacts overlap, and unknown where
    a run that did not finish ends before recovery could be confirmed."""
    acts = list(acts)
    out = []
    for act in acts:
        end = act.end_or(run_end)
        later = [b.start for b in acts if b is not act and b.start >= end]
        out.append(recover(act, windows, stability, run_end, min(later, default=None)))
    spans = [_impact_span(a, r, windows, stability, run_end) for a, r in zip(acts, out,
                                                                              strict=True)]
    marked = []
    for i, rec in enumerate(out):
        lo, hi = spans[i]
        others = tuple(out[j].fault for j, (a, b) in enumerate(spans)
                       if j != i and a < hi and lo < b)
        marked.append(replace(rec, confounded_by=others,
                              unknown=not finished and rec.never_recovered))
    return marked
