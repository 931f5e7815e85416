"""The engine-neutral workflow coroutine, driven by a tiny event loop of its own.

The loop below is the whole contract an engine implements for workflows: do what the
coroutine yields (call an agent, sleep, fork branches and feed their results to the
join) on its own clock. Agent calls take scripted times and give scripted errors.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.calls import Fork, Sleep, WorkflowPlan, workflow
from harness.calls.workflow import Flow
from harness.scenario.system import AgentStep, Workflow


class Req:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.retry_after = 0.0


class Loop:
    """A minimal discrete-event engine for workflow coroutines."""

    def __init__(self, agents: Callable[[str, int], tuple[float, str | None]]) -> None:
        self.now = 0.0
        self.agents = agents  #: (agent, how many calls it had so far) → (took, error)
        self.calls: list[tuple[float, str]] = []
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, delay: float, then: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (self.now + delay, next(self._seq), then))

    def drive(self, flow: Flow, done: Callable[[Any], None]) -> None:
        def step(result: Any) -> None:
            try:
                todo = flow.send(result)
            except StopIteration as stop:
                done(stop.value)
                return
            if isinstance(todo, AgentStep):
                count = sum(1 for _, a in self.calls if a == todo.agent)
                self.calls.append((self.now, todo.agent))
                took, err = self.agents(todo.agent, count)
                self.at(took, lambda: step(err))
            elif isinstance(todo, Sleep):
                self.at(todo.delay, lambda: step(None))
            else:
                assert isinstance(todo, Fork)
                decided = [False]

                def ended(err: str | None, join: Any = todo.join) -> None:
                    if not decided[0] and join.add(err):
                        decided[0] = True
                        step(join.error)

                for branch in todo.branches:
                    self.drive(branch, ended)

        step(None)

    def run(self, spec: dict[str, Any], name: str = "main", deadline: float = 1e9,
            seed: int = 1) -> tuple[str | None, float]:
        workflows = {k: Workflow.model_validate(v) for k, v in spec.items()}
        plan = WorkflowPlan(workflows, random.Random(seed))
        result: list[tuple[str | None, float]] = []
        self.drive(workflow(plan, name, Req(deadline), lambda: self.now),
                   lambda err: result.append((err, self.now)))
        while self._heap:
            self.now, _, then = heapq.heappop(self._heap)
            then()
        assert len(result) == 1, "the workflow must end exactly once"
        return result[0]


def scripted(table: dict[str, tuple[float, str | None]]) -> Callable[[str, int], Any]:
    return lambda agent, count: table[agent]


def test_steps_run_in_sequence() -> None:
    loop = Loop(scripted({"a": (1, None), "b": (2, None), "c": (3, None)}))
    assert loop.run({"main": {"steps": ["a", "b", "c"]}}) == (None, 6.0)
    assert loop.calls == [(0.0, "a"), (1.0, "b"), (3.0, "c")]


def test_a_required_failure_stops_the_workflow_an_optional_one_does_not() -> None:
    loop = Loop(scripted({"a": (1, None), "b": (1, "error"), "c": (1, None)}))
    assert loop.run({"main": {"steps": ["a", "b", "c"]}}) == ("error", 2.0)
    loop = Loop(scripted({"a": (1, None), "b": (1, "error"), "c": (1, None)}))
    steps = ["a", {"agent": "b", "optional": True}, "c"]
    assert loop.run({"main": {"steps": steps}}) == (None, 3.0)


def test_delegation_runs_the_other_workflows_steps_in_place() -> None:
    loop = Loop(scripted({"a": (1, None), "x": (1, None), "y": (1, None), "b": (1, None)}))
    spec = {"main": {"steps": ["a", {"workflow": "sub"}, "b"]}, "sub": {"steps": ["x", "y"]}}
    assert loop.run(spec) == (None, 4.0)
    assert [a for _, a in loop.calls] == ["a", "x", "y", "b"]


def parallel(join: Any, *agents: Any) -> dict[str, Any]:
    return {"main": {"steps": [{"parallel": list(agents), "join": join}, "after"]}}


TABLE = {"fast": (1, None), "slow": (5, None), "bad": (2, "error"), "after": (1, None)}


def test_join_all_waits_for_every_branch() -> None:
    assert Loop(scripted(TABLE)).run(parallel("all", "fast", "slow")) == (None, 6.0)


def test_join_all_fails_at_the_first_failure() -> None:
    assert Loop(scripted(TABLE)).run(parallel("all", "bad", "slow")) == ("error", 2.0)


def test_join_any_ends_with_the_first_success() -> None:
    assert Loop(scripted(TABLE)).run(parallel("any", "slow", "fast")) == (None, 2.0)
    assert Loop(scripted(TABLE)).run(parallel("any", "bad", "slow")) == (None, 6.0)


def test_a_quorum_needs_k_successes() -> None:
    spec = parallel({"quorum": 2}, "fast", "bad", "slow")
    assert Loop(scripted(TABLE)).run(spec) == (None, 6.0)
    spec = parallel({"quorum": 2}, "fast", "bad", "bad")
    assert Loop(scripted(TABLE)).run(spec) == ("error", 2.0)


def test_an_optional_branch_counts_as_a_success() -> None:
    spec = parallel("all", "fast", {"agent": "bad", "optional": True})
    assert Loop(scripted(TABLE)).run(spec) == (None, 3.0)


def test_a_workflow_retry_runs_it_again_from_the_start() -> None:
    loop = Loop(lambda agent, count: (1, "error" if agent == "b" and count == 0 else None))
    spec = {"main": {"steps": ["a", "b", "c"],
                     "retry": {"attempts": 2, "base": 1, "jitter": "none", "on": ["error"]}}}
    assert loop.run(spec) == (None, 6.0)  # a b | sleep 1 | a b c
    assert [a for _, a in loop.calls] == ["a", "b", "a", "b", "c"]


def test_a_checkpointed_workflow_resumes_at_the_failed_step() -> None:
    loop = Loop(lambda agent, count: (1, "error" if agent == "b" and count == 0 else None))
    spec = {"main": {"steps": ["a", "b", "c"], "checkpoint": True,
                     "retry": {"attempts": 2, "base": 1, "jitter": "none", "on": ["error"]}}}
    assert loop.run(spec) == (None, 5.0)  # a b | sleep 1 | b c
    assert [a for _, a in loop.calls] == ["a", "b", "b", "c"]


def test_a_workflow_that_fails_past_its_deadline_fails_with_deadline() -> None:
    loop = Loop(scripted({"a": (10, "timeout")}))
    spec = {"main": {"steps": ["a"], "retry": {"attempts": 3, "on": ["timeout"]}}}
    assert loop.run(spec, deadline=10) == ("deadline", 10.0)


step_strategy = st.recursive(
    st.sampled_from(["ok", "bad", "slow"]).map(lambda a: {"agent": a}),
    lambda inner: st.one_of(
        st.tuples(inner, st.booleans()).map(lambda t: {**t[0], "optional": t[1]}),
        st.lists(inner, min_size=1, max_size=3).flatmap(
            lambda branches: st.sampled_from(
                ["all", "any", *[{"quorum": k} for k in range(1, len(branches) + 1)]]
            ).map(lambda j: {"parallel": branches, "join": j})),
    ),
    max_leaves=8,
)


def reference(step: dict[str, Any]) -> bool:
    """Whether ``step`` succeeds, by the definition (no time involved)."""
    if "agent" in step:
        ok = step["agent"] != "bad"
    else:
        results = [reference(b) for b in step["parallel"]]
        join = step["join"]
        need = len(results) if join == "all" else 1 if join == "any" else join["quorum"]
        ok = sum(results) >= need
    return ok or bool(step.get("optional"))


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(step_strategy, min_size=1, max_size=4))
def test_the_outcome_matches_the_definition_of_joins_and_optional_steps(
        steps: list[dict[str, Any]]) -> None:
    table = {"ok": (1.0, None), "bad": (2.0, "error"), "slow": (3.0, None)}
    err, _ = Loop(scripted(table)).run({"main": {"steps": steps}})
    required = [s for s in steps if not s.get("optional")]
    assert (err is None) == all(reference({**s, "optional": False}) for s in required)
