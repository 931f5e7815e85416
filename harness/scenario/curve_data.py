"""Curve objects as scenario data: what lets Python users write a demand with operators
(``Constant(5) + Spike(...)``, ``Diurnal(...) * 1.2``, ``curve.clip(0, 450)``) and get
the same scenario, with the same digest, as the YAML that says it."""

from __future__ import annotations

import math
from typing import Any

from harness.demand import curves as c

__all__ = ["curve_data"]


def curve_data(curve: c.Curve) -> dict[str, Any]:
    """A curve object as the scenario data that builds it, so Python users can write
    ``Demand(curve=Constant(5) + Spike(at=240, duration=60, height=40))``. A curve with
    no scenario form (the product of two curves, a loaded trace) is a ``ValueError``."""
    def rates(points: tuple[tuple[float, float], ...]) -> list[list[float]]:
        return [[t, r] for t, r in points]

    match curve:
        case c.Constant(value=v):
            return {"constant": v}
        case c.Ramp():
            return {"ramp": {"from": curve.start_rate, "to": curve.end_rate,
                             "over": curve.over, "at": curve.at}}
        case c.Piecewise(points=points):
            return {"piecewise": rates(points)}
        case c.Step(points=points):
            return {"step": rates(points)}
        case c.Spike():
            return {"spike": {"at": curve.at, "duration": curve.duration,
                              "height": curve.height, "rise": curve.rise, "fall": curve.fall}}
        case c.Burst():
            return {"burst": {"every": curve.every, "duration": curve.duration,
                              "height": curve.height, "start": curve.start,
                              "rise": curve.rise}}
        case c.Sine():
            return {"sine": {"min": curve.low, "max": curve.high, "period": curve.period,
                             "phase": curve.phase}}
        case c.Diurnal():
            return {"diurnal": {"min": curve.low, "max": curve.high, "peak_at": curve.peak_at,
                                "period": curve.period, "start_at": curve.start_at}}
        case c.Sum(parts=parts):
            return {"sum": [curve_data(p) for p in parts]}
        case c.Scale():
            return {"scale": {"by": curve.factor, "curve": curve_data(curve.curve)}}
        case c.Clip():
            high = None if math.isinf(curve.high) else curve.high
            return {"clip": {"min": curve.low, "max": high, "curve": curve_data(curve.curve)}}
        case c.Sequence(segments=segments):
            return {"sequence": [{"for": d, "curve": curve_data(p)} for p, d in segments]}
        case c.Noise():
            return {"noise": {"sigma": curve.sigma, "every": curve.every, "seed": curve.seed,
                              "curve": curve_data(curve.curve)}}
    raise ValueError(f"a {type(curve).__name__} curve has no scenario form: multiply by a "
                     "number (scale), not by another curve; load traces from a file")
