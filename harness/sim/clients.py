"""How an agent calls its LLMs and tools: the client side of resilience, on SimPy.

An LLM client behaves like LiteLLM's router: each attempt has a timeout; failures that
the retry policy names are retried with backoff (a 429's Retry-After is a floor); a
breaker per endpoint cools a failing endpoint down; when the primary endpoint is spent,
the fallbacks are tried in order, skipping any that is cooling down. Those rules live in
:mod:`harness.calls`, shared with the live engine; :func:`drive` runs them on SimPy's
clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from typing import Any

import simpy

from faults.specs import CutMode
from harness.calls import ATTEMPT, DONE, REFUSED, Call, Chain, Target
from harness.outcomes import ErrorKind
from harness.policies.breaker import CircuitBreaker
from harness.policies.retry import RetryPolicy
from harness.scenario.system import LlmCall, ToolCall
from harness.sim.servers import SimEndpoint, SimTool, hang
from harness.sim.world import Req, World

__all__ = ["LlmClient", "ToolClient", "cut_call", "drive", "refused_span"]

Gen = Generator[simpy.Event, Any, Any]

TIMEOUT = ErrorKind.TIMEOUT.value
PARTITION = ErrorKind.PARTITION.value
CIRCUIT_OPEN = ErrorKind.CIRCUIT_OPEN.value


def drive(env: simpy.Environment, req: Req, call: Call, act: str,
          attempt: Callable[[Call], Gen], refused: Callable[[Req, Call], None]) -> Gen:
    """Drive ``call`` (already started: ``act``) on SimPy's clock; returns its error.

    ``attempt(call)`` runs one attempt of ``call.target`` until ``call.limit``;
    ``refused(call)`` records an attempt its breaker refused.
    """
    while act is not DONE:
        if act is ATTEMPT:
            err = yield from attempt(call)
        elif act is REFUSED:
            refused(req, call)
            err = CIRCUIT_OPEN
        else:
            yield env.timeout(call.delay)
            act = call.slept(env.now)
            continue
        act = call.outcome(env.now, err, req.retry_after)
    return call.error


def _failed(err: str) -> Gen:
    """A call that fails at once, making no attempt."""
    return err
    yield  # a generator, for ``yield from``


def refused_span(world: World, kind: str, caller: str) -> Callable[[Req, Call], None]:
    """Records an attempt a breaker refused, as a ``circuit_open`` span of ``kind``."""
    def refused(req: Req, call: Call) -> None:
        now = world.env.now
        world.span(req.id, kind, call.target.name, caller, -1, call.number, now, 0.0,
                   CIRCUIT_OPEN, call.fallback)
    return refused


def cut_call(world: World, req: Req, mode: CutMode, *, kind: str, component: str,
             caller: str, number: int, limit: float, fallback: bool) -> Gen:
    """A call across a partition: refused at once, or hanging until ``limit``."""
    start = world.env.now
    err = PARTITION if mode is CutMode.FAIL_FAST else (yield from hang(world.env, None, limit))
    world.span(req.id, kind, component, caller, -1, number, start, 0.0, err, fallback)
    return err


class LlmClient:
    """An agent's LLM calls of one kind (one ``llm:`` entry)."""

    def __init__(self, world: World, agent: str, index: int, spec: LlmCall,
                 endpoints: Mapping[str, SimEndpoint]) -> None:
        self.world, self.agent = world, agent
        self.env = world.env
        self.spec = spec
        key = f"agent/{agent}/llm{index}"
        self.calls = world.sampler(spec.calls, f"{key}/calls").draw
        self.tin = world.sampler(spec.input_tokens, f"{key}/in").draw
        self.tout = world.sampler(spec.output_tokens, f"{key}/out").draw
        self.timeout = spec.timeout or math.inf
        self.retry = RetryPolicy(spec.retry) if spec.retry else None
        chain = [endpoints[n] for n in (spec.endpoint, *spec.fallback)]
        self.breakers: dict[str, CircuitBreaker] = {}
        if spec.circuit_breaker is not None:
            for ep in chain:
                self.breakers[ep.name] = world.breaker(f"{agent}→{ep.name}",
                                                       spec.circuit_breaker)
        self._rng = world.rng(f"{key}/retry")
        self._source = f"agent.{agent}"
        self.chain = Chain([self._target(ep) for ep in chain], TIMEOUT)
        self._reroutes: dict[str, Chain] = {}
        self._refused = refused_span(world, "llm", agent)

    def call(self, req: Req, deadline: float, endpoint: SimEndpoint | None = None) -> Gen:
        """One logical LLM call: retries, then fallbacks. ``endpoint`` reroutes it (a
        low-priority request sent to a compact model).

        A failure of a simple chain comes back unsettled (the attempt's own error): the
        caller passes it through ``self.chain.settle`` (the agent does, on its error path,
        which keeps the common call free of an extra generator)."""
        tin = max(round(self.tin()), 0)
        tout = max(round(self.tout()), 1)
        world, env = self.world, self.env
        chain = self.chain if endpoint is None else self._rerouted(endpoint)
        source = self._source
        if chain.simple and not world.partitions:  # one attempt: no Call, no closure
            ep: SimEndpoint = chain.primary.subject  # type: ignore[assignment]
            limit = chain.first_limit(env.now, deadline)
            if limit is None:
                return _failed(chain.expired)
            return ep.call(req, tin, tout, limit, 1, False, self.agent)

        def attempt(call: Call) -> Gen:
            ep: SimEndpoint = call.target.subject  # type: ignore[assignment]
            if world.partitions:
                cut = world.cut(source, f"endpoint.{ep.name}")
                if cut is not None:
                    return cut_call(world, req, cut, kind="llm", component=ep.name,
                                    caller=self.agent, number=call.number, limit=call.limit,
                                    fallback=call.fallback)
            return ep.call(req, tin, tout, call.limit, call.number, call.fallback, self.agent)

        call = Call(chain, deadline)
        return drive(env, req, call, call.start(env.now), attempt, self._refused)

    def _rerouted(self, endpoint: SimEndpoint) -> Chain:
        chain = self._reroutes.get(endpoint.name)
        if chain is None:
            chain = self._reroutes[endpoint.name] = Chain(
                [self._target(endpoint)], ErrorKind.TIMEOUT.value)
        return chain

    def _target(self, ep: SimEndpoint) -> Target:
        return Target(ep.name, subject=ep, retry=self.retry, breaker=self.breakers.get(ep.name),
                      timeout=self.timeout, rng=self._rng)


class ToolClient:
    """An agent's calls to one tool."""

    def __init__(self, world: World, agent: str, index: int, spec: ToolCall,
                 tools: Mapping[str, SimTool]) -> None:
        self.world = world
        self.env = world.env
        self.tool = tools[spec.tool]
        self.calls = world.sampler(spec.calls, f"agent/{agent}/tool{index}/calls").draw
        self.timeout = spec.timeout or math.inf
        self.retry = RetryPolicy(spec.retry) if spec.retry else None
        self._rng = world.rng(f"agent/{agent}/tool{index}/retry")
        self.agent = agent
        self._source, self._target = f"agent.{agent}", f"tool.{spec.tool}"
        self.chain = Chain([Target(spec.tool, subject=self.tool, retry=self.retry,
                                   timeout=self.timeout, rng=self._rng)], TIMEOUT)
        self._refused = refused_span(world, "tool", agent)

    def call(self, req: Req, deadline: float) -> Gen:
        """One logical tool call; a failure comes back unsettled, as with LLM calls."""
        world, tool, chain = self.world, self.tool, self.chain
        if chain.simple and not world.partitions:  # one attempt: no Call, no closure
            limit = chain.first_limit(self.env.now, deadline)
            if limit is None:
                return _failed(chain.expired)
            return tool.call(req, limit, 1, self.agent)

        def attempt(call: Call) -> Gen:
            cut = world.cut(self._source, self._target) if world.partitions else None
            if cut is not None:
                return cut_call(world, req, cut, kind="tool", component=tool.name,
                                caller=self.agent, number=call.number, limit=call.limit,
                                fallback=False)
            return tool.call(req, call.limit, call.number, self.agent)

        call = Call(chain, deadline)
        return drive(self.env, req, call, call.start(self.env.now), attempt, self._refused)
