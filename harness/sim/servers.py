"""Servers that agents call: LLM endpoints and tools.

A call waits for a slot (FIFO within priority, bounded by the queue limit), then takes
its latency. A caller whose deadline passes first gives up at the deadline, but the
server finishes what it started: the slot stays busy, and an LLM's tokens are billed —
which is how timeouts and retries waste capacity and money in real systems.

How calls fail:
- ``error`` (a 5xx) comes back after the time to first byte;
- ``timeout`` (a hang) holds the connection until the caller's deadline;
- ``malformed`` takes the full latency, is billed, and is unusable;
- ``rate_limited`` (a 429) comes back at once with a Retry-After;
- ``overloaded`` (a 503) when the queue is full; ``unavailable`` during an outage.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from faults.effects import Disturbance, Effects, decide
from faults.specs import CutMode, ErrorMode
from harness.outcomes import ErrorKind
from harness.policies.ratelimit import Limits, limiter_for
from harness.scenario.system import Endpoint, Tool
from harness.sim.station import GRANTED, Station, Waiter
from harness.sim.world import Req, World

__all__ = ["SimEndpoint", "SimTool", "acquire", "hang", "hold"]

Gen = Generator[simpy.Event, Any, Any]

TIMEOUT = ErrorKind.TIMEOUT.value
OVERLOADED = ErrorKind.OVERLOADED.value
ERROR = ErrorKind.ERROR.value
MALFORMED = ErrorKind.MALFORMED.value
RATE_LIMITED = ErrorKind.RATE_LIMITED.value
UNAVAILABLE = ErrorKind.UNAVAILABLE.value


def acquire(env: simpy.Environment, station: Station, prio: int, deadline: float) -> Gen:
    """Wait for a slot of ``station``; return None when held, else why not."""
    if station.try_take():
        return None
    if station.full():
        return OVERLOADED
    waiter = station.wait(prio)
    if deadline < math.inf:
        env.timeout(deadline - env.now).callbacks.append(lambda _e: waiter.expire(TIMEOUT))
    try:
        result = yield waiter
    except simpy.Interrupt:
        _abandon(waiter)
        raise
    return None if result == GRANTED else result


def _abandon(waiter: Waiter) -> None:
    if waiter.triggered and waiter.value == GRANTED:
        waiter.station.release()
    else:
        waiter.expire("abandoned")


def hold(env: simpy.Environment, station: Station | None, duration: float, deadline: float,
         req: Req, *, own: bool = False) -> Gen:
    """Serve for ``duration`` holding a slot of ``station``, or give up at ``deadline``.

    Returns None when done (the slot is released) or ``timeout`` (the slot is released
    when the abandoned work would have finished). Work abandoned by its caller goes on
    where it runs, and only there: an agent's ``own`` work keeps the agent's replica busy
    (``req.busy_until``); an LLM or tool call it gave up on keeps the endpoint's or the
    tool's slot, not the agent's (the agent answers its caller at the deadline, as the
    reference system's agents do).
    """
    end = env.now + duration
    if end > deadline:
        try:
            yield env.timeout(max(deadline - env.now, 0.0))
        except simpy.Interrupt:
            if station is not None:
                station.release()
            raise
        if station is not None:
            station.release_at(end)
        if own:
            req.busy_until = max(req.busy_until, end)
        return TIMEOUT
    try:
        yield env.timeout(duration)
    finally:
        if station is not None:
            station.release()
    return None


def hang(env: simpy.Environment, station: Station | None, deadline: float) -> Gen:
    """A call that never answers: it holds its slot until the caller gives up at
    ``deadline`` (forever without one: the request ends as dropped)."""
    try:
        yield env.timeout(deadline - env.now) if deadline < math.inf else env.event()
    finally:
        if station is not None:
            station.release()
    return TIMEOUT


class _Server:
    """What endpoints and tools share: a station, fault effects, an error rate, a cost."""

    kind = "server"

    def __init__(self, world: World, name: str, concurrency: int | None,
                 queue_limit: int | None, error_rate: float) -> None:
        self.world, self.name = world, name
        self.env = world.env
        self.station = Station(world.env, concurrency or math.inf, queue_limit)
        self.error_rate = error_rate
        self.effects: Effects | None = None
        self._rng = world.rng(f"{self.kind}/{name}/errors")
        self.cost = 0.0

    def set_capacity_share(self, share: float) -> None:
        """Keep ``share`` of the nominal slots (a partial outage); 1.0 restores them."""
        nominal = self.nominal_capacity()
        if math.isfinite(nominal):
            self.station.set_capacity(max(0, math.floor(nominal * share + 1e-9)))

    def nominal_capacity(self) -> float:
        raise NotImplementedError

    def _disturbance(self) -> Disturbance | None:
        """What happens to the call arriving now (faults and the own error rate)."""
        if self.effects is None and not self.error_rate:
            return None
        return decide(self.effects, self._rng, self.error_rate)

    def _turned_away(self, req: Req, deadline: float, d: Disturbance) -> Gen:
        """A call refused at the door: an outage (refused or hanging) or a 429 storm.
        None if ``d`` lets the call in."""
        if d.refuse is not None:
            if d.refuse is CutMode.FAIL_FAST:
                return UNAVAILABLE
            return (yield from hang(self.env, None, deadline))
        if d.retry_after is not None:
            req.retry_after = d.retry_after
            return RATE_LIMITED
        return None


class SimEndpoint(_Server):
    """An LLM endpoint: latency = ttft + per_token × (output − 1), or a whole latency."""

    kind = "endpoint"

    def __init__(self, world: World, name: str, spec: Endpoint) -> None:
        super().__init__(world, name, spec.concurrency, spec.queue_limit, spec.error_rate)
        self.spec = spec
        first = spec.ttft if spec.ttft is not None else spec.latency
        assert first is not None
        self._first = world.sampler(first, f"endpoint/{name}/latency").draw
        self._per_token = world.sampler(spec.per_token, f"endpoint/{name}/itl").draw
        self._whole = spec.latency is not None
        self.price_in = spec.price.input_per_token
        self.price_out = spec.price.output_per_token
        limits = spec.rate_limit
        self._limits = limits.limits if limits else None
        self.limiter = limiter_for(self._limits, None, 0.0)
        self.fixed_retry_after = limits.retry_after if limits else None

    def nominal_capacity(self) -> float:
        return self.spec.concurrency or math.inf

    def lower_limits(self, limits: Limits | None) -> None:
        """Apply a rate-limit fault's lowered limits (None restores the endpoint's own)."""
        self.limiter = limiter_for(self._limits, limits, self.env.now)

    def latency(self, tokens_out: int) -> tuple[float, float]:
        """(time to first token, whole latency)."""
        first = self._first()
        if self._whole:
            return first, first
        return first, first + self._per_token() * max(tokens_out - 1, 0)

    def call(self, req: Req, tin: int, tout: int, deadline: float, attempt: int,
             fallback: bool, caller: str) -> Gen:
        """One LLM call attempt; returns None or an error kind."""
        env, world = self.env, self.world
        start = env.now
        d = self._disturbance()
        err = (yield from self._turned_away(req, deadline, d)) if d is not None else None
        if err is None and self.limiter is not None:
            err = self._throttled(req, tin + tout)
        if err is not None:
            world.span(req.id, "llm", self.name, caller, -1, attempt, start, 0.0, err, fallback)
            return err
        station = self.station
        if station.try_take():
            queue_s = 0.0
        else:
            err = yield from acquire(env, station, req.prio, deadline)
            queue_s = env.now - start
            if err is not None:
                world.span(req.id, "llm", self.name, caller, -1, attempt, start, queue_s, err,
                           fallback)
                return err
        first, whole = self.latency(tout)
        fx = self.effects
        if fx is not None:
            first, whole = fx.latency(first, self._rng), fx.latency(whole, self._rng)
        how = d.error if d is not None else None
        if how is ErrorMode.ERROR:
            err = yield from hold(env, self.station, first, deadline, req)
            err = err or ERROR
        elif how is ErrorMode.TIMEOUT:
            err = yield from hang(env, self.station, deadline)
        elif env.now + whole <= deadline:  # the common case: no generator, one event
            try:
                yield env.timeout(whole)
            finally:
                station.release()
            err = MALFORMED if how is ErrorMode.MALFORMED else None
        else:
            err = yield from hold(env, station, whole, deadline, req)
            if how is ErrorMode.MALFORMED and err is None:
                err = MALFORMED
        billed = d is None or d.billed  # work a caller abandoned is billed all the same
        cost = tin * self.price_in + tout * self.price_out if billed else 0.0
        if billed:
            self.cost += cost
            req.cost += cost
            req.tin += tin
            req.tout += tout
        world.span(req.id, "llm", self.name, caller, -1, attempt, start, queue_s, err, fallback,
                   tin if billed else 0, tout if billed else 0, cost)
        return err

    def _throttled(self, req: Req, tokens: int) -> str | None:
        """The endpoint's own rate limiter (lowered by a rate-limit fault)."""
        assert self.limiter is not None
        wait = self.limiter.try_acquire(self.env.now, tokens)
        if wait > 0:
            if math.isinf(wait):
                return ERROR  # larger than the token limit: a 400 no retry can fix
            fixed = self.fixed_retry_after
            req.retry_after = wait if fixed is None else fixed
            return RATE_LIMITED
        return None


class SimTool(_Server):
    """A tool (search, database, payment gateway): a latency and a price per call."""

    kind = "tool"

    def __init__(self, world: World, name: str, spec: Tool) -> None:
        super().__init__(world, name, spec.concurrency, spec.queue_limit, spec.error_rate)
        self.spec = spec
        self._latency = world.sampler(spec.latency, f"tool/{name}/latency").draw
        self.price = spec.price_per_call

    def nominal_capacity(self) -> float:
        return self.spec.concurrency or math.inf

    def call(self, req: Req, deadline: float, attempt: int, caller: str) -> Gen:
        env, world = self.env, self.world
        start = env.now
        d = self._disturbance()
        err = (yield from self._turned_away(req, deadline, d)) if d is not None else None
        if err is not None:
            world.span(req.id, "tool", self.name, caller, -1, attempt, start, 0.0, err, False)
            return err
        if self.station.try_take():
            err, queue_s = None, 0.0
        else:
            err = yield from acquire(env, self.station, req.prio, deadline)
            queue_s = env.now - start
        cost = 0.0
        if err is None:
            latency = self._latency()
            fx = self.effects
            if fx is not None:
                latency = fx.latency(latency, self._rng)
            how = d.error if d is not None else None
            if how is ErrorMode.TIMEOUT:
                err = yield from hang(env, self.station, deadline)
            else:
                err = yield from hold(env, self.station, latency, deadline, req)
                if err is None and how is not None:
                    err = ERROR if how is ErrorMode.ERROR else MALFORMED
            if d is None or d.billed:
                cost = self.price
                self.cost += cost
                req.cost += cost
        world.span(req.id, "tool", self.name, caller, -1, attempt, start, queue_s, err, False, 0, 0,
                   cost)
        return err
