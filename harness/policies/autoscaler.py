"""The Kubernetes Horizontal Pod Autoscaler's decision, as a clock-agnostic object.

Every ``interval`` the scaler sees the current replica count and the metric summed over
the agent (queued calls, busy slots in replica units, or calls in flight). Per replica
that is ``total / current`` (replicas still starting count as 0, as HPA does for
not-ready pods when scaling up), so

    desired = ceil(current × (total / current) / target) = ceil(total / target)

unless the ratio is within ``tolerance`` of 1 (no change). Scale-down takes the highest
recommendation of the stabilisation window; scale-up is limited per ``period`` to the
larger of +``percent``% and +``pods`` over the count at the start of the period. The
result is clamped to [min, max].

Times at the edge of a window count as the simulator's exact clock counts them, within
``EDGE`` seconds: a live scaler deciding at t0 + n × interval on a floating-point clock
must not drop (or keep) a scale-up that the simulator keeps (or drops) at exactly
``period`` ago — with ``interval`` = ``period``, that edge is every decision's.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from harness.scenario.system import Autoscaler as AutoscalerSpec

__all__ = ["EDGE", "Decision", "HpaScaler"]

EDGE = 1e-6  #: seconds within which two times are the same instant


@dataclass(frozen=True)
class Decision:
    time: float
    current: int
    metric: float  #: the metric summed over the agent
    raw: int  #: ceil(total / target), or current within tolerance
    desired: int  #: after stabilisation, rate limits and bounds


class HpaScaler:
    def __init__(self, spec: AutoscalerSpec, lower: int, upper: int) -> None:
        self.target = spec.target
        self.tolerance = spec.tolerance
        self.window = spec.scale_down_window
        self.up_percent = spec.scale_up.percent
        self.up_pods = spec.scale_up.pods
        self.up_period = spec.scale_up.period
        self.lower, self.upper = lower, upper
        self._recommendations: deque[tuple[float, int]] = deque()
        self._ups: deque[tuple[float, int]] = deque()  # (time, replicas added)

    def raw(self, current: int, total: float) -> int:
        if current == 0:
            return math.ceil(total / self.target) if total > 0 else 0
        ratio = (total / current) / self.target
        if abs(ratio - 1.0) <= self.tolerance:
            return current
        return math.ceil(total / self.target - 1e-9)

    def decide(self, now: float, current: int, total: float) -> Decision:
        raw = self.raw(current, total)
        recs = self._recommendations
        recs.append((now, raw))
        while recs and recs[0][0] < now - self.window - EDGE:
            recs.popleft()
        desired = raw
        if desired < current:  # scale down no lower than the window's highest recommendation
            desired = min(current, max(r for _, r in recs))
        if desired > current:
            ups = self._ups
            while ups and ups[0][0] <= now - self.up_period + EDGE:
                ups.popleft()
            added = sum(n for _, n in ups)
            start = current - added  # replicas at the start of the period
            limit = max(math.ceil(start * (1 + self.up_percent / 100.0)), start + self.up_pods)
            desired = max(current, min(desired, limit))
        desired = max(self.lower, min(self.upper, desired))
        if desired > current:
            self._ups.append((now, desired - current))
        return Decision(now, current, total, raw, desired)
