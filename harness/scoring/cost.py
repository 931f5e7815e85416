"""Cost: tokens and tool calls of every attempt, replica-seconds, cold starts.

LLM and tool cost come from the request records (each carries the cost of all its
attempts, retries and fallbacks included). Compute cost integrates replica lifetimes
from the ``replica_start`` / ``replica_stop`` events, each start carrying its price per
second. *Wasted* cost is what bought nothing: every failed attempt (from spans) plus the
successful attempts of requests that failed in the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Lifetimes", "compute_cost", "lifetimes", "wasted_cost"]


@dataclass(frozen=True)
class Lifetimes:
    """Replica lifetimes: start, stop, price per second, and whether it was a cold start."""

    start: np.ndarray
    stop: np.ndarray
    price: np.ndarray
    cold: np.ndarray
    agent: list[str]

    def cost(self, a: float = 0.0, b: float = np.inf) -> float:
        """Compute cost of replica time inside ``[a, b)``."""
        overlap = np.clip(np.minimum(self.stop, b) - np.maximum(self.start, a), 0.0, None)
        return float((overlap * self.price).sum())

    def cold_starts(self, a: float = 0.0, b: float = np.inf) -> int:
        inside = (self.start >= a) & (self.start < b) & self.cold
        return int(inside.sum())


def lifetimes(events: Sequence[dict[str, Any]], run_end: float) -> Lifetimes:
    open_: dict[tuple[str, int], tuple[float, float, bool]] = {}
    rows: list[tuple[float, float, float, bool, str]] = []
    for ev in events:
        kind = ev.get("type")
        if kind not in ("replica_start", "replica_stop"):
            continue
        key = (str(ev.get("agent")), int(ev.get("replica", -1)))
        t = float(ev["t_s"])
        if kind == "replica_start":
            open_[key] = (t, float(ev.get("price_per_s") or 0.0), bool(ev.get("cold_start_s")))
        elif key in open_:
            start, price, cold = open_.pop(key)
            rows.append((start, t, price, cold, key[0]))
    for key, (start, price, cold) in open_.items():
        rows.append((start, run_end, price, cold, key[0]))
    if not rows:
        empty = np.empty(0)
        return Lifetimes(empty, empty, empty, np.empty(0, dtype=bool), [])
    starts, stops, prices, colds, agents = zip(*rows, strict=True)
    return Lifetimes(np.array(starts), np.array(stops), np.array(prices),
                     np.array(colds, dtype=bool), list(agents))


def compute_cost(life: Lifetimes, cold_start_usd: float, a: float = 0.0,
                 b: float = np.inf) -> float:
    return life.cost(a, b) + cold_start_usd * life.cold_starts(a, b)


def wasted_cost(requests: pd.DataFrame, spans: pd.DataFrame | None) -> tuple[float, bool]:
    """(wasted USD, exact?) — exact when spans (request_id, error_kind, cost_usd) are
    available. Spans of requests not in ``requests`` (a warm-up, say) do not count."""
    failed = requests["outcome"].astype(str).to_numpy() != "ok"
    cost = requests["cost_usd"].fillna(0.0).to_numpy()
    if spans is None or spans.empty:
        return float(cost[failed].sum()), spans is not None
    ids = spans["request_id"].to_numpy()
    scored = np.isin(ids, requests["id"].to_numpy())
    span_cost = spans["cost_usd"].fillna(0.0).to_numpy()
    span_failed = spans["error_kind"].notna().to_numpy()
    in_failed = np.isin(ids, requests["id"].to_numpy()[failed])
    return float(span_cost[scored & (span_failed | in_failed)].sum()), True
