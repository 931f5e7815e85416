"""A mergeable latency histogram for streaming use (the live driver's workers).

Like HdrHistogram, it trades exactness for constant memory: values go into buckets
whose bounds grow geometrically by ``(1 + 2ε)``, so reporting a bucket's geometric
midpoint is within ``ε`` (1% by default) of any value in it. Histograms with the same
settings merge by adding counts, so per-worker histograms combine into one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["LatencyHistogram"]


class LatencyHistogram:
    """Counts of values in ``[lowest, highest]`` seconds (outside: clamped), plus zeros."""

    def __init__(self, lowest: float = 1e-6, highest: float = 86400.0 * 7,
                 relative_error: float = 0.01) -> None:
        if not 0 < lowest < highest:
            raise ValueError("need 0 < lowest < highest")
        if not 0 < relative_error < 0.5:
            raise ValueError("relative_error must be in (0, 0.5)")
        self.lowest, self.highest, self.relative_error = lowest, highest, relative_error
        self._log_ratio = math.log1p(2 * relative_error)
        size = math.ceil(math.log(highest / lowest) / self._log_ratio) + 1
        self.counts = np.zeros(size, dtype=np.int64)
        self.zeros = 0
        self.total = 0
        self.max = 0.0

    def _index(self, values: np.ndarray) -> np.ndarray:
        clamped = np.clip(values, self.lowest, self.highest)
        idx = np.floor(np.log(clamped / self.lowest) / self._log_ratio).astype(np.int64)
        out: np.ndarray = np.minimum(idx, len(self.counts) - 1)
        return out

    def record(self, values: float | Iterable[float] | np.ndarray) -> None:
        """Add one value or many (vectorised). Negative values and NaN are refused."""
        arr = np.atleast_1d(np.asarray(values, dtype=float))
        if arr.size == 0:
            return
        if np.isnan(arr).any() or (arr < 0).any():
            raise ValueError("latencies must be non-negative numbers")
        zero = arr == 0
        self.zeros += int(zero.sum())
        positive = arr[~zero]
        if positive.size:
            np.add.at(self.counts, self._index(positive), 1)
        self.total += int(arr.size)
        self.max = max(self.max, float(arr.max()))

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s counts into this one (same settings required)."""
        same = (other.lowest, other.highest, other.relative_error) == (
            self.lowest, self.highest, self.relative_error)
        if not same:
            raise ValueError("only histograms with the same settings merge")
        self.counts += other.counts
        self.zeros += other.zeros
        self.total += other.total
        self.max = max(self.max, other.max)
        return self

    def _value(self, index: int) -> float:
        lo = self.lowest * math.exp(index * self._log_ratio)
        return lo * math.sqrt(1 + 2 * self.relative_error)  # geometric midpoint

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0–100) by nearest rank; None when empty."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.total))
        if rank <= self.zeros:
            return 0.0
        cum = np.cumsum(self.counts)
        index = int(np.searchsorted(cum, rank - self.zeros))
        return min(self._value(index), self.max)

    def mean(self) -> float | None:
        if self.total == 0:
            return None
        centers = self.lowest * np.exp((np.arange(len(self.counts)) + 0.5) * self._log_ratio)
        return float((self.counts * centers).sum() / self.total)
