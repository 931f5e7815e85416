"""Stop conditions, evaluated continuously on the answers as they come in.

A condition holds when its metric over the last ``window`` scenario seconds of answers
passes its threshold; it fires once it has held for ``for`` seconds in a row. The run is
then aborted: no more arrivals are sent, every fault is rolled back, the verdict is
``aborted`` (exit 4), and the report names the condition.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from harness.scenario.live import StopCondition

__all__ = ["MIN_ANSWERS", "StopWatch"]

MIN_ANSWERS = 5  #: a window with fewer answers decides nothing
CHECK_EVERY_S = 0.25  #: scenario seconds between evaluations


class StopWatch:
    def __init__(self, conditions: Sequence[StopCondition]) -> None:
        self.conditions = list(conditions)
        self.parsed = [c.parse(c.when) for c in self.conditions]
        #: how far back the conditions look (the answers kept must cover it)
        self.span = max((c.window for c in self.conditions), default=0.0)
        self._since: list[float | None] = [None] * len(self.conditions)
        self._last = -np.inf

    def check(self, now: float, answers: Collection[tuple[float, bool, float]]) -> str | None:
        """The label of the condition that fires now, or None. ``answers`` are the recent
        answers as ``(t, bad, latency)`` — NaN latency for a dropped arrival — covering
        at least :attr:`span` seconds (:class:`harness.live.progress.Recent` keeps them)."""
        if not self.conditions or now - self._last < CHECK_EVERY_S:
            return None
        self._last = now
        if not answers:
            return None
        data = np.array(answers, dtype=np.float64)
        for i, (cond, (metric, op, value)) in enumerate(zip(self.conditions, self.parsed,
                                                            strict=True)):
            recent = data[data[:, 0] >= now - cond.window]
            holds = False
            if len(recent) >= MIN_ANSWERS:
                if metric == "error_rate":
                    figure = float(recent[:, 1].mean())
                elif metric == "dropped_rate":
                    figure = float(np.isnan(recent[:, 2]).mean())
                else:
                    lat = recent[:, 2]
                    lat = np.where(np.isnan(lat), np.inf, lat)  # dropped: infinitely late
                    figure = float(np.percentile(lat, float(metric[1:])))
                holds = figure > value if op == ">" else figure >= value
            if not holds:
                self._since[i] = None
                continue
            if self._since[i] is None:
                self._since[i] = now
            since = self._since[i]
            assert since is not None
            if now - since >= cond.for_:
                return cond.label
        return None
