"""The orchestrator: runs a request through its workflow and calls agents resiliently.

Steps run in sequence; parallel branches join by all / any / quorum; delegation runs a
sub-workflow's steps; optional steps may fail. A call to an agent has a per-attempt
timeout, retries with backoff, a breaker (one per agent, shared by all requests), and a
fallback chain of agents. Low-priority requests may be routed to a cheaper agent or a
compact model. A failed workflow may be retried whole, or resumed after its last
completed step (checkpoint).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from faults.specs import ErrorMode
from harness.demand.arrivals import PRIORITIES, Priority
from harness.outcomes import ErrorKind
from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.policies.fallback import FallbackChain
from harness.policies.retry import RetryPolicy
from harness.scenario.system import AgentStep, DelegateStep, ParallelStep, Step
from harness.sim.agents import SimAgent
from harness.sim.clients import attempts, cut_call, retrying
from harness.sim.servers import SimEndpoint, hang
from harness.sim.world import Req, World

__all__ = ["Runner"]

Gen = Generator[simpy.Event, Any, Any]

DEADLINE = ErrorKind.DEADLINE.value
ERROR = ErrorKind.ERROR.value
MALFORMED = ErrorKind.MALFORMED.value
LOW = PRIORITIES.index(Priority.LOW)


class _AgentCaller:
    """The orchestrator's view of one agent: its retry policy, breaker and fallbacks."""

    def __init__(self, world: World, agent: SimAgent) -> None:
        spec = agent.spec
        self.agent = agent
        self.retry = RetryPolicy(spec.retry) if spec.retry else None
        self.breaker: CircuitBreaker | None = (
            world.breaker(agent.name, spec.circuit_breaker) if spec.circuit_breaker else None)
        self.fallback = FallbackChain(spec.fallback)
        self.rng = world.rng(f"orchestrator/{agent.name}/retry")
        self.target = f"agent.{agent.name}"
        lp = spec.low_priority
        self.low_agent = lp.agent if lp else None
        self.low_endpoint: SimEndpoint | None = (
            world.endpoints[lp.endpoint] if lp and lp.endpoint else None)


class Runner:
    """Executes workflow steps for requests; one per world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.env = world.env
        self.workflows = world.scenario.system.workflows
        self.callers = {name: _AgentCaller(world, a) for name, a in world.agents.items()}
        self._fault_rng = world.rng("orchestrator/faults")

    # --- workflows ---------------------------------------------------------------------

    def run_workflow(self, req: Req, name: str) -> Gen:
        """Run a workflow with its retry and checkpoint policy; None or the last error."""
        wf = self.workflows[name]
        retry = RetryPolicy(wf.retry) if wf.retry else None
        rng = self._fault_rng
        attempt, resume = 1, 0
        while True:
            err, done = yield from self.run_steps(req, wf.steps, resume)
            if err is None:
                return None
            delay = retrying(self.world, req, retry, attempt, err, req.deadline, rng)
            if delay is None:
                return DEADLINE if self.env.now >= req.deadline else err
            if delay > 0:
                yield self.env.timeout(delay)
            resume = done if wf.checkpoint else 0
            attempt += 1

    def run_steps(self, req: Req, steps: list[Step], first: int = 0) -> Gen:
        """Run ``steps[first:]`` in order: (None or the first required failure, how many
        steps completed)."""
        for i in range(first, len(steps)):
            step = steps[i]
            err = yield from self.run_step(req, step)
            if err is not None and not step.optional:
                return err, i
        return None, len(steps)

    def run_step(self, req: Req, step: Step) -> Gen:
        if isinstance(step, AgentStep):
            return (yield from self.call_agent(req, step.agent))
        if isinstance(step, DelegateStep):
            err, _ = yield from self.run_steps(req, self.workflows[step.workflow].steps)
            return err
        assert isinstance(step, ParallelStep)
        return (yield from self._parallel(req, step))

    def _parallel(self, req: Req, step: ParallelStep) -> Gen:
        env = self.env
        branches = step.parallel
        need = step.join.needed(len(branches))
        joined = env.event()
        tally = [0, 0]  # succeeded, failed
        first_error: list[str] = []

        def done(event: simpy.Event) -> None:
            if joined.triggered:
                return
            if event.value is None:
                tally[0] += 1
            else:
                tally[1] += 1
                first_error.append(event.value)
            if tally[0] >= need:
                joined.succeed(None)
            elif tally[1] > len(branches) - need:
                joined.succeed(first_error[0])

        for branch in branches:
            env.process(self._branch(req, branch)).callbacks.append(done)
        return (yield joined)

    def _branch(self, req: Req, step: Step) -> Gen:
        err = yield from self.run_step(req, step)
        return None if step.optional else err

    # --- agents ------------------------------------------------------------------------

    def call_agent(self, req: Req, name: str) -> Gen:
        """The orchestrator's call to an agent: attempts, then fallbacks."""
        env = self.env
        if env.now >= req.deadline:
            return DEADLINE
        caller = self.callers[name]
        endpoint = None
        if req.prio == LOW:
            if caller.low_agent is not None:
                caller = self.callers[caller.low_agent]
            endpoint = caller.low_endpoint
        req.steps += 1
        err = yield from self._attempts(req, caller, False, endpoint)
        if err is not None and caller.fallback:
            for alt in caller.fallback.candidates(env.now, self._available):
                if env.now >= req.deadline:
                    break
                alt_err = yield from self._attempts(req, self.callers[alt], True, None)
                if alt_err is None:
                    req.fallback = True
                    return None
        if err is not None and env.now >= req.deadline:
            return DEADLINE
        return err

    def _available(self, name: str, now: float) -> bool:
        breaker = self.callers[name].breaker
        return breaker is None or breaker.peek(now) is not BreakerState.OPEN

    def _attempts(self, req: Req, caller: _AgentCaller, fallback: bool,
                  endpoint: SimEndpoint | None) -> Gen:
        world, agent = self.world, caller.agent

        def attempt(number: int, limit: float) -> Gen:
            req.attempts += 1
            if world.partitions or world.workflow_effects:
                return self._faulted(req, caller, limit, number, fallback, endpoint)
            return agent.serve(req, limit, number, fallback, endpoint)

        return attempts(  # the generator itself: no extra layer per resumption
            world, req, kind="agent", component=agent.name, caller="orchestrator",
            fallback=fallback,
            retry=caller.retry, rng=caller.rng, breaker=caller.breaker,
            deadline=req.deadline, timeout=agent.timeout, attempt=attempt)

    def _faulted(self, req: Req, caller: _AgentCaller, deadline: float, number: int,
                 fallback: bool, endpoint: SimEndpoint | None) -> Gen:
        """An attempt while partitions or workflow-targeted faults are active."""
        world, env = self.world, self.env
        name = caller.agent.name
        cut = world.cut("orchestrator", caller.target) if world.partitions else None
        if cut is not None:
            return (yield from cut_call(world, req, cut, kind="agent", component=name,
                                        caller="orchestrator", number=number, limit=deadline,
                                        fallback=fallback))
        fx = world.workflow_effects.get(req.wf) if world.workflow_effects else None
        if fx is not None:
            start = env.now
            err: str | None = None
            delay = fx.latency(0.0, self._fault_rng)
            if delay > 0:
                if start + delay >= deadline:
                    yield env.timeout(max(deadline - start, 0.0))
                    err = ErrorKind.TIMEOUT.value
                else:
                    yield env.timeout(delay)
            how = fx.error(self._fault_rng) if err is None else None
            if how is ErrorMode.TIMEOUT:
                err = yield from hang(env, None, deadline)
            elif how is not None:
                err = ERROR if how is ErrorMode.ERROR else MALFORMED
            if err is not None:
                world.span(req.id, "agent", name, "orchestrator", -1, number, start, 0.0, err,
                           fallback)
                return err
        return (yield from caller.agent.serve(req, deadline, number, fallback, endpoint))
