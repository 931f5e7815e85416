from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.policies.retry import RetryPolicy
from harness.scenario.system import Retry


def policy(**kw: object) -> RetryPolicy:
    return RetryPolicy(Retry.model_validate(kw))


def test_exponential_backoff_doubles_up_to_the_cap() -> None:
    p = policy(base="100ms", cap="1s", jitter="none")
    assert [p.backoff(k) for k in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_linear_and_constant_backoff() -> None:
    assert [policy(backoff="linear", base=1, jitter="none").backoff(k) for k in (1, 2, 3)] == \
        [1, 2, 3]
    assert {policy(backoff="constant", base=2, jitter="none").backoff(k) for k in (1, 5)} == {2}


def test_attempts_include_the_first_and_only_listed_errors_retry() -> None:
    p = policy(attempts=3, on=["timeout", "rate_limited"])
    assert p.should_retry(1, "timeout")
    assert p.should_retry(2, "rate_limited")
    assert not p.should_retry(3, "timeout")  # the third attempt was the last
    assert not p.should_retry(1, "error")
    assert not p.should_retry(1, "circuit_open")  # not retryable by default either
    assert not policy().should_retry(1, "circuit_open")


@given(k=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_full_jitter_stays_within_zero_and_the_backoff(k: int, seed: int) -> None:
    p = policy(base="200ms", cap="30s")
    d = p.delay(k, random.Random(seed))
    assert 0 <= d <= p.backoff(k)


@given(k=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_equal_jitter_keeps_at_least_half(k: int, seed: int) -> None:
    p = policy(base="200ms", jitter="equal")
    assert p.backoff(k) / 2 <= p.delay(k, random.Random(seed)) <= p.backoff(k)


def test_full_jitter_averages_half_the_backoff() -> None:
    p = policy(base=1, jitter="full", backoff="constant")
    rng = random.Random(3)
    assert sum(p.delay(1, rng) for _ in range(20_000)) / 20_000 == pytest.approx(0.5, abs=0.01)


def test_retry_after_is_a_floor_when_honoured() -> None:
    assert policy(base="100ms", jitter="none").delay(1, random.Random(), retry_after=5) == 5
    assert policy(base="100ms", jitter="none", honor_retry_after=False).delay(
        1, random.Random(), retry_after=5) == pytest.approx(0.1)
