"""Fitting distributions: each family recovers its own parameters from its own draws, a
shape no family has is kept empirically, and what comes out always loads as a scenario's
distribution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.calibrate.fit import fit_count, fit_duration
from harness.dists import (
    Constant,
    DistSpec,
    Empirical,
    Exponential,
    Gamma,
    LogNormal,
    Normal,
)


def _quantiles(dist: DistSpec, seed: int = 99) -> np.ndarray:
    return np.quantile(dist.sample(np.random.default_rng(seed), 200_000), [0.5, 0.95])


CASES = [
    LogNormal(dist="lognormal", median=0.6, p95=2.0),
    Gamma(dist="gamma", mean=0.08, cv=0.5),
    Exponential(dist="exponential", mean=0.3),
    Normal(dist="normal", mean=1.0, sd=0.1),
]


@pytest.mark.parametrize("truth", CASES, ids=lambda d: d.kind)
def test_a_family_is_recovered_from_its_own_draws(truth: DistSpec) -> None:
    values = truth.sample(np.random.default_rng(3), 5000)
    fit = fit_duration(values, seed=1)
    assert fit.family != "empirical"  # some family fits: no need to keep the values
    assert fit.n == 5000
    assert _quantiles(fit.dist) == pytest.approx(_quantiles(truth), rel=0.06)
    assert fit.ks < 0.05


@settings(max_examples=20, deadline=None)
@given(median=st.floats(0.005, 30.0), spread=st.floats(1.2, 6.0),
       n=st.integers(200, 3000), seed=st.integers(0, 2**32 - 1))
def test_any_lognormal_fits_within_what_its_sample_can_tell(median: float, spread: float,
                                                            n: int, seed: int) -> None:
    truth = LogNormal(dist="lognormal", median=median, p95=median * spread)
    values = truth.sample(np.random.default_rng(seed), n)
    fit = fit_duration(values, seed=seed)
    # whatever family wins, it reproduces the observed median and p95 closely
    assert fit.fitted["p50"] == pytest.approx(fit.observed["p50"], rel=0.12)
    assert fit.fitted["p95"] == pytest.approx(fit.observed["p95"], rel=0.15)
    type(fit.dist).model_validate(fit.dist.model_dump())  # it loads as written


def test_a_shape_no_family_has_is_kept_as_its_quantiles() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(0.2, 0.01, 2000), rng.normal(1.0, 0.05, 4000)])
    fit = fit_duration(values, seed=1)
    assert isinstance(fit.dist, Empirical)
    assert len(fit.dist.samples) == 400
    assert fit.worst_error < 0.03  # the tail too: each point stands for an equal share
    assert set(fit.tried) >= {"normal", "lognormal", "gamma"}


def test_values_that_barely_vary_are_a_constant() -> None:
    values = 0.8 + np.random.default_rng(1).uniform(0, 0.004, 1000)
    fit = fit_duration(values)
    assert isinstance(fit.dist, Constant)
    assert fit.dist.mean == pytest.approx(0.802, abs=0.001)


def test_counts_are_whole_numbers() -> None:
    assert fit_count([500] * 50).dist == Constant(mean=500)
    fit = fit_count(np.random.default_rng(2).integers(50, 251, 2000))
    assert fit.family == "uniform"
    draws = fit.dist.sample(np.random.default_rng(1), 1000)
    assert draws.min() >= 50
    assert draws.max() <= 250


def test_nothing_to_fit_is_an_error_not_a_distribution() -> None:
    with pytest.raises(ValueError, match="nothing observed"):
        fit_duration([float("nan")])
