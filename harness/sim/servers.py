"""Servers that agents call: LLM endpoints and tools.

A call waits for a slot (FIFO within priority, with the endpoint's queue limit), then
takes its latency. A caller whose deadline passes first gives up at the deadline; the
server still finishes the work it started (the slot stays busy until then), which is
how timeouts waste capacity in real systems.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from harness.outcomes import ErrorKind
from harness.scenario.system import Endpoint, Tool
from harness.sim.station import GRANTED, Station, Waiter
from harness.sim.world import Req, World

__all__ = ["SimEndpoint", "SimTool", "acquire", "hold"]

Gen = Generator[simpy.Event, Any, Any]

TIMEOUT = ErrorKind.TIMEOUT.value
OVERLOADED = ErrorKind.OVERLOADED.value
ERROR = ErrorKind.ERROR.value


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
         req: Req) -> Gen:
    """Serve for ``duration`` holding a slot of ``station``, or give up at ``deadline``.

    Returns None when done (the slot is released) or ``timeout`` (the slot is released
    when the abandoned work would have finished).
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
        req.busy_until = max(req.busy_until, end)
        return TIMEOUT
    try:
        yield env.timeout(duration)
    finally:
        if station is not None:
            station.release()
    return None


class SimEndpoint:
    """An LLM endpoint: latency = ttft + per_token × (output − 1), or a whole latency."""

    def __init__(self, world: World, name: str, spec: Endpoint) -> None:
        self.world, self.name, self.spec = world, name, spec
        env = world.env
        self.env = env
        self.station = Station(env, spec.concurrency or math.inf, spec.queue_limit)
        first = spec.ttft if spec.ttft is not None else spec.latency
        assert first is not None
        self._first = world.sampler(first, f"endpoint/{name}/latency").draw
        self._per_token = world.sampler(spec.per_token, f"endpoint/{name}/itl").draw
        self._whole = spec.latency is not None
        self.price_in = spec.price.input_per_token
        self.price_out = spec.price.output_per_token
        self.error_rate = spec.error_rate
        self._rng = world.rng(f"endpoint/{name}/errors")
        self.cost = 0.0

    def latency(self, tokens_out: int) -> float:
        if self._whole:
            return self._first()
        return self._first() + self._per_token() * max(tokens_out - 1, 0)

    def call(self, req: Req, tin: int, tout: int, deadline: float, attempt: int,
             fallback: bool) -> Gen:
        """One LLM call attempt; returns None or an error kind."""
        env, world = self.env, self.world
        start = env.now
        err = yield from acquire(env, self.station, req.prio, deadline)
        queue_s = env.now - start
        if err is not None:
            world.span(req.id, "llm", self.name, -1, attempt, start, queue_s, err, fallback)
            return err
        err = yield from hold(env, self.station, self.latency(tout), deadline, req)
        if err is None and self.error_rate and self._rng.random() < self.error_rate:
            err = ERROR
        cost = tin * self.price_in + tout * self.price_out
        self.cost += cost
        req.cost += cost
        req.tin += tin
        req.tout += tout
        world.span(req.id, "llm", self.name, -1, attempt, start, queue_s, err, fallback, tin,
                   tout, cost)
        return err


class SimTool:
    """A tool (search, database, payment gateway): a latency and a price per call."""

    def __init__(self, world: World, name: str, spec: Tool) -> None:
        self.world, self.name, self.spec = world, name, spec
        self.env = world.env
        self.station = Station(world.env, spec.concurrency or math.inf, spec.queue_limit)
        self._latency = world.sampler(spec.latency, f"tool/{name}/latency").draw
        self.error_rate = spec.error_rate
        self.price = spec.price_per_call
        self._rng = world.rng(f"tool/{name}/errors")
        self.cost = 0.0

    def call(self, req: Req, deadline: float, attempt: int) -> Gen:
        env, world = self.env, self.world
        start = env.now
        err = yield from acquire(env, self.station, req.prio, deadline)
        queue_s = env.now - start
        if err is None:
            err = yield from hold(env, self.station, self._latency(), deadline, req)
            if err is None and self.error_rate and self._rng.random() < self.error_rate:
                err = ERROR
            self.cost += self.price
            req.cost += self.price
        world.span(req.id, "tool", self.name, -1, attempt, start, queue_s, err, False, 0, 0,
                   self.price if err != OVERLOADED else 0.0)
        return err
