"""Retry with backoff and jitter (AWS's names: full, equal, none).

The delay before attempt ``k + 1`` after attempt ``k`` failed is
``min(cap, base × multiplier^(k−1))`` (exponential), ``min(cap, base × k)`` (linear) or
``base`` (constant), then jittered. A 429's ``Retry-After`` is a floor when honoured.
"""

from __future__ import annotations

import random

from harness.scenario.system import Backoff, Jitter
from harness.scenario.system import Retry as RetrySpec

__all__ = ["RetryPolicy"]


class RetryPolicy:
    __slots__ = ("_base", "_cap", "_kind", "_mult", "attempts", "honor_retry_after", "jitter",
                 "retry_on")

    def __init__(self, spec: RetrySpec) -> None:
        self.attempts = spec.attempts
        self.retry_on = frozenset(k.value for k in spec.on)
        self.honor_retry_after = spec.honor_retry_after
        self.jitter = spec.jitter
        self._kind = spec.backoff
        self._base, self._cap, self._mult = spec.base, spec.cap, spec.multiplier

    def should_retry(self, attempt: int, error: str) -> bool:
        """Whether to try again after attempt number ``attempt`` (1-based) failed."""
        return attempt < self.attempts and error in self.retry_on

    def backoff(self, attempt: int) -> float:
        """The un-jittered delay after attempt ``attempt`` failed."""
        if self._kind is Backoff.EXPONENTIAL:
            delay = self._base * self._mult ** (attempt - 1)
        elif self._kind is Backoff.LINEAR:
            delay = self._base * attempt
        else:
            delay = self._base
        return min(self._cap, delay)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after attempt ``attempt`` failed."""
        d = self.backoff(attempt)
        if self.jitter is Jitter.FULL:
            d = rng.uniform(0.0, d)
        elif self.jitter is Jitter.EQUAL:
            d = d / 2 + rng.uniform(0.0, d / 2)
        if retry_after is not None and self.honor_retry_after:
            d = max(d, retry_after)
        return d
