"""Scenario faults on ``proxy.NAME``: the toxics that apply them live, and the fault the
simulator applies instead to the component the proxy stands for.

Both directions refuse what they cannot do faithfully (a proxy cannot multiply a
latency or lower a rate limit; the simulator has no bytes to slice), with the reason.
"""

from __future__ import annotations

from typing import Any

from faults.specs import (
    CommandFault,
    CutMode,
    ErrorFault,
    ErrorMode,
    FaultSpecBase,
    LatencyFault,
    OutageFault,
    RateLimitFault,
    ToxicFault,
)

__all__ = ["model_for", "toxics_for"]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def toxics_for(spec: FaultSpecBase) -> list[dict[str, Any]]:
    """The toxics (Toxiproxy's JSON, without names) that apply ``spec`` on a proxy."""
    if isinstance(spec, ToxicFault):
        return [spec.toxic_json()]
    if isinstance(spec, LatencyFault):
        if spec.multiply != 1:
            raise ValueError("a proxy adds latency, it cannot multiply it: use add")
        return [{"type": "latency", "stream": "downstream", "toxicity": spec.probability,
                 "attributes": {"latency": _ms(spec.add), "jitter": _ms(spec.jitter)}}]
    if isinstance(spec, ErrorFault):
        if spec.as_ is ErrorMode.TIMEOUT:
            return [{"type": "timeout", "stream": "downstream", "toxicity": spec.probability,
                     "attributes": {"timeout": 0}}]
        if spec.as_ is ErrorMode.MALFORMED:
            return [{"type": "http_corrupt", "stream": "downstream",
                     "toxicity": spec.probability, "attributes": {}}]
        return [{"type": "http_status", "stream": "upstream", "toxicity": spec.probability,
                 "attributes": {"status": 500}}]
    if isinstance(spec, RateLimitFault):
        if spec.probability is None:
            raise ValueError("a proxy cannot lower a dependency's rate limits (rpm, tpm): "
                             "give probability for a 429 storm")
        return [{"type": "http_status", "stream": "upstream", "toxicity": spec.probability,
                 "attributes": {"status": 429, "retry_after": spec.retry_after}}]
    if isinstance(spec, OutageFault):
        kind = "reset_peer" if spec.mode is CutMode.FAIL_FAST else "timeout"
        return [{"type": kind, "stream": "upstream", "toxicity": 1.0,
                 "attributes": {"timeout": 0}}]
    raise ValueError(f"a {spec.kind_name()} fault cannot be applied through a proxy; "
                     "proxies take latency, error, rate_limit, outage and toxic faults")


def model_for(spec: FaultSpecBase, component: str) -> FaultSpecBase:
    """The fault the simulator applies to ``component`` for ``spec`` on a proxy."""
    keep = {"id": spec.id, "at": spec.at, "duration": spec.duration,
            "description": spec.description, "target": component}
    if isinstance(spec, CommandFault):
        raise ValueError("the simulator cannot know what a command does")
    if not isinstance(spec, ToxicFault):
        toxics_for(spec)  # what a proxy cannot do, the model must not pretend it did
        return type(spec).model_validate({**spec.model_dump(by_alias=True), **keep})
    attrs, p = spec.attributes, spec.toxicity
    kind = spec.type
    if kind == "latency" and attrs.get("latency", 0) > 0:
        return LatencyFault.model_validate({**keep, "add": attrs["latency"] / 1000,
                                            "jitter": min(attrs.get("jitter", 0),
                                                          attrs["latency"]) / 1000,
                                            "probability": p})
    if kind in ("timeout", "reset_peer") and p == 1:
        mode = "hang" if kind == "timeout" else "fail_fast"
        return OutageFault.model_validate({**keep, "mode": mode})
    if kind in ("timeout", "reset_peer", "sse_cut", "http_corrupt") or (
            kind == "http_status" and attrs.get("status", 503) != 429):
        as_ = {"timeout": "timeout", "http_corrupt": "malformed"}.get(kind, "error")
        return ErrorFault.model_validate({**keep, "probability": p, "as": as_})
    if kind == "http_status":
        return RateLimitFault.model_validate({**keep, "probability": p,
                                              "retry_after": attrs.get("retry_after") or 1.0})
    raise ValueError(f"a {kind} toxic has no simulated equivalent (the model has no bytes "
                     "or connections to slow down): leave it to live runs")
