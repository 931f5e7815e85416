from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.units import format_duration, parse_duration, parse_percent, parse_rate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25), ("30s", 30.0), ("10m", 600.0), ("1h30m", 5400.0), ("1.5h", 5400.0),
        ("2d", 172800.0), ("1m30.5s", 90.5), ("1h 5m", 3900.0), ("500us", 0.0005),
        ("45", 45.0), (12, 12.0), (0.5, 0.5), ("0s", 0.0), ("3min", 180.0), ("2sec", 2.0),
        ("1e3ms", 1.0), ("2.5e-1s", 0.25),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "bad", ["-5s", "5 parsecs", "", "s", "1h30", "m5", "1.2.3s", True, None, [1], math.inf,
            math.nan, "-1", "5s and more"],
)
def test_parse_duration_rejects_malformed_or_negative_values(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "rate"),
    [(5, 5.0), ("5", 5.0), ("600/min", 10.0), ("36000/h", 10.0), ("50/10s", 5.0),
     ("86400/day", 1.0), ("2/s", 2.0), ("0.5/hour", 0.5 / 3600)],
)
def test_parse_rate_converts_to_per_second(text: object, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("bad", ["-3", "5/0s", "five/min", "5/", "/min", "5/fortnight", False])
def test_parse_rate_rejects_bad_rates(bad: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(bad)


@pytest.mark.parametrize(
    ("text", "fraction"), [("97%", 0.97), ("99.9%", 0.999), (0.5, 0.5), ("0.25", 0.25), (1, 1.0)]
)
def test_parse_percent_reads_percentages_and_fractions(text: object, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction)


def test_parse_percent_suggests_the_percent_sign_for_numbers_above_one() -> None:
    with pytest.raises(ValueError, match=r"did you mean 97%"):
        parse_percent(97)


@pytest.mark.parametrize("bad", ["101%", "-1%", "abc%", 1.5, "x"])
def test_parse_percent_rejects_values_outside_zero_to_one(bad: object) -> None:
    with pytest.raises(ValueError, match="percentage"):
        parse_percent(bad)


@given(h=st.integers(0, 48), m=st.integers(0, 59), s=st.integers(0, 59), ms=st.integers(0, 999))
def test_compound_durations_add_their_parts(h: int, m: int, s: int, ms: int) -> None:
    text = f"{h}h{m}m{s}s{ms}ms"
    assert parse_duration(text) == pytest.approx(h * 3600 + m * 60 + s + ms / 1000)


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_numbers_are_seconds_and_format_duration_never_fails(x: float) -> None:
    assert parse_duration(x) == x
    assert isinstance(format_duration(x), str)


def test_format_duration_is_short_and_readable() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(42) == "42s"
    assert format_duration(200) == "3m20s"
    assert format_duration(3900) == "1h05m"
    assert format_duration(None) == "-"
