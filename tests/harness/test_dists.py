from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from harness.dists import BlockSampler, Constant, CountDist, DistSpec, DurationDist

DURATION = TypeAdapter(DurationDist)
COUNT = TypeAdapter(CountDist)


def dist(raw: Any) -> DistSpec:
    return DURATION.validate_python(raw)  # type: ignore[no-any-return]


def test_a_bare_duration_is_a_constant() -> None:
    assert dist("1s") == dist({"dist": "constant", "mean": "1s"}) == Constant(mean=1.0)
    assert dist(0.25).is_constant


@pytest.mark.parametrize(
    "raw",
    [
        {"dist": "exponential", "mean": "200ms"},
        {"dist": "lognormal", "median": "150ms", "p95": "600ms"},
        {"dist": "lognormal", "mean": "300ms", "cv": 0.8},
        {"dist": "lognormal", "mean": "300ms", "p95": "700ms"},
        {"dist": "normal", "mean": "2s", "sd": "200ms"},
        {"dist": "gamma", "mean": "1s", "cv": 0.5},
        {"dist": "gamma", "shape": 4, "scale": "250ms"},
        {"dist": "uniform", "low": "100ms", "high": "300ms"},
        {"dist": "uniform", "mean": "1s", "width": "500ms"},
        {"dist": "empirical", "samples": [0.1, 0.2, 0.3, 1.4]},
        {"dist": "empirical", "samples": [1, 2, 3], "mean": "4s"},
    ],
)
def test_sample_mean_matches_the_declared_mean(raw: dict[str, Any]) -> None:
    spec = dist(raw)
    draws = spec.sample(np.random.default_rng(1), 200_000)
    assert draws.min() >= 0
    # Standard error of the mean is at most ~0.5% of the mean for these shapes.
    assert draws.mean() == pytest.approx(spec.mean_value(), rel=0.02)


def test_lognormal_by_median_and_p95_has_those_quantiles() -> None:
    spec = dist({"dist": "lognormal", "median": "600ms", "p95": "2s"})
    draws = spec.sample(np.random.default_rng(2), 400_000)
    assert np.median(draws) == pytest.approx(0.6, rel=0.01)
    assert np.percentile(draws, 95) == pytest.approx(2.0, rel=0.02)


def test_min_and_max_clip_every_kind() -> None:
    spec = dist({"dist": "normal", "mean": 1, "sd": 5, "max": 3})
    draws = spec.sample(np.random.default_rng(3), 10_000)
    assert draws.min() == 0.0
    assert draws.max() == 3.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"dist": "lognormal", "median": "1s", "p95": "500ms"}, "must be above median"),
        ({"dist": "lognormal", "mean": "1s", "p95": "10s"}, "no lognormal has mean"),
        ({"dist": "lognormal", "mean": "1s"}, "give median and p95"),
        ({"dist": "gamma", "mean": 1}, "give mean and cv"),
        ({"dist": "uniform", "low": 3, "high": 1}, "below low"),
        ({"dist": "exponential", "mean": 0}, "greater than 0"),
        ({"dist": "normal", "mean": 1, "sd": -1}, "greater than or equal to 0"),
        ({"dist": "lognorm", "median": 1}, "did you mean 'lognormal'"),
        ({"dist": "normal", "mean": 1, "sd": 1, "min": 5, "max": 2}, "below min"),
        ({"dist": "empirical", "samples": []}, "at least 1"),
    ],
)
def test_impossible_parameters_are_rejected_with_a_reason(raw: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        dist(raw)


def test_counts_refuse_units() -> None:
    assert COUNT.validate_python({"dist": "normal", "mean": 150, "sd": 30}).mean_value() == 150
    with pytest.raises(ValidationError, match="counts are plain numbers"):
        COUNT.validate_python({"dist": "normal", "mean": "150ms", "sd": 30})


def test_block_sampler_matches_vectorised_draws_and_skips_the_rng_for_constants() -> None:
    spec = dist({"dist": "gamma", "mean": "1s", "cv": 0.7})
    sampler = BlockSampler(spec, np.random.default_rng(9), block=64)
    one_by_one = [sampler.draw() for _ in range(200)]
    rng = np.random.default_rng(9)
    blocks = np.concatenate([spec.sample(rng, 64) for _ in range(4)])[:200]
    assert one_by_one == pytest.approx(blocks.tolist())

    rng = np.random.default_rng(4)
    before = rng.bit_generator.state
    constant = BlockSampler(Constant(mean=2.0), rng)
    assert [constant.draw() for _ in range(3)] == [2.0, 2.0, 2.0]
    assert rng.bit_generator.state == before


def test_every_kind_reports_a_finite_mean() -> None:
    for raw in ({"dist": "exponential", "mean": 1}, {"dist": "gamma", "shape": 2, "scale": 3}):
        assert math.isfinite(dist(raw).mean_value())
