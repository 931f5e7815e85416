"""Figures over a set of requests: counts, attainment, rates, latency, cost per request.

:class:`Arrays` holds the request table as numpy arrays; :func:`subset_metrics` computes
every per-request metric for a boolean mask, keyed by gate name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.outcomes import OUTCOMES

__all__ = ["OUTCOMES", "Arrays", "subset_metrics"]

_QUANTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}

Figures = dict[str, float | None]


@dataclass(frozen=True)
class Arrays:
    intended: np.ndarray
    latency: np.ndarray  #: NaN where dropped
    outcome: np.ndarray  #: index into OUTCOMES
    ok: np.ndarray
    good: np.ndarray
    cost: np.ndarray
    attempts: np.ndarray
    steps: np.ndarray
    fallback: np.ndarray
    workflow: np.ndarray  #: index into workflows
    workflows: list[str]
    ttft: np.ndarray
    itl: np.ndarray

    def __len__(self) -> int:
        return len(self.intended)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, objective: float) -> Arrays:
        outcome_text = df["outcome"].astype(str).to_numpy()
        codes = np.full(len(df), OUTCOMES.index("error"), dtype=np.int8)
        for i, name in enumerate(OUTCOMES):
            codes[outcome_text == name] = i
        latency = df["latency_s"].astype(float).to_numpy()
        ok = codes == OUTCOMES.index("ok")
        good = ok & (latency <= objective)
        wf = df["workflow"].astype("category")
        return cls(
            intended=df["intended_s"].astype(float).to_numpy(),
            latency=latency,
            outcome=codes,
            ok=ok,
            good=good,
            cost=df["cost_usd"].fillna(0.0).astype(float).to_numpy(),
            attempts=df["attempts"].fillna(0).astype(np.int64).to_numpy(),
            steps=df["steps"].fillna(0).astype(np.int64).to_numpy(),
            fallback=df["fallback"].fillna(False).astype(bool).to_numpy(),
            workflow=wf.cat.codes.to_numpy(),
            workflows=[str(c) for c in wf.cat.categories],
            ttft=df["ttft_s"].astype(float).to_numpy() if "ttft_s" in df else
            np.full(len(df), np.nan),
            itl=df["itl_s"].astype(float).to_numpy() if "itl_s" in df else
            np.full(len(df), np.nan),
        )


def _rate(x: float, seconds: float) -> float | None:
    return x / seconds if seconds > 0 else None


def latency_figures(lat: np.ndarray, prefix: str = "latency") -> Figures:
    out: Figures = {}
    if lat.size:
        qs = np.percentile(lat, list(_QUANTILES.values()))
        for name, q in zip(_QUANTILES, qs, strict=True):
            out[f"{prefix}.{name}"] = float(q)
        out[f"{prefix}.max"] = float(lat.max())
        out[f"{prefix}.mean"] = float(lat.mean())
    else:
        for name in (*_QUANTILES, "max", "mean"):
            out[f"{prefix}.{name}"] = None
    return out


def subset_metrics(a: Arrays, mask: np.ndarray, seconds: float) -> Figures:
    """Every per-request figure for the requests in ``mask`` over ``seconds`` of run."""
    n = int(mask.sum())
    counts = np.bincount(a.outcome[mask], minlength=len(OUTCOMES))
    ok = int(counts[OUTCOMES.index("ok")])
    good = int((a.good & mask).sum())
    completed = n - int(counts[OUTCOMES.index("dropped")])
    figures: Figures = {f"requests.{name}": float(counts[i]) for i, name in enumerate(OUTCOMES)}
    figures["requests.total"] = float(n)
    figures["attainment"] = good / n if n else None
    figures["success_rate"] = ok / n if n else None
    figures["error_rate"] = 1 - ok / n if n else None
    figures["goodput_rps"] = _rate(good, seconds)
    figures["throughput_rps"] = _rate(completed, seconds)
    figures["offered_rps"] = _rate(n, seconds)
    figures.update(latency_figures(a.latency[a.ok & mask]))
    for prefix, values in (("ttft", a.ttft), ("itl", a.itl)):
        got = values[mask]
        got = got[~np.isnan(got)]
        for name in ("p50", "p95", "p99"):
            figures[f"{prefix}.{name}"] = float(np.percentile(got, _QUANTILES[name])) \
                if got.size else None
    steps = int(a.steps[mask].sum())
    figures["amplification"] = int(a.attempts[mask].sum()) / steps if steps else None
    figures["fallback_rate"] = float(a.fallback[mask].mean()) if n else None
    figures["cost.llm_usd"] = float(a.cost[mask].sum())
    return figures
