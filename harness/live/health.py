"""Generator health: whether the driver sent each arrival when it was due.

Send lag is the wall time between an arrival's intended time and its actual send. When
the driver cannot hold its schedule (p99 send lag over ``live.max_send_lag``, 50 ms by
default), the load the system saw is not the load the scenario asked for, and the run
is inconclusive whatever its gates say — never a false pass. The lag over time goes
into ``run.json`` (``generator.windows``) for the report; it can also be recomputed from
``requests.parquet`` (``sent_s − intended_s``, in scenario seconds).
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

__all__ = ["WINDOW_S", "Health"]

WINDOW_S = 10.0  #: scenario seconds per lag window


class Health:
    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self._at = array("d")  #: scenario second of each send
        self._lag = array("d")  #: its lag, wall seconds

    def add(self, sent_s: float, lag: float) -> None:
        self._at.append(sent_s)
        self._lag.append(lag)

    def summary(self) -> dict[str, Any]:
        lag = np.frombuffer(self._lag, dtype=np.float64) if self._lag else np.zeros(0)
        at = np.frombuffer(self._at, dtype=np.float64) if self._at else np.zeros(0)
        out: dict[str, Any] = {"sent": int(lag.size), "threshold_s": self.threshold_s}
        if lag.size == 0:
            return {**out, "send_lag_p50_s": None, "send_lag_p99_s": None,
                    "send_lag_max_s": None, "held": True, "windows": []}
        late = np.maximum(lag, 0.0)
        p50, p99 = np.percentile(late, [50, 99])
        idx = np.maximum((at // WINDOW_S).astype(np.int64), 0)
        windows = []
        for w in np.unique(idx).tolist():
            chunk = late[idx == w]
            windows.append([w * WINDOW_S, round(float(np.percentile(chunk, 99)), 6),
                            int(chunk.size)])
        return {**out, "send_lag_p50_s": round(float(p50), 6),
                "send_lag_p99_s": round(float(p99), 6),
                "send_lag_max_s": round(float(late.max()), 6),
                "held": bool(p99 <= self.threshold_s), "windows": windows}
