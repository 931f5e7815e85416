"""The live twin of the simulator's station: priority order, shedding, cancellation,
capacity changes — and the count of waiting calls stays true throughout."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sut_adapters.reference.slots import OverloadedError, Slots


def test_priority_then_fifo_and_shedding() -> None:
    async def main() -> list[str]:
        slots = Slots(1, queue_limit=3)
        await slots.acquire()
        order: list[str] = []

        async def wait(name: str, prio: int) -> None:
            await slots.acquire(prio)
            order.append(name)
            slots.release()

        tasks = [asyncio.create_task(wait(n, p)) for n, p in
                 (("low", 2), ("normal-1", 1), ("high", 0))]
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError):
            await slots.acquire(1)  # three wait already
        assert slots.waiting == 3
        slots.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(main()) == ["high", "normal-1", "low"]


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(st.sampled_from(["acquire", "release", "cancel", "shrink", "grow"]),
                    max_size=40), seed=st.integers(0, 1000))
def test_busy_and_waiting_stay_true(ops: list[str], seed: int) -> None:
    async def main() -> None:
        rng = random.Random(seed)
        slots = Slots(2, queue_limit=5)
        held = 0
        waiters: list[asyncio.Task[float]] = []
        for op in ops:
            if op == "acquire":
                waiters.append(asyncio.create_task(slots.acquire(rng.randrange(3))))
            elif op == "release" and held:
                slots.release()
                held -= 1
            elif op == "cancel" and waiters:
                waiters.pop(rng.randrange(len(waiters))).cancel()
            elif op == "shrink":
                slots.set_capacity(max(0, slots.capacity - 1))
            elif op == "grow":
                slots.set_capacity(slots.capacity + 1)
            await asyncio.sleep(0)
            for task in [t for t in waiters if t.done()]:
                waiters.remove(task)
                if not task.cancelled() and task.exception() is None:
                    held += 1
            assert slots.busy == held
            assert slots.waiting == len(waiters)
            assert slots.waiting == 0 or slots.busy >= slots.capacity or not waiters
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)

    asyncio.run(main())
