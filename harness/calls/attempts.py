"""One logical call: attempts with retries, then fallbacks — a sans-IO state machine.

Like tenacity's ``iter()`` split into do-attempt and do-sleep, a :class:`Call` answers
"what now?" and the engine does it::

    act = call.start(now)
    while act is not DONE:
        if act is ATTEMPT:   err = <attempt call.target, number call.number, until call.limit>
        elif act is REFUSED: err = "circuit_open"   (record a refused span, no attempt)
        elif act is SLEEP:   <wait call.delay>; act = call.slept(now); continue
        act = call.outcome(now, err, retry_after)
    result = call.error   # None when some target answered

The rules, in one place:

- each attempt's limit is its target's timeout from now, capped by the call's deadline;
- a target with a breaker asks it for permission (an epoch token) and reports the
  outcome with that token; a refused attempt fails with ``circuit_open`` at once;
- a failure the target's retry policy names is retried after its backoff; a 429's
  Retry-After is a floor when the policy honours it; no retry starts or sleeps past the
  deadline;
- when a target is spent, the next fallback is tried, skipping any whose breaker is
  open (cooling down); once the deadline has passed, the call gives up with its
  ``expired`` error (``timeout`` inside an agent, ``deadline`` for a workflow step);
- the call's error is the last target's error.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from harness.demand.arrivals import PRIORITIES, Priority
from harness.outcomes import ErrorKind
from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.policies.retry import RetryPolicy
from harness.scenario.system import Agent as AgentSpec

__all__ = ["ATTEMPT", "DONE", "REFUSED", "SLEEP", "Call", "Chain", "Target", "retry_delay",
           "route"]

ATTEMPT, REFUSED, SLEEP, DONE = "attempt", "refused", "sleep", "done"
CIRCUIT_OPEN = ErrorKind.CIRCUIT_OPEN.value
RATE_LIMITED = ErrorKind.RATE_LIMITED.value
_OPEN = BreakerState.OPEN
_LOW = PRIORITIES.index(Priority.LOW)


def retry_delay(retry: RetryPolicy | None, attempt: int, err: str, *, now: float,
                deadline: float, rng: random.Random,
                retry_after: float | None = None) -> float | None:
    """The wait before another attempt after attempt ``attempt`` failed with ``err`` at
    ``now``, or None to stop (no policy, not retryable, spent, or past the deadline)."""
    if retry is None or now >= deadline or not retry.should_retry(attempt, err):
        return None
    delay = retry.delay(attempt, rng, retry_after if err == RATE_LIMITED else None)
    return None if now + delay >= deadline else delay


class Target:
    """One thing a call can be sent to, with the caller's policies for it."""

    __slots__ = ("breaker", "name", "retry", "rng", "subject", "timeout")

    def __init__(self, name: str, *, subject: object = None, retry: RetryPolicy | None = None,
                 breaker: CircuitBreaker | None = None, timeout: float | None = None,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.subject = subject  #: what the engine sends the attempt to (opaque here)
        self.retry = retry
        self.breaker = breaker
        self.timeout = math.inf if timeout is None else timeout
        self.rng = rng if rng is not None else random.Random(0)

    def __repr__(self) -> str:
        return f"Target({self.name!r})"


class Chain:
    """A primary target and its fallbacks, and the error a call gives up with once its
    deadline has passed."""

    __slots__ = ("expired", "primary", "simple", "targets")

    def __init__(self, targets: Sequence[Target], expired: str) -> None:
        if not targets:
            raise ValueError("a call needs at least one target")
        self.targets = tuple(targets)
        self.primary = self.targets[0]
        self.expired = expired
        #: One attempt on one target, nothing to decide between: an engine may run it
        #: without a :class:`Call` — ``first_limit``, one attempt, then ``settle``.
        self.simple = (len(self.targets) == 1 and self.primary.retry is None
                       and self.primary.breaker is None)

    def first_limit(self, now: float, deadline: float) -> float | None:
        """The first attempt's limit, or None if the deadline has passed already (the
        call then fails with ``expired`` and makes no attempt)."""
        if now >= deadline:
            return None
        return min(deadline, now + self.primary.timeout)

    def settle(self, now: float, deadline: float, err: str | None) -> str | None:
        """The call's error when its only attempt ended with ``err`` at ``now``."""
        return self.expired if err is not None and now >= deadline else err

    def call(self, deadline: float) -> Call:
        return Call(self, deadline)


class Call:
    """The state of one logical call through a :class:`Chain`."""

    __slots__ = ("_deadline", "_k", "_start", "_token", "chain", "delay", "error", "limit",
                 "number", "target")

    def __init__(self, chain: Chain, deadline: float) -> None:
        self.chain = chain
        self._deadline = deadline
        self._k = 0
        self.target = chain.primary  #: whom the current attempt goes to
        self.number = 1  #: the attempt's number on this target (1-based)
        self.limit = deadline  #: when the current attempt times out
        self.delay = 0.0  #: how long to sleep (after SLEEP)
        self.error: str | None = None  #: the call's result (after DONE)
        self._token: int | None = None
        self._start = 0.0

    @property
    def fallback(self) -> bool:
        """Whether the current target is a fallback (not the primary)."""
        return self._k > 0

    def start(self, now: float) -> str:
        if self.chain.first_limit(now, self._deadline) is None:
            self.error = self.chain.expired
            return DONE
        return self._try(now)

    def outcome(self, now: float, err: str | None, retry_after: float | None = None) -> str:
        """The current attempt (or refusal) ended at ``now`` with ``err`` (None: ok)."""
        target = self.target
        if self._token is not None:
            target.breaker.record(now, self._token, err is None,  # type: ignore[union-attr]
                                  now - self._start)
        if err is None:
            self.error = None
            return DONE
        delay = retry_delay(target.retry, self.number, err, now=now, deadline=self._deadline,
                            rng=target.rng, retry_after=retry_after)
        if delay is not None:
            self.number += 1
            if delay > 0:
                self.delay = delay
                return SLEEP
            return self._try(now)
        return self._fall_back(now, err)

    def slept(self, now: float) -> str:
        """The backoff sleep ended at ``now``."""
        return self._try(now)

    def _try(self, now: float) -> str:
        target = self.target
        self._start = now
        breaker = target.breaker
        if breaker is None:
            self._token = None
        else:
            self._token = breaker.allow(now)
            if self._token is None:
                return REFUSED
        self.limit = min(self._deadline, now + target.timeout)
        return ATTEMPT

    def _fall_back(self, now: float, err: str) -> str:
        if now >= self._deadline:
            self.error = self.chain.expired
            return DONE
        targets = self.chain.targets
        k = self._k + 1
        while k < len(targets):
            breaker = targets[k].breaker
            if breaker is None or breaker.peek(now) is not _OPEN:
                break
            k += 1  # cooling down: skip this fallback
        if k >= len(targets):
            self.error = err
            return DONE
        self._k, self.target, self.number = k, targets[k], 1
        return self._try(now)


def route(agents: Mapping[str, AgentSpec], name: str, priority: int) -> tuple[str, str | None]:
    """Where a call to agent ``name`` goes for a request of ``priority`` (an index of
    :data:`~harness.demand.arrivals.PRIORITIES`): (agent, endpoint override or None).

    A low-priority request goes to the agent's ``low_priority.agent`` when it names one,
    and that agent's LLM calls go to its ``low_priority.endpoint`` (a compact model).
    """
    if priority != _LOW:
        return name, None
    low = agents[name].low_priority
    if low is not None and low.agent is not None:
        name = low.agent
        low = agents[name].low_priority
    return name, low.endpoint if low is not None else None
