"""Workflow execution — a sans-IO coroutine an engine drives.

:func:`workflow` is a generator that yields what the engine must do and receives the
result:

- an :class:`~harness.scenario.system.AgentStep` (the step itself, no copy): call that
  agent (the engine runs the call through a :class:`~harness.calls.attempts.Call`) and
  send back its error, or None;
- a :class:`Sleep`: wait ``delay`` seconds (a workflow retry's backoff), send back None;
- a :class:`Fork`: run each of ``branches`` (coroutines of the same kind) concurrently,
  feed each branch's result to ``join`` (a :class:`Join`) as it ends, and send back
  ``join.error`` once ``join.add`` says the join is decided. Branches still running then
  run on, and their results are ignored.

The coroutine returns the workflow's error, or None. Steps run in order; a failed
optional step does not fail its workflow or its branch; delegation runs another
workflow's steps in place; a failed workflow is retried whole by its retry policy, or
resumed after its last completed step when it checkpoints; once the deadline has passed
it fails with ``deadline``. The engine's clock comes in as ``clock()``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from typing import Any, Protocol

from harness.calls.attempts import retry_delay
from harness.outcomes import ErrorKind
from harness.policies.retry import RetryPolicy
from harness.scenario.system import AgentStep, DelegateStep, ParallelStep, Step
from harness.scenario.system import Workflow as WorkflowSpec

__all__ = ["Fork", "Join", "Request", "Sleep", "WorkflowPlan", "workflow"]

DEADLINE = ErrorKind.DEADLINE.value

#: What the coroutine yields, what it is sent, and what it returns.
Flow = Generator["AgentStep | Sleep | Fork", Any, "str | None"]


class Request(Protocol):
    """What the workflow needs to know about the request it runs."""

    deadline: float
    retry_after: float  #: the Retry-After of the last 429 the request received


class Sleep:
    __slots__ = ("delay",)

    def __init__(self, delay: float) -> None:
        self.delay = delay


class Join:
    """The tally of a parallel step: decided once ``need`` branches succeeded (``error``
    None), or once so many failed that ``need`` can no longer be reached (``error`` is
    the first failure)."""

    __slots__ = ("error", "failed", "first_error", "need", "ok", "size")

    def __init__(self, need: int, size: int) -> None:
        self.need, self.size = need, size
        self.ok = self.failed = 0
        self.first_error: str | None = None
        self.error: str | None = None  #: the join's result, once decided

    def add(self, err: str | None) -> bool:
        """A branch ended with ``err``; True when this decides the join."""
        if err is None:
            self.ok += 1
            return self.ok == self.need
        self.failed += 1
        if self.failed == 1:
            self.first_error = err
        if self.failed == self.size - self.need + 1:
            self.error = self.first_error
            return True
        return False


class Fork:
    __slots__ = ("branches", "join")

    def __init__(self, branches: list[Flow], join: Join) -> None:
        self.branches = branches
        self.join = join


class WorkflowPlan:
    """The workflows of a system with their retry policies, ready to run."""

    __slots__ = ("retries", "rng", "specs")

    def __init__(self, specs: Mapping[str, WorkflowSpec], rng: random.Random) -> None:
        self.specs = dict(specs)
        self.retries = {name: RetryPolicy(wf.retry) if wf.retry else None
                        for name, wf in self.specs.items()}
        self.rng = rng  #: backoff jitter of workflow retries


def workflow(plan: WorkflowPlan, name: str, req: Request, clock: Callable[[], float]) -> Flow:
    """Run workflow ``name`` for ``req``; returns None or the workflow's error."""
    spec = plan.specs[name]
    retry, steps = plan.retries[name], spec.steps
    attempt, resume = 1, 0
    while True:
        err, done = yield from _steps(plan, steps, resume)
        if err is None:
            return None
        now = clock()
        delay = retry_delay(retry, attempt, err, now=now, deadline=req.deadline, rng=plan.rng,
                            retry_after=req.retry_after)
        if delay is None:
            return DEADLINE if now >= req.deadline else err
        if delay > 0:
            yield Sleep(delay)
        resume = done if spec.checkpoint else 0
        attempt += 1


def _steps(plan: WorkflowPlan, steps: list[Step],
           first: int) -> Generator[AgentStep | Sleep | Fork, Any, tuple[str | None, int]]:
    """``steps[first:]`` in order: (None or the first required failure, steps done)."""
    for i in range(first, len(steps)):
        step = steps[i]
        err = yield from _step(plan, step)
        if err is not None and not step.optional:
            return err, i
    return None, len(steps)


def _step(plan: WorkflowPlan, step: Step) -> Flow:
    if type(step) is AgentStep:
        err: str | None = yield step
        return err
    if isinstance(step, DelegateStep):
        err, _ = yield from _steps(plan, plan.specs[step.workflow].steps, 0)
        return err
    assert isinstance(step, ParallelStep)
    branches = step.parallel
    join = Join(step.join.needed(len(branches)), len(branches))
    joined: str | None = yield Fork([_branch(plan, b) for b in branches], join)
    return joined


def _branch(plan: WorkflowPlan, step: Step) -> Flow:
    err = yield from _step(plan, step)
    return None if step.optional else err
