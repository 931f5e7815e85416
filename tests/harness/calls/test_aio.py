"""The same call semantics driven by asyncio on the wall clock: the outcomes equal the
discrete drivers' exactly, and the timings agree within the event loop's slack.

Scripted "agents" sleep for their time in units of 20 ms, so each case takes well under
a second of wall time.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from harness.calls import Call, Chain, Target, WorkflowPlan, workflow
from harness.calls.aio import run_call, run_workflow, sleep_on
from harness.policies.retry import RetryPolicy
from harness.scenario.system import AgentStep, Retry, Workflow
from tests.harness.calls.test_workflow import TABLE, Loop, Req, parallel, scripted

UNIT = 0.02  #: wall seconds per scripted second
SLACK = 0.6  #: scripted seconds of slack for the event loop (12 ms)


def run_async(spec: dict[str, Any], table: dict[str, tuple[float, str | None]],
              deadline: float = 1e9) -> tuple[str | None, float]:
    async def main() -> tuple[str | None, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        clock = lambda: (loop.time() - t0) / UNIT  # noqa: E731  scripted seconds

        async def call_agent(step: AgentStep) -> str | None:
            took, err = table[step.agent]
            await asyncio.sleep(took * UNIT)
            return err

        async def sleep(delay: float) -> None:
            await asyncio.sleep(delay * UNIT)

        plan = WorkflowPlan({k: Workflow.model_validate(v) for k, v in spec.items()},
                            random.Random(1))
        err = await run_workflow(workflow(plan, "main", Req(deadline), clock), call_agent,
                                 sleep=sleep)
        return err, clock()

    return asyncio.run(main())


CASES = [
    ({"main": {"steps": ["fast", "slow", "after"]}}),
    (parallel("all", "fast", "slow")),
    (parallel("all", "bad", "slow")),
    (parallel("any", "slow", "fast")),
    (parallel("any", "bad", "slow")),
    (parallel({"quorum": 2}, "fast", "bad", "slow")),
    (parallel("all", "fast", {"agent": "bad", "optional": True})),
    ({"main": {"steps": ["fast", {"workflow": "sub"}, "after"]},
      "sub": {"steps": ["fast", {"agent": "bad", "optional": True}]}}),
]


@pytest.mark.parametrize("spec", CASES)
def test_asyncio_and_the_discrete_loop_agree(spec: dict[str, Any]) -> None:
    expected_err, expected_t = Loop(scripted(TABLE)).run(spec)
    err, took = run_async(spec, TABLE)
    assert err == expected_err
    assert took == pytest.approx(expected_t, abs=SLACK)


def test_a_call_retries_and_falls_back_on_the_wall_clock() -> None:
    async def main() -> tuple[str | None, list[tuple[str, int]], float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        clock = lambda: (loop.time() - t0) / UNIT  # noqa: E731
        policy = RetryPolicy(Retry.model_validate(
            {"attempts": 2, "base": 1, "jitter": "none", "on": ["error"]}))
        chain = Chain([Target("big", retry=policy), Target("small")], "deadline")
        seen: list[tuple[str, int]] = []

        async def attempt(call: Call) -> str | None:
            seen.append((call.target.name, call.number))
            await asyncio.sleep(UNIT)
            return "error" if call.target.name == "big" else None

        async def sleep(delay: float) -> None:
            await asyncio.sleep(delay * UNIT)

        err = await run_call(Call(chain, 100.0), clock, attempt, sleep=sleep)
        return err, seen, clock()

    err, seen, took = asyncio.run(main())
    assert err is None
    assert seen == [("big", 1), ("big", 2), ("small", 1)]
    assert took == pytest.approx(4.0, abs=SLACK)  # 1 + backoff 1 + 1 + 1


def test_a_retry_never_starts_before_its_delay_on_the_callers_clock() -> None:
    """uvloop rounds timers to the millisecond, so a sleep can end a little early by
    ``time.monotonic()``; the backoff is measured on the caller's clock all the same."""
    now = [0.0]
    naps: list[float] = []

    async def early(delay: float) -> None:  # wakes 1 ms early, never less than 0.1 ms
        naps.append(delay)
        now[0] += max(delay - 0.001, 0.0001)

    async def main() -> list[float]:
        policy = RetryPolicy(Retry.model_validate(
            {"attempts": 3, "base": 0.3, "jitter": "none", "on": ["error"]}))
        starts: list[float] = []

        async def attempt(call: Call) -> str | None:
            starts.append(now[0])
            return "error"

        await run_call(Call(Chain([Target("big", retry=policy)], "deadline"), 100.0),
                       lambda: now[0], attempt, sleep=early)
        return starts

    starts = asyncio.run(main())
    assert len(starts) == 3
    assert starts[1] - starts[0] >= 0.3
    assert starts[2] - starts[1] >= 0.6
    assert len(naps) > 2  # it did top up

    now[0], naps[:] = 0.0, []
    asyncio.run(sleep_on(lambda: now[0], 0.25, early))
    assert now[0] >= 0.25


def test_a_cancelled_request_cancels_its_branches() -> None:
    started: list[str] = []
    finished: list[str] = []
    branches: list[asyncio.Task[Any]] = []

    async def main() -> None:
        async def call_agent(step: AgentStep) -> str | None:
            started.append(step.agent)
            task = asyncio.current_task()
            assert task is not None
            branches.append(task)
            await asyncio.sleep(10)
            finished.append(step.agent)
            return None

        plan = WorkflowPlan({"main": Workflow.model_validate(parallel("all", "a", "b")["main"])},
                            random.Random(1))
        task = asyncio.create_task(run_workflow(workflow(plan, "main", Req(1e9), lambda: 0.0),
                                                call_agent))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(branches) == 2
        assert all(t.cancelled() for t in branches)

    asyncio.run(asyncio.wait_for(main(), 5))
    assert sorted(started) == ["a", "b"]
    assert finished == []


def test_a_branch_that_outlives_its_join_runs_on_and_is_held_until_it_ends() -> None:
    from harness.calls.aio import pending

    async def main() -> None:
        async def call_agent(step: AgentStep) -> str | None:
            await asyncio.sleep(TABLE[step.agent][0] * UNIT)
            return None

        plan = WorkflowPlan({"main": Workflow.model_validate(
            {"steps": [{"parallel": ["fast", "slow"], "join": "any"}]})}, random.Random(1))
        err = await run_workflow(workflow(plan, "main", Req(1e9), lambda: 0.0), call_agent)
        assert err is None
        assert len(pending()) == 1  # "slow" runs on, abandoned
        await asyncio.wait_for(asyncio.gather(*pending()), 1)
        assert pending() == set()

    asyncio.run(main())
