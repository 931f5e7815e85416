from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.scoring.hdr import LatencyHistogram


@given(seed=st.integers(0, 10**6), n=st.integers(1, 5000), sigma=st.floats(0.1, 3.0))
def test_percentiles_are_within_one_percent_of_exact(seed: int, n: int, sigma: float) -> None:
    values = np.random.default_rng(seed).lognormal(0.0, sigma, n)
    hist = LatencyHistogram()
    hist.record(values)
    for q in (1, 50, 90, 95, 99, 99.9, 100):
        exact = float(np.percentile(values, q, method="inverted_cdf"))  # nearest rank
        got = hist.percentile(q)
        assert got is not None
        assert got == pytest.approx(exact, rel=0.01)


def test_merged_histograms_equal_one_histogram_of_everything() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.exponential(2.0, 1000) for _ in range(4)]
    merged = LatencyHistogram()
    for part in parts:
        h = LatencyHistogram()
        h.record(part)
        merged.merge(h)
    whole = LatencyHistogram()
    whole.record(np.concatenate(parts))
    assert merged.total == whole.total == 4000
    assert (merged.counts == whole.counts).all()
    assert merged.percentile(99) == whole.percentile(99)


def test_zeros_empty_and_bad_input() -> None:
    h = LatencyHistogram()
    assert h.percentile(50) is None
    h.record([0.0, 0.0, 1.0])
    assert h.percentile(50) == 0.0
    assert h.percentile(100) == pytest.approx(1.0, rel=0.01)
    with pytest.raises(ValueError, match="non-negative"):
        h.record([-1.0])
    with pytest.raises(ValueError, match="same settings"):
        h.merge(LatencyHistogram(relative_error=0.05))
