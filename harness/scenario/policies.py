"""Policy specs: how a caller retries and breaks circuits, how replicas share calls,
how an agent scales, where low-priority calls go. The agent system
(:mod:`harness.scenario.system`) composes them; :mod:`harness.policies` runs them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    PositiveFloat,
    PositiveInt,
    field_serializer,
    model_validator,
)

from harness.dists import Constant, DurationDist
from harness.outcomes import ErrorKind
from harness.spec import Name, Spec
from harness.units import Duration, Fraction, NonNegFloat, PositiveDuration, parse_percent

__all__ = [
    "Autoscaler",
    "Backoff",
    "Balancer",
    "BalancerKind",
    "CircuitBreaker",
    "Jitter",
    "LowPriority",
    "Retry",
    "ScaleMetric",
    "ScaleUp",
]


class Backoff(StrEnum):
    CONSTANT = "constant"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class Jitter(StrEnum):
    """AWS's names: ``full`` = U(0, d), ``equal`` = d/2 + U(0, d/2), ``none`` = d."""

    FULL = "full"
    EQUAL = "equal"
    NONE = "none"


_RETRYABLE = (
    ErrorKind.ERROR, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED,
    ErrorKind.UNAVAILABLE, ErrorKind.CRASH, ErrorKind.MALFORMED,
)


class Retry(Spec):
    """Retry with backoff. Defaults follow LangGraph's ``RetryPolicy`` (3 attempts
    including the first) with a 200 ms base; ``Retry-After`` of a 429 is honoured."""

    attempts: PositiveInt = 3
    backoff: Backoff = Backoff.EXPONENTIAL
    base: Duration = 0.2
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    cap: Duration = 30.0
    jitter: Jitter = Jitter.FULL
    on: tuple[ErrorKind, ...] = _RETRYABLE
    honor_retry_after: bool = True


class CircuitBreaker(Spec):
    """resilience4j semantics. ``window: 100`` counts the last 100 calls; ``window: 30s``
    counts the calls of the last 30 seconds. Defaults are resilience4j's."""

    failure_rate: Fraction = 0.5
    window: PositiveInt | PositiveDuration = 100
    min_calls: PositiveInt = 100
    open_for: PositiveDuration = 60.0
    half_open_calls: PositiveInt = 10
    slow_call_rate: Fraction = 1.0
    slow_call_duration: PositiveDuration = 60.0

    @model_validator(mode="before")
    @classmethod
    def _window_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("window"), int | float) \
                and not isinstance(data.get("window"), bool):
            window = data["window"]
            if window != int(window):
                raise ValueError("window: a count of calls is a whole number; write 30s for time")
            return {**data, "window": int(window)}
        return data

    @field_serializer("window")
    def _window_out(self, window: int | float) -> int | str:
        """A time window stays a duration (``"60.0s"``), so the canonical form never
        turns 60 seconds into 60 calls."""
        return window if isinstance(window, int) else f"{window}s"

    @property
    def time_based(self) -> bool:
        return isinstance(self.window, float)


class BalancerKind(StrEnum):
    QUEUE = "queue"  #: one shared FIFO queue; any free slot takes the next call (M/M/c)
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_BUSY = "least_busy"  #: fewest outstanding calls (join the shortest queue)
    P2C = "p2c"  #: power of two choices on outstanding calls
    EWMA = "ewma"  #: peak-EWMA latency × outstanding (Finagle / Linkerd)
    WEIGHTED = "weighted"  #: weighted random; replica i gets ``weights[i % len]``


class Balancer(Spec):
    """``balancer: p2c`` or ``balancer: {kind: weighted, weights: [3, 1]}``."""

    kind: BalancerKind = BalancerKind.QUEUE
    weights: list[PositiveFloat] | None = None
    decay: PositiveDuration = 10.0  #: EWMA time constant

    @model_validator(mode="after")
    def _weights(self) -> Balancer:
        if (self.kind is BalancerKind.WEIGHTED) != (self.weights is not None):
            raise ValueError("weights go with kind: weighted, and it needs them")
        return self


class ScaleMetric(StrEnum):
    QUEUE_PER_REPLICA = "queue_per_replica"  #: waiting calls per replica (KEDA-style)
    UTILIZATION = "utilization"  #: busy slots / all slots, as a fraction
    IN_FLIGHT = "in_flight"  #: waiting + running calls per replica


def _percent_units(value: Any) -> Any:
    """``100%`` or ``100``: a percentage in percent units (may exceed 100)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        body = value.strip()[:-1].strip()
        try:
            return float(body)
        except ValueError:
            raise ValueError(f"expected a percentage such as 100%, got {value!r}") from None
    return value


class ScaleUp(Spec):
    """HPA's default scale-up policy: the larger of +100% and +4 pods per 15 s."""

    percent: Annotated[NonNegFloat, BeforeValidator(_percent_units)] = 100.0
    pods: Annotated[int, Field(ge=0)] = 4
    period: PositiveDuration = 15.0


def _number_or_percent(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_percent(value)
    return value


class Autoscaler(Spec):
    """The Kubernetes HPA rule ``desired = ceil(current × metric / target)``. A
    utilization target is a fraction (``70%``); the others are calls per replica."""

    metric: ScaleMetric = ScaleMetric.QUEUE_PER_REPLICA
    target: Annotated[PositiveFloat, BeforeValidator(_number_or_percent)]
    interval: PositiveDuration = 15.0
    tolerance: Fraction = 0.1
    scale_down_window: Duration = 300.0
    scale_up: ScaleUp = ScaleUp()
    cold_start: DurationDist = Constant(mean=0.0)
    enabled: bool = True


class LowPriority(Spec):
    """Where low-priority calls go instead: a compact model or a cheaper agent."""

    agent: Name | None = None
    endpoint: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> LowPriority:
        if (self.agent is None) == (self.endpoint is None):
            raise ValueError("give agent or endpoint")
        return self
