"""Token buckets: what LLM providers enforce as requests and tokens per minute.

A bucket holds up to ``capacity`` tokens and refills ``rate`` per second. A request that
finds too few tokens is refused with the time until enough will have refilled: the
``Retry-After`` a provider sends with its 429.
"""

from __future__ import annotations

import math

__all__ = ["MINUTE_S", "Limits", "RateLimiter", "TokenBucket", "limiter_for"]

MINUTE_S = 60.0
#: (requests, tokens, per): up to ``requests`` and ``tokens`` per ``per`` seconds (a
#: minute; a time-scaled system's minute is ``60 / K`` seconds, its buckets the same size)
Limits = tuple[float | None, float | None, float]


class TokenBucket:
    __slots__ = ("_stamp", "capacity", "rate", "tokens")

    def __init__(self, capacity: float, rate: float, now: float = 0.0) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def wait(self, now: float, amount: float) -> float:
        """Seconds until ``amount`` tokens are there (0 if now; inf if never)."""
        self._refill(now)
        if amount > self.capacity:
            return math.inf
        missing = amount - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, now: float, amount: float) -> None:
        self._refill(now)
        self.tokens -= amount


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits, taken together or not at all."""

    __slots__ = ("requests", "tokens")

    def __init__(self, rpm: float | None, tpm: float | None, now: float = 0.0,
                 per: float = MINUTE_S) -> None:
        self.requests = TokenBucket(rpm, rpm / per, now) if rpm else None
        self.tokens = TokenBucket(tpm, tpm / per, now) if tpm else None

    def try_acquire(self, now: float, tokens: float) -> float:
        """0.0 if the call may go (its request and tokens are taken), else Retry-After."""
        wait = 0.0
        if self.requests is not None:
            wait = self.requests.wait(now, 1.0)
        if self.tokens is not None:
            wait = max(wait, self.tokens.wait(now, tokens))
        if wait > 0:
            return wait
        if self.requests is not None:
            self.requests.take(now, 1.0)
        if self.tokens is not None:
            self.tokens.take(now, tokens)
        return 0.0


def limiter_for(own: Limits | None, lowered: Limits | None, now: float) -> RateLimiter | None:
    """A fresh limiter for an endpoint with limits ``own`` (None: none) under a
    rate-limit fault's ``lowered`` limits (None: no such fault): the tighter of each,
    counted over ``own``'s period."""
    if lowered is None:
        return None if own is None else RateLimiter(*own[:2], now, own[2])
    if own is None:
        return RateLimiter(*lowered[:2], now, lowered[2])
    scale = own[2] / lowered[2]
    rpm, tpm = (None if low is None else low * scale for low in lowered[:2])
    rpm = rpm if own[0] is None or rpm is None else min(rpm, own[0])
    tpm = tpm if own[1] is None or tpm is None else min(tpm, own[1])
    return RateLimiter(rpm, tpm, now, own[2]) if rpm or tpm else None
