"""Concurrency slots with a priority queue in front, on asyncio: the live twin of the
simulator's station (``harness.sim.station``). Priority 0 is served first, then FIFO;
a full queue sheds the call; a waiter that is cancelled (its client went away) leaves
the queue, and a slot granted to it in the same instant is passed on."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math

__all__ = ["OverloadedError", "Slots"]


class OverloadedError(Exception):
    """The queue in front of the slots is full."""


class Slots:
    def __init__(self, capacity: float = math.inf, queue_limit: int | None = None) -> None:
        self.capacity = capacity
        self.queue_limit = queue_limit
        self.busy = 0
        self.waiting = 0  #: calls in the queue (cancelled ones leave it at once)
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: int = 1) -> float:
        """Hold a slot; the seconds spent waiting for it. Raises :class:`OverloadedError`."""
        if self.busy < self.capacity and not self.waiting:
            self.busy += 1
            return 0.0
        if self.queue_limit is not None and self.waiting >= self.queue_limit:
            raise OverloadedError
        loop = asyncio.get_running_loop()
        start = loop.time()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._heap, (priority, next(self._seq), future))
        self.waiting += 1
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted as we were cancelled: pass the slot on
            else:
                self.waiting -= 1  # it leaves the queue; its entry is skipped later
            raise
        return loop.time() - start

    def release(self) -> None:
        self.busy -= 1
        self._grant()

    def set_capacity(self, capacity: float) -> None:
        """Change the number of slots (a partial outage); calls in progress finish."""
        self.capacity = capacity
        self._grant()

    def _grant(self) -> None:
        while self._heap and self.busy < self.capacity:
            _, _, future = heapq.heappop(self._heap)
            if not future.done():
                self.busy += 1
                self.waiting -= 1
                future.set_result(None)
