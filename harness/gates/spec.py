"""The gate language: one line that CI can fail on.

::

    attainment >= 97%
    latency.p95 < 8s
    recovery.max <= 90s
    cost.per_good_request_usd <= 0.05
    during orders-crash: error_rate < 5%        # while that fault is active
    phase recovery: latency.p99 < 20s           # baseline | fault | recovery | after
    every window: latency.p95 < 10s             # each SLA window must pass
    workflow support: attainment >= 99%         # one workflow's requests
    latency.p95 <= baseline * 1.10              # against a baseline run (compare)

Values take the metric's unit: fractions as ``97%`` or ``0.97``, latencies as durations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from harness.metrics import METRICS, PHASES, WINDOW_METRICS, Unit
from harness.suggest import did_you_mean
from harness.units import parse_duration, parse_percent, parse_rate

__all__ = ["PHASES", "Gate", "Op", "Scope", "parse_gate"]


class Scope(StrEnum):
    RUN = "run"
    PHASE = "phase"  #: a phase, or one fault's active window
    WINDOW = "window"  #: every SLA window
    WORKFLOW = "workflow"


class Op(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="

    def holds(self, value: float, threshold: float) -> bool:
        return bool(_OPS[self](value, threshold))


_OPS = {
    Op.LT: lambda a, b: a < b, Op.LE: lambda a, b: a <= b, Op.GT: lambda a, b: a > b,
    Op.GE: lambda a, b: a >= b, Op.EQ: lambda a, b: a == b, Op.NE: lambda a, b: a != b,
}


_GATE = re.compile(
    r"^\s*(?:(?P<scope>every\s+window|during\s+\S+|phase\s+\S+|workflow\s+\S+)\s*:\s*)?"
    r"(?P<metric>[A-Za-z_][\w.]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>\S.*?)\s*$"
)
_BASELINE = re.compile(r"^baseline\s*(?:(?P<op>[*+-])\s*(?P<arg>\S+))?$")


@dataclass(frozen=True)
class Gate:
    text: str
    metric: str
    op: Op
    threshold: float | None  #: absolute threshold; None for baseline-relative gates
    scope: Scope = Scope.RUN
    scope_name: str | None = None  #: phase name, fault id or workflow name
    baseline_op: str | None = None  #: ``*``, ``+`` or ``-`` (or ``""``: equal to baseline)
    baseline_arg: float = 1.0

    def format(self, value: float | None) -> str:
        """A value or threshold of this gate in its metric's unit."""
        from harness.metrics import format_value

        return format_value(self.metric, value)

    @property
    def relative(self) -> bool:
        return self.baseline_op is not None

    def threshold_for(self, baseline: float | None) -> float | None:
        """The threshold, given the baseline run's value for relative gates."""
        if not self.relative:
            return self.threshold
        if baseline is None:
            return None
        if self.baseline_op == "*":
            return baseline * self.baseline_arg
        if self.baseline_op == "+":
            return baseline + self.baseline_arg
        if self.baseline_op == "-":
            return baseline - self.baseline_arg
        return baseline


def _value(text: str, unit: Unit, metric: str) -> float:
    try:
        if unit is Unit.FRACTION:
            return parse_percent(text)
        if unit is Unit.SECONDS:
            return parse_duration(text)
        if unit is Unit.PER_SECOND:
            return parse_rate(text)
        return float(text.lstrip("$"))
    except ValueError as exc:
        raise ValueError(f"{metric} is in {unit.value}: {exc}") from None


def parse_gate(text: str) -> Gate:
    """Parse one gate; ``ValueError`` says what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"a gate is a string such as 'attainment >= 97%', got {text!r}")
    match = _GATE.match(text)
    if not match:
        raise ValueError(
            f"cannot read gate {text!r}: write '[SCOPE:] METRIC OP VALUE', "
            "e.g. 'latency.p95 < 8s' or 'during orders-crash: error_rate < 5%'"
        )
    metric = match["metric"]
    if metric not in METRICS:
        raise ValueError(
            f"unknown metric {metric!r}{did_you_mean(metric, METRICS)}; metrics: "
            + ", ".join(METRICS)
        )
    scope, scope_name = Scope.RUN, None
    if match["scope"]:
        words = match["scope"].split()
        if words[0] == "every":
            scope = Scope.WINDOW
            if metric not in WINDOW_METRICS:
                raise ValueError(
                    f"{metric} has no per-window value; per window: "
                    + ", ".join(sorted(WINDOW_METRICS))
                )
        elif words[0] == "workflow":
            scope, scope_name = Scope.WORKFLOW, words[1]
        else:
            scope, scope_name = Scope.PHASE, words[1]
    unit = METRICS[metric].unit
    value = match["value"]
    rel = _BASELINE.match(value)
    if rel:
        op = rel["op"] or ""
        arg = 1.0
        if rel["arg"] is not None:
            arg = float(rel["arg"]) if op == "*" else _value(rel["arg"], unit, metric)
        return Gate(text, metric, Op(match["op"]), None, scope, scope_name, op, arg)
    return Gate(text, metric, Op(match["op"]), _value(value, unit, metric), scope, scope_name)
