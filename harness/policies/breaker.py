"""A circuit breaker with resilience4j's semantics.

CLOSED: calls pass; outcomes go into a sliding window (the last N calls, or the calls of
the last N seconds). Once the window holds ``min_calls`` outcomes (for a count window,
at most its size), a failure rate or slow-call rate at or above its threshold opens the
breaker. OPEN: calls are refused until ``open_for`` has passed; the next call then moves
it to HALF_OPEN. HALF_OPEN: ``half_open_calls`` trial calls pass, others are refused;
when all trials have reported, the same thresholds decide: OPEN again, or CLOSED with a
fresh window. Results of calls started in an earlier state are ignored.

The breaker never reads a clock: every method takes ``now``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum

from harness.scenario.system import CircuitBreaker as BreakerSpec

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Listener = Callable[[float, BreakerState, BreakerState], None]


class CircuitBreaker:
    __slots__ = ("_count", "_epoch", "_failed", "_listener", "_opened_at", "_permits",
                 "_slow", "_trials", "_window", "failure_rate", "half_open_calls", "min_calls",
                 "open_for", "size", "slow_duration", "slow_rate", "state", "time_based")

    def __init__(self, spec: BreakerSpec, listener: Listener | None = None) -> None:
        self.failure_rate = spec.failure_rate
        self.slow_rate = spec.slow_call_rate
        self.slow_duration = spec.slow_call_duration
        self.open_for = spec.open_for
        self.half_open_calls = spec.half_open_calls
        self.time_based = spec.time_based
        self.size = float(spec.window)
        self.min_calls = spec.min_calls if self.time_based else min(spec.min_calls,
                                                                      int(spec.window))
        self.state = BreakerState.CLOSED
        self._listener = listener
        self._window: deque[tuple[float, bool, bool]] = deque()  # (time, failed, slow)
        self._count = self._failed = self._slow = 0
        self._opened_at = 0.0
        self._permits = 0
        self._trials: list[tuple[bool, bool]] = []
        self._epoch = 0  #: bumps on every transition; a call reports with its epoch

    # --- transitions -------------------------------------------------------------------

    def _move(self, now: float, to: BreakerState) -> None:
        old, self.state = self.state, to
        self._epoch += 1
        if to is BreakerState.OPEN:
            self._opened_at = now
        elif to is BreakerState.HALF_OPEN:
            self._permits = self.half_open_calls
            self._trials = []
        else:
            self._window.clear()
            self._count = self._failed = self._slow = 0
        if self._listener is not None:
            self._listener(now, old, to)

    def _tripped(self, calls: int, failed: int, slow: int) -> bool:
        return failed / calls >= self.failure_rate or slow / calls >= self.slow_rate

    # --- the two calls a caller makes ---------------------------------------------------

    def allow(self, now: float) -> int | None:
        """Permission for one call: an epoch token to pass to :meth:`record`, or None."""
        state = self.state
        if state is BreakerState.OPEN:
            if now - self._opened_at < self.open_for:
                return None
            self._move(now, BreakerState.HALF_OPEN)
            state = BreakerState.HALF_OPEN
        if state is BreakerState.HALF_OPEN:
            if self._permits <= 0:
                return None
            self._permits -= 1
        return self._epoch

    def record(self, now: float, token: int, ok: bool, duration: float) -> None:
        """Report the outcome of a call that :meth:`allow` permitted with ``token``."""
        if token != self._epoch:
            return  # it started before a transition: its outcome belongs to another state
        failed, slow = not ok, duration >= self.slow_duration
        if self.state is BreakerState.HALF_OPEN:
            self._trials.append((failed, slow))
            if len(self._trials) >= self.half_open_calls:
                n = len(self._trials)
                bad = sum(f for f, _ in self._trials)
                slows = sum(s for _, s in self._trials)
                self._move(now, BreakerState.OPEN if self._tripped(n, bad, slows)
                           else BreakerState.CLOSED)
            return
        window = self._window
        window.append((now, failed, slow))
        self._count += 1
        self._failed += failed
        self._slow += slow
        if self.time_based:
            horizon = now - self.size
            while window and window[0][0] <= horizon:
                self._evict()
        elif self._count > self.size:
            self._evict()
        if self._count >= self.min_calls and self._tripped(self._count, self._failed,
                                                           self._slow):
            self._move(now, BreakerState.OPEN)

    def _evict(self) -> None:
        _, failed, slow = self._window.popleft()
        self._count -= 1
        self._failed -= failed
        self._slow -= slow

    def peek(self, now: float) -> BreakerState:
        """The state a call at ``now`` would see (no transition is made)."""
        if self.state is BreakerState.OPEN and now - self._opened_at >= self.open_for:
            return BreakerState.HALF_OPEN
        return self.state
