"""Driving the shared call semantics on asyncio: the live side's counterpart of the
simulator's drivers (:func:`harness.sim.clients.drive`, ``Runner._drive``).

The reference system's orchestrator and agents run their calls and workflows through
these, so a live request makes the same decisions as a simulated one; only the clock
(``loop.time()``) and the waiting (``asyncio.sleep``, tasks) differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from harness.calls.attempts import ATTEMPT, DONE, REFUSED, Call
from harness.calls.workflow import Flow, Fork, Sleep
from harness.outcomes import ErrorKind
from harness.scenario.system import AgentStep

__all__ = ["Clock", "pending", "run_call", "run_workflow", "sleep_on"]

CIRCUIT_OPEN = ErrorKind.CIRCUIT_OPEN.value

#: Seconds on the engine's clock (``loop.time``, or scenario time under a time scale).
Clock = Callable[[], float]

Sleeper = Callable[[float], Awaitable[Any]]


async def sleep_on(clock: Clock, delay: float, sleep: Sleeper = asyncio.sleep) -> None:
    """Sleep until ``delay`` seconds have passed on ``clock``, not just on the loop's.

    Event loops round their timers (uvloop to the millisecond) and may wake a little
    early by another clock's measure; a retry must never start before its backoff or
    Retry-After has passed on the clock its spans are stamped with, so top up."""
    end = clock() + delay
    await sleep(delay)
    while (left := end - clock()) > 0:
        await sleep(left)


async def run_call(call: Call, clock: Clock, attempt: Callable[[Call], Awaitable[str | None]],
                   *, refused: Callable[[Call], None] | None = None,
                   retry_after: Callable[[], float | None] = lambda: None,
                   sleep: Sleeper = asyncio.sleep) -> str | None:
    """Drive ``call`` to its end; its error or None. ``attempt(call)`` makes one attempt
    of ``call.target`` and must give up by ``call.limit``; ``refused(call)`` records an
    attempt its breaker refused; ``retry_after()`` is the last 429's Retry-After."""
    act = call.start(clock())
    while act is not DONE:
        if act is ATTEMPT:
            err = await attempt(call)
        elif act is REFUSED:
            if refused is not None:
                refused(call)
            err = CIRCUIT_OPEN
        else:
            await sleep_on(clock, call.delay, sleep)
            act = call.slept(clock())
            continue
        act = call.outcome(clock(), err, retry_after())
    return call.error


async def run_workflow(flow: Flow, call_agent: Callable[[AgentStep], Awaitable[str | None]],
                       *, clock: Clock | None = None, sleep: Sleeper = asyncio.sleep
                       ) -> str | None:
    """Do what the workflow coroutine asks until it returns its error (or None).

    Branches of a parallel step run as tasks. Those still running when their join is
    decided run on, as abandoned work does in the simulator (the request's answer does
    not wait for them); :func:`pending` holds them until they end, so a server can
    cancel them when it stops. Cancelling the request cancels its branches. Given a
    ``clock``, a workflow's backoff lasts at least its delay on that clock."""
    if clock is not None:
        def timed(delay: float, _clock: Clock = clock) -> Awaitable[None]:
            return sleep_on(_clock, delay, sleep)
        return await _drive(flow, call_agent, timed)
    return await _drive(flow, call_agent, sleep)


#: Branch tasks that outlived their join (see :func:`run_workflow`).
_PENDING: set[asyncio.Task[str | None]] = set()


def pending() -> set[asyncio.Task[str | None]]:
    """Branch tasks still running after their request was answered."""
    return {t for t in _PENDING if not t.done()}


async def _drive(flow: Flow, call_agent: Callable[[AgentStep], Awaitable[str | None]],
                 sleep: Sleeper) -> str | None:
    result: str | None = None
    while True:
        try:
            todo = flow.send(result)
        except StopIteration as stop:
            value: str | None = stop.value
            return value
        if type(todo) is AgentStep:
            result = await call_agent(todo)
        elif type(todo) is Sleep:
            await sleep(todo.delay)
            result = None
        else:
            assert type(todo) is Fork
            result = await _fork(todo, call_agent, sleep)


async def _fork(fork: Fork, call_agent: Callable[[AgentStep], Awaitable[str | None]],
                sleep: Sleeper) -> str | None:
    decided: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    join = fork.join

    def ended(task: asyncio.Task[str | None]) -> None:
        if decided.done():
            return
        if task.cancelled():
            decided.cancel()
            return
        exc = task.exception()
        if exc is not None:
            decided.set_exception(exc)
        elif join.add(task.result()):
            decided.set_result(join.error)

    tasks = [asyncio.create_task(_drive(branch, call_agent, sleep))
             for branch in fork.branches]
    for task in tasks:
        task.add_done_callback(ended)
    try:
        return await decided
    except asyncio.CancelledError:  # the request was cancelled: so are its branches
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        for task in tasks:
            if not task.done():
                _PENDING.add(task)
                task.add_done_callback(_PENDING.discard)
