"""The orchestrator: runs a request through its workflow and calls agents resiliently.

The rules are :mod:`harness.calls`'s, shared with the live engine: the workflow is a
coroutine that yields what to do (call an agent, sleep, fork branches), and each agent
call is a :class:`~harness.calls.Call` through the agent's chain (its retry policy,
its breaker — one per agent, shared by all requests — and its fallback agents). This
module does those things on SimPy's clock, and applies partitions and workflow-targeted
faults to each attempt.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from faults.effects import decide
from faults.specs import CutMode, ErrorMode
from harness.calls import DONE, Call, Chain, Fork, Sleep, Target, WorkflowPlan, route, workflow
from harness.calls.workflow import Flow
from harness.outcomes import ErrorKind
from harness.policies.retry import RetryPolicy
from harness.scenario.system import AgentStep
from harness.sim.agents import SimAgent
from harness.sim.clients import cut_call, drive, refused_span
from harness.sim.parts import Parts
from harness.sim.servers import SimEndpoint, hang
from harness.sim.world import Req, World

__all__ = ["Runner"]

Gen = Generator[simpy.Event, Any, Any]

DEADLINE = ErrorKind.DEADLINE.value
ERROR = ErrorKind.ERROR.value
MALFORMED = ErrorKind.MALFORMED.value
UNAVAILABLE = ErrorKind.UNAVAILABLE.value
ORCHESTRATOR = "orchestrator"


class _AgentCaller:
    """The orchestrator's view of one agent: its target (retry policy, breaker, timeout)
    and, once every agent has one, its chain of fallback agents."""

    def __init__(self, world: World, agent: SimAgent) -> None:
        spec = agent.spec
        self.agent = agent
        self.target = Target(
            agent.name, subject=self, retry=RetryPolicy(spec.retry) if spec.retry else None,
            breaker=world.breaker(agent.name, spec.circuit_breaker)
            if spec.circuit_breaker else None,
            timeout=agent.timeout, rng=world.rng(f"orchestrator/{agent.name}/retry"))
        self.partition_key = f"agent.{agent.name}"
        self.chain = Chain([self.target], DEADLINE)


class Runner:
    """Executes workflows for requests; one per world."""

    def __init__(self, world: World, parts: Parts) -> None:
        self.world = world
        self.endpoints = parts.endpoints
        self.env = world.env
        self._fault_rng = world.rng("orchestrator/faults")
        self.plan = WorkflowPlan(world.scenario.system.workflows, self._fault_rng)
        self.callers = {name: _AgentCaller(world, a) for name, a in parts.agents.items()}
        for caller in self.callers.values():
            fallbacks = [self.callers[n].target for n in caller.agent.spec.fallback]
            caller.chain = Chain([caller.target, *fallbacks], DEADLINE)
        self._routes: dict[tuple[str, int], tuple[_AgentCaller, SimEndpoint | None]] = {}
        self._refused = refused_span(world, "agent", ORCHESTRATOR)
        self._clock = lambda: self.env.now

    # --- workflows ---------------------------------------------------------------------

    def run_workflow(self, req: Req, name: str) -> Gen:
        """Run a workflow with its retry and checkpoint policy; None or the last error."""
        return self._drive(req, workflow(self.plan, name, req, self._clock))

    def _drive(self, req: Req, flow: Flow) -> Gen:
        """Do what the workflow coroutine asks until it returns."""
        send, env = flow.send, self.env
        result: str | None = None
        while True:
            try:
                todo = send(result)
            except StopIteration as stop:
                return stop.value
            if type(todo) is AgentStep:
                result = yield from self.call_agent(req, todo.agent)
            elif type(todo) is Sleep:
                yield env.timeout(todo.delay)
                result = None
            else:
                assert type(todo) is Fork
                result = yield self._fork(req, todo)

    def _fork(self, req: Req, fork: Fork) -> simpy.Event:
        env, join = self.env, fork.join
        joined = env.event()

        def ended(event: simpy.Event) -> None:
            if not joined.triggered and join.add(event.value):
                joined.succeed(join.error)

        for branch in fork.branches:
            env.process(self._drive(req, branch)).callbacks.append(ended)
        return joined

    # --- agents ------------------------------------------------------------------------

    def call_agent(self, req: Req, name: str) -> Gen:
        """The orchestrator's call to an agent: attempts, then fallbacks."""
        key = (name, req.prio)
        routed = self._routes.get(key)
        if routed is None:
            agent, to = route(self.world.scenario.system.agents, name, req.prio)
            routed = self._routes[key] = (
                self.callers[agent], self.endpoints[to] if to else None)
        caller, endpoint = routed
        env, world, chain = self.env, self.world, caller.chain
        if chain.simple:  # one attempt: no Call, no closure
            limit = chain.first_limit(env.now, req.deadline)
            if limit is None:
                return chain.expired
            req.steps += 1
            req.attempts += 1
            if world.partitions or world.workflow_effects:
                err = yield from self._faulted(req, caller, limit, 1, False, endpoint)
            else:
                err = yield from caller.agent.serve(req, limit, 1, False, endpoint)
            return chain.settle(env.now, req.deadline, err)
        call = Call(chain, req.deadline)
        act = call.start(env.now)
        if act is not DONE:
            req.steps += 1

        def attempt(call: Call) -> Gen:
            req.attempts += 1
            target: _AgentCaller = call.target.subject  # type: ignore[assignment]
            ep = None if call.fallback else endpoint
            if world.partitions or world.workflow_effects:
                return self._faulted(req, target, call.limit, call.number, call.fallback, ep)
            return target.agent.serve(req, call.limit, call.number, call.fallback, ep)

        err = yield from drive(env, req, call, act, attempt, self._refused)
        if err is None and call.fallback:
            req.fallback = True
        return err

    def _faulted(self, req: Req, caller: _AgentCaller, deadline: float, number: int,
                 fallback: bool, endpoint: SimEndpoint | None) -> Gen:
        """An attempt while partitions or workflow-targeted faults are active."""
        world, env = self.world, self.env
        name = caller.agent.name
        cut = world.cut(ORCHESTRATOR, caller.partition_key) if world.partitions else None
        if cut is not None:
            return (yield from cut_call(world, req, cut, kind="agent", component=name,
                                        caller="orchestrator", number=number, limit=deadline,
                                        fallback=fallback))
        fx = world.workflow_effects.get(req.wf) if world.workflow_effects else None
        if fx is not None:
            start = env.now
            d = decide(fx, self._fault_rng)
            err: str | None = None
            if d is not None and d.refuse is not None:
                err = UNAVAILABLE if d.refuse is CutMode.FAIL_FAST else \
                    (yield from hang(env, None, deadline))
            else:
                delay = fx.latency(0.0, self._fault_rng)
                if delay > 0:
                    if start + delay >= deadline:
                        yield env.timeout(max(deadline - start, 0.0))
                        err = ErrorKind.TIMEOUT.value
                    else:
                        yield env.timeout(delay)
                how = d.error if d is not None and err is None else None
                if how is ErrorMode.TIMEOUT:
                    err = yield from hang(env, None, deadline)
                elif how is not None:
                    err = ERROR if how is ErrorMode.ERROR else MALFORMED
            if err is not None:
                world.span(req.id, "agent", name, ORCHESTRATOR, -1, number, start, 0.0, err,
                           fallback)
                return err
        return (yield from caller.agent.serve(req, deadline, number, fallback, endpoint))
