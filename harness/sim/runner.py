"""Running one request through its workflow: steps in sequence, parallel branches joined
by all / any / quorum, delegation to sub-workflows, optional steps."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from harness.outcomes import ErrorKind
from harness.scenario.system import AgentStep, DelegateStep, ParallelStep, Step
from harness.sim.world import Req, World

__all__ = ["Runner"]

Gen = Generator[simpy.Event, Any, Any]

DEADLINE = ErrorKind.DEADLINE.value


class Runner:
    """Executes workflow steps for requests; one per world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.env = world.env
        self.workflows = world.scenario.system.workflows

    def run_steps(self, req: Req, steps: list[Step]) -> Gen:
        """Run ``steps`` in order; return None or the error of the first required failure."""
        for step in steps:
            err = yield from self.run_step(req, step)
            if err is not None and not step.optional:
                return err
        return None

    def run_step(self, req: Req, step: Step) -> Gen:
        if isinstance(step, AgentStep):
            return (yield from self.call_agent(req, step.agent))
        if isinstance(step, DelegateStep):
            return (yield from self.run_steps(req, self.workflows[step.workflow].steps))
        assert isinstance(step, ParallelStep)
        return (yield from self._parallel(req, step))

    def call_agent(self, req: Req, name: str) -> Gen:
        """The orchestrator's call to an agent (one attempt in this engine version)."""
        agent = self.world.agents[name]
        if self.env.now >= req.deadline:
            return DEADLINE
        req.steps += 1
        req.attempts += 1
        deadline = min(req.deadline, self.env.now + agent.timeout)
        err = yield from agent.serve(req, deadline, 1, False)
        if err is not None and self.env.now >= req.deadline:
            return DEADLINE
        return err

    def _parallel(self, req: Req, step: ParallelStep) -> Gen:
        env = self.env
        branches = step.parallel
        need = step.join.needed(len(branches))
        joined = env.event()
        state = {"ok": 0, "failed": 0, "error": None}

        def done(event: simpy.Event) -> None:
            err = event.value
            if joined.triggered:
                return
            if err is None:
                state["ok"] += 1  # type: ignore[operator]
            else:
                state["failed"] += 1  # type: ignore[operator]
                state["error"] = state["error"] or err
            if state["ok"] >= need:  # type: ignore[operator]
                joined.succeed(None)
            elif state["failed"] > len(branches) - need:  # type: ignore[operator]
                joined.succeed(state["error"])

        for branch in branches:
            env.process(self._branch(req, branch)).callbacks.append(done)
        return (yield joined)

    def _branch(self, req: Req, step: Step) -> Gen:
        err = yield from self.run_step(req, step)
        return None if step.optional else err
