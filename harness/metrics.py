"""The names of the figures Squall computes: what gates, comparisons and sweeps refer to.

A metric name is a dotted path (``latency.p95``, ``cost.per_good_request_usd``); its
:class:`Unit` says how values are written in gates (``97%``, ``8s``, ``0.02``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["METRICS", "PHASES", "WINDOW_METRICS", "Metric", "Unit", "format_value",
           "higher_is_better"]

#: Phases of a run, split by its faults: before the first fault, while any fault is
#: active, after the last fault ends until the SLI is compliant again, and after that.
#: Figures are given per phase, and gates may be scoped to one (``phase recovery:``).
PHASES = ("baseline", "fault", "recovery", "after")


class Unit(StrEnum):
    FRACTION = "fraction"  #: written 97% or 0.97
    SECONDS = "seconds"  #: written 8s, 250ms or a number of seconds
    USD = "usd"
    PER_SECOND = "per_second"
    COUNT = "count"
    SCORE = "score"  #: 0–100
    RATIO = "ratio"  #: a plain multiplier


@dataclass(frozen=True)
class Metric:
    name: str
    unit: Unit
    description: str
    higher_is_better: bool | None  #: None: neither (the number of arrivals, say)
    per_window: bool = False  #: also computed per SLA window (``every window:`` gates)


def _m(name: str, unit: Unit, description: str, higher: bool | None = False, *,
       window: bool = False) -> Metric:
    return Metric(name, unit, description, higher, window)


_ALL = [
    _m("attainment", Unit.FRACTION, "good requests / all arrivals", True, window=True),
    _m("success_rate", Unit.FRACTION, "ok requests / all arrivals", True, window=True),
    _m("error_rate", Unit.FRACTION, "requests not ok / all arrivals", window=True),
    _m("window_adherence", Unit.FRACTION, "SLA-compliant windows / windows", True),
    _m("goodput_rps", Unit.PER_SECOND, "good requests per second", True, window=True),
    _m("throughput_rps", Unit.PER_SECOND, "completed requests per second", True, window=True),
    _m("offered_rps", Unit.PER_SECOND, "arrivals per second", None, window=True),
    *(_m(f"latency.{q}", Unit.SECONDS, f"{q} latency of completed requests (from the intended "
         "start)", window=q != "p999") for q in ("p50", "p90", "p95", "p99", "p999", "max",
                                                 "mean")),
    *(_m(f"ttft.{q}", Unit.SECONDS, f"{q} time to first token (streaming runs)")
      for q in ("p50", "p95", "p99")),
    *(_m(f"itl.{q}", Unit.SECONDS, f"{q} inter-token latency (streaming runs)")
      for q in ("p50", "p95", "p99")),
    _m("recovery.max", Unit.SECONDS, "worst recovery time over faults (null: never recovered)"),
    _m("recovery.mean", Unit.SECONDS, "mean recovery time over faults that hurt the SLI"),
    _m("time_to_detect.max", Unit.SECONDS, "worst time from fault start to the first "
       "non-compliant window"),
    _m("recovery_after_end.max", Unit.SECONDS, "worst time to recover after a fault ended"),
    _m("cost.total_usd", Unit.USD, "LLM + tools + compute + cold starts"),
    _m("cost.llm_usd", Unit.USD, "tokens of every attempt × price"),
    _m("cost.compute_usd", Unit.USD, "replica-seconds × compute price, plus cold starts"),
    _m("cost.per_good_request_usd", Unit.USD, "total cost / good requests"),
    _m("cost.wasted_usd", Unit.USD, "cost of failed attempts and of requests that failed"),
    _m("cost.wasted_share", Unit.FRACTION, "wasted / total cost"),
    _m("resilience_score", Unit.SCORE, "the 0–100 composite", True),
    _m("burn_rate.short", Unit.RATIO, "error-budget burn rate over the short window (worst)"),
    _m("burn_rate.long", Unit.RATIO, "error-budget burn rate over the long window (worst)"),
    _m("amplification", Unit.RATIO, "agent call attempts per agent step: >1 means retries"),
    _m("fallback_rate", Unit.FRACTION, "requests that used a fallback / all arrivals"),
    _m("requests.total", Unit.COUNT, "arrivals", None),
    _m("requests.ok", Unit.COUNT, "requests with outcome ok", True),
    *(_m(f"requests.{o}", Unit.COUNT, f"requests with outcome {o}")
      for o in ("error", "timeout", "rejected", "dropped")),
]

#: Every metric, by name.
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}

#: Metrics that exist per window (for ``every window:`` gates); computed by
#: :data:`harness.scoring.window_figures.WINDOW_FIGURES`.
WINDOW_METRICS = frozenset(m.name for m in _ALL if m.per_window)


def higher_is_better(name: str) -> bool | None:
    return METRICS[name].higher_is_better


def format_value(name: str, value: float | None) -> str:
    """A figure in its metric's unit: ``97.20%``, ``8.4s``, ``$0.0132``, ``1,234``."""
    if value is None:
        return "-"
    unit = METRICS[name].unit if name in METRICS else Unit.RATIO
    if unit is Unit.FRACTION:
        return f"{100 * value:.2f}%"
    if unit is Unit.SECONDS:
        from harness.units import format_duration

        return format_duration(value)
    if unit is Unit.USD:
        return f"${value:,.4f}" if abs(value) < 100 else f"${value:,.2f}"
    if unit is Unit.COUNT:
        return f"{value:,.0f}"
    if unit is Unit.PER_SECOND:
        return f"{value:,.2f}/s"
    return f"{value:,.3g}"
