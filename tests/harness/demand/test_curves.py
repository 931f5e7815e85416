from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from harness.demand import curves as c
from harness.scenario.demand import CurveSpec

SPEC = TypeAdapter(CurveSpec)


def build(raw: Any, seed: int = 0, base_dir: Path | None = None) -> c.Curve:
    spec = SPEC.validate_python(raw, context={"base_dir": base_dir})
    return spec.build(seed)  # type: ignore[no-any-return]


def at(curve: c.Curve, *ts: float) -> list[float]:
    return curve(np.array(ts)).tolist()  # type: ignore[no-any-return]


def test_basic_kinds_have_the_documented_shapes() -> None:
    assert at(c.Constant(5), 0, 100) == [5, 5]
    assert at(c.Ramp(0, 10, 10, at=5), 0, 10, 15, 20) == [0, 5, 10, 10]
    assert at(c.Piecewise(((0, 5), (10, 15))), -1, 5, 20) == [5, 10, 15]
    assert at(c.Step(((0, 5), (10, 15))), 9.99, 10, 11) == [5, 15, 15]
    assert at(c.Spike(10, 20, 8, rise=4, fall=4), 9, 12, 20, 28, 31) == [0, 4, 8, 4, 0]
    assert at(c.Burst(every=10, duration=2, height=3), 1, 5, 11, 13) == [3, 0, 3, 0]
    sine = c.Sine(10, 30, period=40)
    assert at(sine, 0, 10, 30) == pytest.approx([20, 30, 10])
    day = c.Diurnal(100, 500, peak_at=14 * 3600, start_at=8 * 3600)
    assert at(day, 6 * 3600) == pytest.approx([500])  # 08:00 + 6 h = 14:00
    assert at(day, 18 * 3600) == pytest.approx([100])  # 02:00


def test_operators_compose_curves() -> None:
    base = c.Constant(5)
    spike = c.Spike(10, 5, 20)
    assert at(base + spike, 0, 12) == [5, 25]
    assert at(2 * (base + spike), 12) == [50]
    assert at((base + spike) * 0.5, 12) == [12.5]
    assert at((base + spike).clip(0, 20), 12) == [20]
    assert at(base * c.Constant(3), 1) == [15]
    assert at(base + 1, 0) == [6]


def test_sequence_restarts_each_segment_clock() -> None:
    seq = c.Sequence(((c.Constant(1), 10), (c.Ramp(0, 10, 10), 10), (c.Constant(7), 5)))
    assert at(seq, 5, 10, 15, 20, 100) == [1, 0, 5, 7, 7]
    assert 10.0 in seq.breakpoints(0, 100).tolist()


def test_noise_has_mean_one_and_is_reproducible() -> None:
    noisy = c.Noise(c.Constant(10), sigma=0.3, every=1.0, seed=4)
    t = np.arange(0, 100_000, 1.0) + 0.5
    values = noisy(t)
    assert values.mean() == pytest.approx(10, rel=0.01)
    again = c.Noise(c.Constant(10), sigma=0.3, every=1.0, seed=4)
    assert again(t[::-1])[::-1].tolist() == values.tolist()  # any query order, same factors
    assert c.Noise(c.Constant(10), 0.3, 1.0, seed=5)(t[:50]).tolist() != values[:50].tolist()


@pytest.mark.parametrize(
    ("curve", "a", "b", "expected"),
    [
        (c.Constant(3), 0, 10, 30),
        (c.Ramp(0, 10, 10), 0, 10, 50),
        (c.Step(((0, 1), (5, 3))), 0, 10, 20),
        (c.Spike(2, 6, 10, rise=2, fall=2), 0, 20, 40),
        (c.Sine(0, 2, period=10), 0, 10, 10),
        (c.Constant(-4) + c.Constant(1), 0, 10, 0),  # negative rates count as zero
    ],
)
def test_integral_matches_closed_forms(curve: c.Curve, a: float, b: float,
                                       expected: float) -> None:
    assert curve.integral(a, b) == pytest.approx(expected, abs=1e-6 + 1e-4 * expected)


def test_yaml_forms_build_the_same_curves_as_code() -> None:
    t = np.linspace(0, 900, 301)
    pairs = [
        ({"constant": 5}, c.Constant(5)),
        ({"constant": "600/min"}, c.Constant(10)),
        ({"ramp": {"from": 1, "to": 9, "over": "2m", "at": "1m"}}, c.Ramp(1, 9, 120, 60)),
        ({"piecewise": [["0s", 5], ["2m", 5], ["3m", 40]]}, c.Piecewise(((0, 5), (120, 5),
                                                                         (180, 40)))),
        ({"step": [[0, 1], ["5m", 4]]}, c.Step(((0, 1), (300, 4)))),
        ({"spike": {"at": "4m", "duration": "1m", "height": 30, "rise": "10s"}},
         c.Spike(240, 60, 30, 10)),
        ({"burst": {"every": "5m", "duration": "30s", "height": 20}}, c.Burst(300, 30, 20)),
        ({"sine": {"min": 5, "max": 25, "period": "10m"}}, c.Sine(5, 25, 600)),
        ({"diurnal": {"min": 5, "max": 25, "period": "15m", "peak_at": "5m"}},
         c.Diurnal(5, 25, 300, 900)),
        ({"sum": [{"constant": 5}, {"spike": {"at": 60, "duration": 30, "height": 10}}]},
         c.Constant(5) + c.Spike(60, 30, 10)),
        ({"scale": {"by": 2, "curve": {"constant": 3}}}, c.Constant(6)),
        ({"clip": {"min": 2, "max": 4, "curve": {"ramp": {"to": 10, "over": 100}}}},
         c.Ramp(0, 10, 100).clip(2, 4)),
        ({"sequence": [{"for": "5m", "curve": {"constant": 1}},
                       {"for": "5m", "curve": {"constant": 3}}]},
         c.Sequence(((c.Constant(1), 300), (c.Constant(3), 300)))),
        ({"noise": {"sigma": 0.2, "every": "1m", "seed": 9, "curve": {"constant": 5}}},
         c.Noise(c.Constant(5), 0.2, 60, 9)),
    ]
    for raw, expected in pairs:
        assert build(raw)(t).tolist() == pytest.approx(expected(t).tolist()), raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"spikee": {"at": 1}}, "did you mean 'spike'"),
        ({"constant": 5, "ramp": {}}, "one key naming its kind"),
        ({"constant": -5}, "cannot be negative"),
        ({"constant": 0}, "greater than zero"),
        ({"spike": {"at": 0, "duration": "10s", "height": 5, "rise": "8s", "fall": "8s"}},
         "longer than the spike"),
        ({"burst": {"every": "10s", "duration": "20s", "height": 1}}, "longer than its period"),
        ({"sine": {"min": 10, "max": 5, "period": 10}}, "below min"),
        ({"piecewise": [[10, 1], [5, 2]]}, "must not go backwards"),
        ({"ramp": {"to": 5, "over": 0}}, "greater than zero"),
        ({"sequence": []}, "at least 1"),
        ("fast", "one key naming its kind"),
    ],
)
def test_bad_curves_are_rejected_with_a_reason(raw: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SPEC.validate_python(raw)


def test_breakpoints_are_where_the_curve_jumps() -> None:
    spike = c.Spike(10, 10, 5, rise=2, fall=2)
    assert sorted(spike.breakpoints(0, 100).tolist()) == [10, 12, 18, 20]
    assert spike.breakpoints(11, 19).tolist() == [12, 18]
    assert math.isclose(c.Burst(10, 2, 1).breakpoints(0, 25).max(), 22)
