"""A station: ``capacity`` slots and a priority queue in front of them.

The hot path avoids SimPy events where it can: a free slot is taken with a counter
(``try_take``); only a call that must wait gets an event (a :class:`Waiter`). Waiters can
be cancelled (the caller timed out or crashed) and are skipped when a slot frees up.
A zombie release (``release_at``) frees a slot later without a process: work abandoned
by its caller still occupies the server until it would have finished.
"""

from __future__ import annotations

import math
from collections import deque

import simpy

__all__ = ["Station", "Waiter"]

GRANTED = "granted"


class Waiter(simpy.Event):
    """A queued call. Succeeds with ``GRANTED`` or with a reason it will never be."""

    __slots__ = ("cancelled", "station")

    def __init__(self, env: simpy.Environment, station: Station) -> None:
        super().__init__(env)
        self.cancelled = False
        self.station = station

    def expire(self, reason: str) -> None:
        """Give up waiting (deadline, crash, outage): leave the queue with ``reason``."""
        if not self.triggered and not self.cancelled:
            self.cancelled = True
            self.station.waiting -= 1
            self.succeed(reason)


class Station:
    """Slots with a FIFO queue per priority class (0 served first)."""

    __slots__ = ("busy", "capacity", "env", "queue_limit", "queues", "waiting")

    def __init__(self, env: simpy.Environment, capacity: float = math.inf,
                 queue_limit: int | None = None, classes: int = 3) -> None:
        self.env = env
        self.capacity = capacity
        self.busy = 0
        self.queue_limit = queue_limit
        self.queues: list[deque[Waiter]] = [deque() for _ in range(classes)]
        self.waiting = 0

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody waits for it."""
        if self.busy < self.capacity and not self.waiting:
            self.busy += 1
            return True
        return False

    def full(self) -> bool:
        """Whether a new waiter would exceed the queue limit."""
        return self.queue_limit is not None and self.waiting >= self.queue_limit

    def wait(self, priority: int = 1) -> Waiter:
        """Join the queue; the waiter succeeds with ``GRANTED`` when a slot is handed over."""
        waiter = Waiter(self.env, self)
        self.queues[priority].append(waiter)
        self.waiting += 1
        return waiter

    def release(self) -> None:
        """Free a slot: hand it to the first live waiter, or return it to the pool."""
        if self.waiting and self.busy <= self.capacity:
            for queue in self.queues:
                while queue:
                    waiter = queue.popleft()
                    if waiter.cancelled:
                        continue
                    self.waiting -= 1
                    waiter.succeed(GRANTED)
                    return
        self.busy -= 1

    def release_at(self, when: float) -> None:
        """Free a slot at ``when`` (now if already past), without a process."""
        delay = when - self.env.now
        if delay <= 0:
            self.release()
        else:
            self.env.timeout(delay).callbacks.append(lambda _event: self.release())

    def set_capacity(self, capacity: float) -> None:
        """Change the number of slots; waiters get slots that became free."""
        self.capacity = capacity
        while self.waiting and self.busy < self.capacity:
            self.busy += 1
            self.release()

    def drain(self, reason: str) -> int:
        """Expire every waiter with ``reason``; return how many there were."""
        count = 0
        for queue in self.queues:
            while queue:
                waiter = queue.popleft()
                if not waiter.cancelled:
                    waiter.expire(reason)
                    count += 1
        return count

    @property
    def queued(self) -> int:
        return self.waiting
