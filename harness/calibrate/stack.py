"""The live stack's own speed: what its hops cost a request, in wall time.

A twin fitted from a live pilot carries the stack's overhead per hop — the HTTP, the
event loops, the processes — inside its fitted times, and notes how long it was
(``calibrated.stack``, :func:`stack`). At a time scale of K that overhead is K× longer in
scenario time, so a machine that runs slower or faster in a later run than in the pilot
moves every latency on its own: :class:`StackDrift` says by how much.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.calibrate.observe import Observed, fault_windows, observe_stack
from harness.records.reader import RunData
from harness.scenario.model import HOPS, Calibrated, StackHop

__all__ = ["STACK_DRIFT", "StackDrift", "drift", "stack"]

#: A run whose live stack drifted from the pilot's enough to move the p50 latency by this
#: share of its tolerance on its own is in doubt.
STACK_DRIFT = 0.5


def stack(obs: Observed, time_scale: float) -> dict[str, StackHop]:
    """The live stack's overhead per kind of hop, in wall seconds (the observations are
    in scenario seconds, ``time_scale``× longer): each hop between components, and each
    request's time outside its agent calls (``request``: once per request)."""
    found = {**obs.hops, "request": obs.request_overhead}
    out = {}
    for kind in HOPS:
        gaps = found.get(kind)
        if gaps is None or len(gaps) == 0 or not obs.requests:
            continue
        wall = gaps / time_scale
        out[kind] = StackHop(n=len(gaps), per_request=_short(1.0 if kind == "request" else
                                                             len(gaps) / obs.requests),
                             mean_s=_short(wall.mean()), p50_s=_short(np.quantile(wall, 0.5)),
                             p95_s=_short(np.quantile(wall, 0.95)))
    return out


def _short(value: float) -> float:
    return float(f"{value:.4g}")  # a measurement's worth of digits


@dataclass(frozen=True)
class StackDrift:
    """The live stack's overhead in the pilot a twin was fitted from and in the check
    run, per kind of hop (wall seconds), counted at the check run's hops per request."""

    pilot: Mapping[str, StackHop]
    pilot_scale: float
    check: Mapping[str, StackHop]
    check_scale: float

    @property
    def kinds(self) -> list[str]:
        return [k for k in self.check if k in self.pilot]

    def wall(self, which: Mapping[str, StackHop]) -> float:
        """Seconds of wall time per request, at the check's hops per request."""
        return sum(self.check[k].per_request * which[k].mean_s for k in self.kinds)

    @property
    def shift_s(self) -> float:
        """How much later (earlier, when negative) the check's requests end than the
        pilot's stack would have made them, in scenario seconds."""
        return (self.wall(self.check) * self.check_scale
                - self.wall(self.pilot) * self.pilot_scale)

    def doubt(self, p50: float | None, allowed: float) -> str | None:
        """Why a comparison cannot judge the model, when the drift alone moves the twin's
        p50 latency (``p50``) by more than :data:`STACK_DRIFT` of ``allowed`` (the
        seconds p50's tolerance allows)."""
        if not self.kinds or not p50:
            return None
        shift = self.shift_s
        if abs(shift) <= STACK_DRIFT * allowed:
            return None
        scales = (f"{self.check_scale:g}×" if self.check_scale == self.pilot_scale else
                  f"fitted at {self.pilot_scale:g}×, checked at {self.check_scale:g}×")
        return (f"the live stack ran {'slower' if shift > 0 else 'faster'} than in the pilot "
                f"the twin was fitted from: {1000 * self.wall(self.check):.2f} ms of wall time "
                f"per request in its hops against {1000 * self.wall(self.pilot):.2f} ms "
                f"({scales}), which alone moves the latency by {shift:+.3g} s "
                f"({100 * shift / p50:+.0f}% of the twin's p50) — the machine changed, not "
                "only the model: calibrate and check under the same load, or at a lower time "
                "scale")

    def to_json(self) -> dict[str, Any]:
        return {"pilot": {k: h.model_dump() for k, h in self.pilot.items()},
                "pilot_time_scale": self.pilot_scale,
                "check": {k: h.model_dump() for k, h in self.check.items()},
                "check_time_scale": self.check_scale,
                "wall_per_request_s": {"pilot": self.wall(self.pilot),
                                       "check": self.wall(self.check)},
                "shift_s": self.shift_s}


def drift(run: RunData, pilot: Calibrated | None, time_scale: float) -> StackDrift | None:
    """``run``'s stack (played at ``time_scale``) against the pilot's; None without a
    pilot's stack or the run's spans to measure by."""
    if pilot is None or not pilot.stack:
        return None
    spans = run.load_spans()
    if spans is None or spans.empty or "hop_s" not in spans:
        return None
    found, _ = observe_stack(spans, fault_windows(run.events), run.requests)
    return StackDrift(pilot.stack, pilot.time_scale, stack(found, time_scale), time_scale)
