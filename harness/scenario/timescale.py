"""Playing a system K times faster: every time in it divided by K, every rate times K.

A live run under ``--time-scale K`` sends the scenario's arrivals at ``t / K`` and runs
the system and the fault parameters given by :func:`time_scaled`: service times, LLM and
tool latencies, timeouts, backoffs, deadlines, cold starts, breaker windows and open
times, autoscaler intervals and windows, fault latencies and Retry-Afters are divided by
K — a rate limit's minute too (``per``), so its buckets keep their size and refill K
times faster. Queueing dynamics are unchanged
(Little's law: K times the rate over 1/K the time), so records multiplied back to
scenario time compare directly with a simulation. Counts (tokens, replicas, slots, call
counts) and dimensionless numbers (fractions, factors, shape parameters) stay.

The walk is typed: a field is scaled because its annotation is a duration
(:data:`~harness.units.Duration`), a rate (:data:`~harness.units.Rate`) or a duration
distribution (whose ``Value`` fields are seconds), so a field added later with one of
those types is scaled without touching this module.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, WithJsonSchema
from pydantic.fields import FieldInfo

from harness import units
from harness.dists import DistSpec, DurationDist, Value
from harness.scenario.policies import CircuitBreaker

__all__ = ["time_scaled"]

_DURATION, _RATE, _DIST = "duration", "rate", "duration distribution"
_VALUE_META = typing.get_args(Value)[1:]  #: what marks a distribution's seconds
_DIST_META = typing.get_args(DurationDist)[1:]  #: what marks a duration distribution


def _schema_mark(alias: Any) -> Any:
    """The JSON-schema marker a unit type carries (Duration and PositiveDuration share
    theirs, as do Rate and PositiveRate)."""
    return next(m for m in typing.get_args(alias)[1:] if isinstance(m, WithJsonSchema))


_DURATION_MARK = _schema_mark(units.Duration)
_RATE_MARK = _schema_mark(units.Rate)


def _kind_of(annotation: Any, metadata: list[Any]) -> str | None:
    for meta in metadata:
        if meta is _DURATION_MARK:
            return _DURATION
        if meta is _RATE_MARK:
            return _RATE
        if any(meta is m for m in _DIST_META):
            return _DIST
    for arg in typing.get_args(annotation):
        found = _kind_of(arg, list(getattr(arg, "__metadata__", ())))
        if found is not None:
            return found
    return None


def _field_kind(field: FieldInfo) -> str | None:
    return _kind_of(field.annotation, list(field.metadata))


def time_scaled(model: Any, k: float) -> Any:
    """``model`` (a system, a fault spec, any scenario part) with its times divided by
    ``k`` and its rates multiplied by ``k``; ``k == 1`` returns it unchanged."""
    if k <= 0:
        raise ValueError(f"a time scale must be positive, got {k}")
    return model if k == 1 else _walk(model, k)


def _walk(value: Any, k: float, kind: str | None = None) -> Any:
    if isinstance(value, BaseModel):
        return _model(value, k, kind)
    if isinstance(value, dict):
        return {key: _walk(v, k, kind) for key, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, k, kind) for v in value]
    if isinstance(value, tuple):
        return tuple(_walk(v, k, kind) for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if kind == _DURATION:
        return value / k
    if kind == _RATE:
        return value * k
    return value


def _model(model: BaseModel, k: float, kind: str | None) -> BaseModel:
    if isinstance(model, DistSpec):
        return _dist(model, k) if kind == _DIST else model
    updates: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        field_kind = _field_kind(field)
        if isinstance(model, CircuitBreaker) and name == "window":
            field_kind = _DURATION if model.time_based else None  # calls are not seconds
        new = _walk(value, k, field_kind)
        if new is not value and new != value:
            updates[name] = new
    return model.model_copy(update=updates) if updates else model


def _dist(dist: DistSpec, k: float) -> DistSpec:
    """A duration distribution ``k`` times faster: every ``Value`` field (seconds) / k."""
    updates: dict[str, Any] = {}
    for name, field in type(dist).model_fields.items():
        value = getattr(dist, name)
        if value is not None and _is_seconds(field.annotation, list(field.metadata)):
            updates[name] = [v / k for v in value] if isinstance(value, list) else value / k
    return dist.model_copy(update=updates)


def _is_seconds(annotation: Any, metadata: list[Any]) -> bool:
    """Whether a distribution field is a ``Value`` (or holds ``Value`` items)."""
    if any(m is v for m in metadata for v in _VALUE_META):
        return True
    return any(_is_seconds(arg, list(getattr(arg, "__metadata__", ())))
               for arg in typing.get_args(annotation))
