from __future__ import annotations

import numpy as np
import pytest

from harness.scoring.stats import (
    bootstrap_mean,
    design_effect,
    permutation_p,
    pooled_proportion,
    prediction,
    t_quantile,
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


@pytest.mark.parametrize(("df", "table"), [  # Student's t, 0.975, from published tables
    (1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (9, 2.262), (19, 2.093),
    (29, 2.045), (120, 1.980)])
def test_t_quantiles_match_the_tables(df: int, table: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(table, rel=0.01 if df < 9 else 5e-4)
    assert t_quantile(0.025, df) == pytest.approx(-t_quantile(0.975, df))
    with pytest.raises(ValueError, match="degree of freedom"):
        t_quantile(0.975, 0)


@pytest.mark.parametrize("n", [3, 10, 30])
def test_one_more_draw_falls_inside_the_prediction_interval_95_percent_of_the_time(
        n: int) -> None:
    rng = np.random.default_rng(11)
    trials = 4000
    inside = inside_range = 0
    for _ in range(trials):
        sample = rng.normal(5.0, 3.0, n + 1)
        band = prediction(sample[:n])
        assert band is not None
        inside += band[0] <= sample[n] <= band[1]
        inside_range += sample[:n].min() <= sample[n] <= sample[:n].max()
    assert inside / trials == pytest.approx(0.95, abs=0.012)
    # a min–max alone leaves one more draw outside 2 times in n + 1
    assert inside_range / trials == pytest.approx((n - 1) / (n + 1), abs=0.02)
    assert prediction([1.0]) is None
    assert prediction([2.0, 2.0, float("inf")]) == (2.0, 2.0)  # finite values only
