from __future__ import annotations

import math

import pytest

from harness.policies.ratelimit import RateLimiter, TokenBucket


def test_a_bucket_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    b = TokenBucket(capacity=10, rate=2.0)
    b.take(0.0, 10)
    assert b.wait(0.0, 1) == pytest.approx(0.5)
    assert b.wait(2.0, 4) == 0.0
    assert b.wait(100.0, 10) == 0.0  # never above capacity
    assert b.wait(100.0, 11) == math.inf


def test_rpm_limits_requests_and_tpm_limits_tokens_together() -> None:
    lim = RateLimiter(rpm=60, tpm=6000)  # 1 request and 100 tokens per second
    assert all(lim.try_acquire(0.0, 100) == 0.0 for _ in range(60))
    assert lim.try_acquire(0.0, 100) == pytest.approx(1.0)  # the 61st waits a second
    lim = RateLimiter(rpm=600, tpm=6000)
    assert lim.try_acquire(0.0, 6000) == 0.0
    assert lim.try_acquire(0.0, 500) == pytest.approx(5.0)  # tokens run out first


def test_a_refused_call_takes_nothing() -> None:
    lim = RateLimiter(rpm=60, tpm=100)
    assert lim.try_acquire(0.0, 80) == 0.0
    assert lim.try_acquire(0.0, 50) > 0  # too many tokens: refused...
    assert lim.try_acquire(0.0, 20) == 0.0  # ...and its request slot was not spent


def test_sustained_throughput_matches_the_limit() -> None:
    lim = RateLimiter(rpm=120, tpm=None)
    t, sent = 0.0, 0
    while t < 600:
        wait = lim.try_acquire(t, 0)
        if wait == 0:
            sent += 1
        else:
            t += wait
    assert sent == pytest.approx(120 + 2 * 600, abs=2)  # the burst, then 2/s
