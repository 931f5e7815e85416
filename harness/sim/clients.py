"""How an agent calls its LLMs and tools: the client side of resilience.

An LLM client behaves like LiteLLM's router: each attempt has a timeout; failures that
the retry policy names are retried with backoff (a 429's Retry-After is a floor); a
breaker per endpoint cools a failing endpoint down; when the primary endpoint is spent,
the fallbacks are tried in order, skipping any that is cooling down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import Any

import simpy

from faults.specs import CutMode
from harness.outcomes import ErrorKind
from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.policies.retry import RetryPolicy
from harness.scenario.system import LlmCall, ToolCall
from harness.sim.servers import SimEndpoint, SimTool, hang
from harness.sim.world import Req, World

__all__ = ["LlmClient", "ToolClient", "attempts", "cut_call", "retrying"]

Gen = Generator[simpy.Event, Any, Any]

TIMEOUT = ErrorKind.TIMEOUT.value
PARTITION = ErrorKind.PARTITION.value
CIRCUIT_OPEN = ErrorKind.CIRCUIT_OPEN.value
RATE_LIMITED = ErrorKind.RATE_LIMITED.value


def retrying(world: World, req: Req, retry: RetryPolicy | None, attempt: int, err: str,
             deadline: float, rng: Any) -> float | None:
    """The delay before another attempt after ``err``, or None to stop."""
    now = world.env.now
    if retry is None or now >= deadline or not retry.should_retry(attempt, err):
        return None
    delay = retry.delay(attempt, rng, req.retry_after if err == RATE_LIMITED else None)
    return None if now + delay >= deadline else delay


def attempts(world: World, req: Req, *, kind: str, component: str, caller: str,
             fallback: bool,
             retry: RetryPolicy | None, rng: Any, breaker: CircuitBreaker | None,
             deadline: float, timeout: float,
             attempt: Callable[[int, float], Gen]) -> Gen:
    """A generator calling ``attempt(number, limit)`` until it succeeds or the retry
    policy gives up; it returns None or the last error.

    Each attempt's ``limit`` is its timeout, capped by ``deadline``; a breaker that
    refuses an attempt fails it with ``circuit_open`` at once (a span of ``kind`` on
    ``component``). Without a retry policy or a breaker this is just the one attempt:
    no loop, no extra generator.
    """
    if retry is None and breaker is None:
        return attempt(1, min(deadline, world.env.now + timeout))
    return _attempt_loop(world, req, kind, component, caller, fallback, retry, rng, breaker,
                         deadline, timeout, attempt)


def _attempt_loop(world: World, req: Req, kind: str, component: str, caller: str,
                  fallback: bool,
                  retry: RetryPolicy | None, rng: Any, breaker: CircuitBreaker | None,
                  deadline: float, timeout: float,
                  attempt: Callable[[int, float], Gen]) -> Gen:
    env = world.env
    number = 1
    while True:
        start = env.now
        token = breaker.allow(start) if breaker is not None else 0
        if token is None:
            world.span(req.id, kind, component, caller, -1, number, start, 0.0, CIRCUIT_OPEN,
                       fallback)
            err: str | None = CIRCUIT_OPEN
        else:
            err = yield from attempt(number, min(deadline, start + timeout))
            if breaker is not None:
                breaker.record(env.now, token, err is None, env.now - start)
        if err is None:
            return None
        delay = retrying(world, req, retry, number, err, deadline, rng)
        if delay is None:
            return err
        if delay > 0:
            yield env.timeout(delay)
        number += 1


def cut_call(world: World, req: Req, mode: CutMode, *, kind: str, component: str,
             caller: str, number: int, limit: float, fallback: bool) -> Gen:
    """A call across a partition: refused at once, or hanging until ``limit``."""
    start = world.env.now
    err = PARTITION if mode is CutMode.FAIL_FAST else (yield from hang(world.env, None, limit))
    world.span(req.id, kind, component, caller, -1, number, start, 0.0, err, fallback)
    return err


class LlmClient:
    """An agent's LLM calls of one kind (one ``llm:`` entry)."""

    def __init__(self, world: World, agent: str, index: int, spec: LlmCall) -> None:
        self.world, self.agent = world, agent
        self.env = world.env
        self.spec = spec
        key = f"agent/{agent}/llm{index}"
        self.calls = world.sampler(spec.calls, f"{key}/calls").draw
        self.tin = world.sampler(spec.input_tokens, f"{key}/in").draw
        self.tout = world.sampler(spec.output_tokens, f"{key}/out").draw
        self.timeout = spec.timeout or math.inf
        self.retry = RetryPolicy(spec.retry) if spec.retry else None
        self.chain: list[SimEndpoint] = [world.endpoints[n]
                                         for n in (spec.endpoint, *spec.fallback)]
        self.breakers: dict[str, CircuitBreaker] = {}
        if spec.circuit_breaker is not None:
            for ep in self.chain:
                self.breakers[ep.name] = world.breaker(f"{agent}→{ep.name}",
                                                       spec.circuit_breaker)
        self._rng = world.rng(f"{key}/retry")
        self._source = f"agent.{agent}"

    def call(self, req: Req, deadline: float, endpoint: SimEndpoint | None = None) -> Gen:
        """One logical LLM call: retries, then fallbacks. ``endpoint`` reroutes it (a
        low-priority request sent to a compact model)."""
        tin = max(round(self.tin()), 0)
        tout = max(round(self.tout()), 1)
        chain: Sequence[SimEndpoint] = self.chain if endpoint is None else (endpoint,)
        err: str | None = None
        for k, ep in enumerate(chain):
            breaker = self.breakers.get(ep.name)
            if k > 0 and breaker is not None and breaker.peek(self.env.now) is BreakerState.OPEN:
                continue  # cooling down: skip this fallback
            err = yield from self._attempts(req, ep, tin, tout, deadline, k > 0)
            if err is None:
                if k > 0:
                    req.fallback = True
                return None
            if self.env.now >= deadline:
                return TIMEOUT
        return err

    def _attempts(self, req: Req, ep: SimEndpoint, tin: int, tout: int, deadline: float,
                  fallback: bool) -> Gen:
        world = self.world
        target = f"endpoint.{ep.name}"

        def attempt(number: int, limit: float) -> Gen:
            cut = world.cut(self._source, target) if world.partitions else None
            if cut is not None:
                return cut_call(world, req, cut, kind="llm", component=ep.name,
                                caller=self.agent, number=number, limit=limit,
                                fallback=fallback)
            return ep.call(req, tin, tout, limit, number, fallback, self.agent)

        return attempts(
            world, req, kind="llm", component=ep.name, caller=self.agent, fallback=fallback,
            retry=self.retry,
            rng=self._rng, breaker=self.breakers.get(ep.name), deadline=deadline,
            timeout=self.timeout, attempt=attempt)


class ToolClient:
    """An agent's calls to one tool."""

    def __init__(self, world: World, agent: str, index: int, spec: ToolCall) -> None:
        self.world = world
        self.env = world.env
        self.tool: SimTool = world.tools[spec.tool]
        self.calls = world.sampler(spec.calls, f"agent/{agent}/tool{index}/calls").draw
        self.timeout = spec.timeout or math.inf
        self.retry = RetryPolicy(spec.retry) if spec.retry else None
        self._rng = world.rng(f"agent/{agent}/tool{index}/retry")
        self.agent = agent
        self._source, self._target = f"agent.{agent}", f"tool.{spec.tool}"

    def call(self, req: Req, deadline: float) -> Gen:
        world, tool = self.world, self.tool

        def attempt(number: int, limit: float) -> Gen:
            cut = world.cut(self._source, self._target) if world.partitions else None
            if cut is not None:
                return cut_call(world, req, cut, kind="tool", component=tool.name,
                                caller=self.agent, number=number, limit=limit, fallback=False)
            return tool.call(req, limit, number, self.agent)

        return attempts(
            world, req, kind="tool", component=tool.name, caller=self.agent, fallback=False,
            retry=self.retry,
            rng=self._rng, breaker=None, deadline=deadline, timeout=self.timeout,
            attempt=attempt)
