from __future__ import annotations

import numpy as np
import pytest

from harness.scoring.stats import (
    bootstrap_mean,
    design_effect,
    permutation_p,
    pooled_proportion,
    wilson,
)


def test_wilson_matches_published_values() -> None:
    # Newcombe (1998), example: 81 of 263.
    lo, hi = wilson(81, 263)  # type: ignore[misc]
    assert lo == pytest.approx(0.2553, abs=1e-4)
    assert hi == pytest.approx(0.3662, abs=1e-4)
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12)  # type: ignore[index]
    assert wilson(10, 10)[1] == 1.0  # type: ignore[index]
    assert wilson(1, 0) is None


def test_the_design_effect_widens_intervals_for_overdispersed_replications() -> None:
    steady = [500, 500, 500, 500]
    swinging = [100, 900, 200, 800]
    n = [1000] * 4
    assert design_effect(steady, n) == 1.0
    assert design_effect(swinging, n) > 50
    tight, wide = pooled_proportion(steady, n), pooled_proportion(swinging, n)
    assert tight is not None
    assert wide is not None
    assert wide[1] - wide[0] > 5 * (tight[1] - tight[0])


def test_bootstrap_interval_covers_the_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(400):
        sample = rng.normal(10.0, 2.0, 20)
        lo, hi = bootstrap_mean(sample, rng, rounds=500)  # type: ignore[misc]
        covered += lo <= 10.0 <= hi
    assert covered / 400 == pytest.approx(0.95, abs=0.04)
    assert bootstrap_mean([1.0], rng) is None


def test_permutation_p_is_exact_for_small_samples() -> None:
    rng = np.random.default_rng(0)
    # Fully separated 4 vs 4: only 2 of the 70 relabellings are as extreme.
    assert permutation_p([1, 2, 3, 4], [10, 11, 12, 13], rng) == pytest.approx(2 / 70)
    assert permutation_p([1, 2, 3, 4], [1, 2, 3, 4], rng) == 1.0
    assert permutation_p([1], [2, 3], rng) is None
    big = permutation_p(rng.normal(0, 1, 30), rng.normal(1, 1, 30), rng, rounds=2000)
    assert big is not None
    assert big < 0.01
