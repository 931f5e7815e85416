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
  time is null, and gates on it fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


def recover_all(acts: Iterable[Activation], windows: Windows, stability: int,
                run_end: float) -> list[FaultRecovery]:
    acts = list(acts)
    out = []
    for act in acts:
        end = act.end_or(run_end)
        later = [b.start for b in acts if b is not act and b.start >= end]
        out.append(recover(act, windows, stability, run_end, min(later, default=None)))
    return out
