"""The driver process on its own, against a trivial loopback server: every arrival gets
exactly one result, and a driver behind its schedule catches up instead of dropping the
rest unsent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_live import drive, server, stop

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc, base = server()
    try:
        yield base
    finally:
        stop(proc)


def test_a_burst_beyond_the_driver_is_sent_late_not_dropped(url: str, tmp_path: Path) -> None:
    """1,500 arrivals due at the same instant: the driver cannot send them at once, but
    the server answers fast, so nearly all go out (late) rather than being dropped."""
    offsets = np.zeros(1500)
    _, lag, _ = drive(url, 1.0, 1500, tmp_path, offsets=offsets)
    sent = ~np.isnan(lag)
    assert sent.mean() > 0.95
    assert np.nanmax(lag) > 0  # late, and said so


def test_every_arrival_gets_one_result_and_none_is_early(url: str, tmp_path: Path) -> None:
    _, lag, _ = drive(url, 400.0, 400, tmp_path)
    assert not np.isnan(lag).any()
    assert lag.min() > -0.002  # never sent before it is due (bar the clock's grain)
