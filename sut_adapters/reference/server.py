"""What a mock endpoint and a tool service share: slots with a priority queue, the
fault effects on their calls, and the decisions at the door (an outage refuses or
hangs, a 429 storm answers with its Retry-After, a full queue sheds) — the live twin of
the simulator's ``_Server``."""

from __future__ import annotations

import asyncio
import math
import random

from aiohttp import web

from faults.active import Undo, once
from faults.effects import Disturbance, Effects, decide
from faults.specs import CutMode, FaultSpecBase, PartialOutageFault
from harness.rng import stream
from sut_adapters.reference.service import BadRequestError, json_error
from sut_adapters.reference.slots import Slots

__all__ = ["HANG_POLL_S", "Server", "hang", "priority_of"]

HANG_POLL_S = 0.25  #: how often a hanging call checks whether its client is still there


async def hang(request: web.Request) -> web.StreamResponse:
    """Never answer: wait until the client goes away, then drop the connection."""
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(HANG_POLL_S)
    raise asyncio.CancelledError


def priority_of(request: web.Request) -> int:
    raw = request.headers.get("X-Squall-Priority", "1")
    if raw not in ("0", "1", "2"):
        raise BadRequestError("X-Squall-Priority must be 0 (high), 1 (normal) or 2 (low)")
    return int(raw)


class Server:
    """Slots, effects and an error rate for one named component (``kind.name``)."""

    kind = "server"

    def __init__(self, name: str, *, concurrency: int | None, queue_limit: int | None,
                 error_rate: float, seed: int) -> None:
        self.name = name
        self.nominal = concurrency
        self.error_rate = error_rate
        self.slots = Slots(concurrency or math.inf, queue_limit)
        self.rng = random.Random(int(stream(seed, f"{self.kind}/{name}/errors")
                                     .integers(0, 2**63)))
        self.effects: Effects | None = None
        self._lost: list[float] = []  # capacity shares taken by partial outages
        self.served = self.refused = 0

    @property
    def target(self) -> str:
        return f"{self.kind}.{self.name}"

    def set_effects(self, _target: str, fx: Effects | None) -> None:
        self.effects = fx

    def apply_capacity(self, _target: str, spec: FaultSpecBase) -> Undo:
        """A partial outage: a share of the slots is gone until the undo."""
        if not isinstance(spec, PartialOutageFault):
            raise BadRequestError(f"a {self.kind} cannot take a {spec.kind_name()} fault",
                                  status=422, kind="unsupported_fault")
        if self.nominal is None:
            raise BadRequestError(f"a partial outage needs a {self.kind} with a concurrency "
                                  "limit", status=422, kind="unsupported_fault")
        lost = spec.share(self.nominal) / self.nominal
        self._lost.append(lost)
        self._resize()

        def undo() -> None:
            self._lost.remove(lost)
            self._resize()

        return once(undo)

    def _resize(self) -> None:
        nominal = self.nominal or math.inf
        share = max(0.0, 1.0 - sum(self._lost))
        self.slots.set_capacity(max(0, math.floor(nominal * share + 1e-9)))

    def disturbance(self) -> Disturbance | None:
        """What happens to the call arriving now (:func:`faults.effects.decide`)."""
        if self.effects is None and not self.error_rate:
            return None
        return decide(self.effects, self.rng, self.error_rate)

    async def at_the_door(self, request: web.Request,
                          d: Disturbance | None) -> web.StreamResponse | None:
        """The answer for a call turned away by ``d`` (an outage or a 429 storm), or
        None if it may come in."""
        if d is None:
            return None
        if d.refuse is CutMode.FAIL_FAST:
            self.refused += 1
            return json_error(503, "unavailable", f"{self.target} is down")
        if d.refuse is CutMode.HANG:
            return await hang(request)
        if d.retry_after is not None:
            self.refused += 1
            return json_error(429, "rate_limited", "rate limit storm",
                              {"Retry-After": f"{d.retry_after:g}"})
        return None

    def latency(self, base: float) -> float:
        """``base`` through the active latency effects."""
        fx = self.effects
        return base if fx is None else fx.latency(base, self.rng)
