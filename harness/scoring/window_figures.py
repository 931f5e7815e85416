"""Figures per SLA window (``every window:`` gates), one function a metric.

Each takes the run's request arrays, its windows and every request's window index, and
returns one value per window (NaN where the window has none). The names are the ones
:data:`harness.metrics.WINDOW_METRICS` declares; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.outcomes import OUTCOMES
from harness.scoring.figures import Arrays
from harness.scoring.windows import Windows, group_quantile

__all__ = ["WINDOW_FIGURES", "window_series"]

WindowFigure = Callable[[Arrays, Windows, np.ndarray], np.ndarray]
_DROPPED = OUTCOMES.index("dropped")


def _per_request(a: Arrays, w: Windows, idx: np.ndarray) -> np.ndarray:
    total: np.ndarray = np.maximum(w.total, 1)
    return total


def _quantile(q: float) -> WindowFigure:
    def figure(a: Arrays, w: Windows, idx: np.ndarray) -> np.ndarray:
        return group_quantile(idx[a.ok], a.latency[a.ok], q, len(w.starts))

    return figure


def _latency_max(a: Arrays, w: Windows, idx: np.ndarray) -> np.ndarray:
    out = np.full(len(w.starts), np.nan)
    np.fmax.at(out, idx[a.ok], a.latency[a.ok])
    return out


def _latency_mean(a: Arrays, w: Windows, idx: np.ndarray) -> np.ndarray:
    sums = np.bincount(idx[a.ok], weights=a.latency[a.ok], minlength=len(w.starts))
    with np.errstate(invalid="ignore"):
        out: np.ndarray = sums / np.where(w.ok > 0, w.ok, np.nan)
    return out


def _throughput(a: Arrays, w: Windows, idx: np.ndarray) -> np.ndarray:
    dropped = np.bincount(idx[a.outcome == _DROPPED], minlength=len(w.starts))
    out: np.ndarray = (w.total - dropped) / w.width
    return out


WINDOW_FIGURES: dict[str, WindowFigure] = {
    "attainment": lambda a, w, idx: w.good / _per_request(a, w, idx),
    "success_rate": lambda a, w, idx: w.ok / _per_request(a, w, idx),
    "error_rate": lambda a, w, idx: 1 - w.ok / _per_request(a, w, idx),
    "goodput_rps": lambda a, w, idx: w.good / w.width,
    "throughput_rps": _throughput,
    "offered_rps": lambda a, w, idx: w.total / w.width,
    "latency.p50": _quantile(0.50),
    "latency.p90": _quantile(0.90),
    "latency.p95": _quantile(0.95),
    "latency.p99": _quantile(0.99),
    "latency.max": _latency_max,
    "latency.mean": _latency_mean,
}


def window_series(a: Arrays, w: Windows, metric: str) -> np.ndarray:
    """``metric`` in each window that had traffic."""
    idx = np.clip((a.intended // w.width).astype(np.int64), 0, len(w.starts) - 1)
    return np.asarray(WINDOW_FIGURES[metric](a, w, idx)[w.nonempty], dtype=float)
