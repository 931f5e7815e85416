"""How an agent calls its LLMs and tools: the client side of resilience.

An LLM client behaves like LiteLLM's router: each attempt has a timeout; failures that
the retry policy names are retried with backoff (a 429's Retry-After is a floor); a
breaker per endpoint cools a failing endpoint down; when the primary endpoint is spent,
the fallbacks are tried in order, skipping any that is cooling down.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any

import simpy

from faults.specs import CutMode
from harness.outcomes import ErrorKind
from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.policies.retry import RetryPolicy
from harness.scenario.system import LlmCall, ToolCall
from harness.sim.servers import SimEndpoint, SimTool, hang
from harness.sim.world import Req, World

__all__ = ["LlmClient", "ToolClient", "retrying"]

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
        env, world = self.env, self.world
        breaker = self.breakers.get(ep.name)
        target = f"endpoint.{ep.name}"
        attempt = 1
        while True:
            start = env.now
            limit = min(deadline, start + self.timeout)
            token = breaker.allow(start) if breaker is not None else 0
            if token is None:
                world.span(req.id, "llm", ep.name, -1, attempt, start, 0.0, CIRCUIT_OPEN,
                           fallback)
                err: str | None = CIRCUIT_OPEN
            else:
                cut = world.cut(self._source, target) if world.partitions else None
                if cut is not None:
                    err = PARTITION if cut is CutMode.FAIL_FAST else \
                        (yield from hang(env, None, limit))
                    world.span(req.id, "llm", ep.name, -1, attempt, start, 0.0, err, fallback)
                else:
                    err = yield from ep.call(req, tin, tout, limit, attempt, fallback)
                if breaker is not None:
                    breaker.record(env.now, token, err is None, env.now - start)
            if err is None:
                return None
            delay = retrying(world, req, self.retry, attempt, err, deadline, self._rng)
            if delay is None:
                return err
            if delay > 0:
                yield env.timeout(delay)
            attempt += 1


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
        self._source, self._target = f"agent.{agent}", f"tool.{spec.tool}"

    def call(self, req: Req, deadline: float) -> Gen:
        env, world = self.env, self.world
        attempt = 1
        while True:
            start = env.now
            limit = min(deadline, start + self.timeout)
            cut = world.cut(self._source, self._target) if world.partitions else None
            if cut is not None:
                err = PARTITION if cut is CutMode.FAIL_FAST else (yield from hang(env, None, limit))
                world.span(req.id, "tool", self.tool.name, -1, attempt, start, 0.0, err, False)
            else:
                err = yield from self.tool.call(req, limit, attempt)
            if err is None:
                return None
            delay = retrying(world, req, self.retry, attempt, err, deadline, self._rng)
            if delay is None:
                return err
            if delay > 0:
                yield env.timeout(delay)
            attempt += 1
