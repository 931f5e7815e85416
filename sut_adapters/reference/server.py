"""What a mock endpoint and a tool service share: slots with a priority queue, the
fault effects on their calls, and the decisions at the door (an outage refuses or
hangs, a 429 storm answers with its Retry-After, a full queue sheds) — the live twin of
the simulator's ``_Server``."""

from __future__ import annotations

import asyncio
import math
import random
import time

from aiohttp import web

from faults.active import Undo, once
from faults.effects import Disturbance, Effects, decide
from faults.specs import CutMode, FaultSpecBase, PartialOutageFault
from harness.rng import stream
from sut_adapters.reference.service import (
    BadRequestError,
    authorize,
    json_error,
    pause,
    pause_until,
)
from sut_adapters.reference.slots import OverloadedError, Slots

__all__ = ["HANG_POLL_S", "LIMIT_HEADER", "Server", "hang", "limit_of", "priority_of",
           "timed_out"]

HANG_POLL_S = 0.25  #: how often a hanging call checks whether its client is still there
#: The ``time.monotonic()`` instant the caller gives up at (a reference component calling
#: another; all share the machine's monotonic clock). A server given it answers a
#: ``timeout`` then — with the seconds the call queued — instead of leaving the caller to
#: find out, as the simulator records the call; the work itself runs on (see
#: :meth:`Server.serve`).
LIMIT_HEADER = "X-Squall-Limit"


def limit_of(request: web.Request) -> float:
    raw = request.headers.get(LIMIT_HEADER)
    if raw is None:
        return math.inf
    try:
        limit = float(raw)
    except ValueError:
        limit = math.nan
    if math.isnan(limit):
        raise BadRequestError(f"{LIMIT_HEADER} must be a time.monotonic() instant in seconds")
    return limit


#: ``prompt,completion,cost`` of a failed answer that is billed all the same (a malformed
#: one, or work that goes on after its caller gave up), which its body cannot carry
USAGE_HEADER = "X-Squall-Usage"


def billed_header(tin: int, tout: int, cost: float) -> dict[str, str]:
    return {USAGE_HEADER: f"{tin},{tout},{cost!r}"}


def timed_out(queue_s: float = 0.0, extra: dict[str, object] | None = None, *,
              billed: tuple[int, int, float] | None = None) -> web.Response:
    """The answer at the caller's limit: a timeout, with what the trace needs — and, for
    work that goes on to its end without the caller (``billed``), what it will cost, as
    the simulator bills it."""
    return web.json_response({"error": {"type": "timeout", "message": "the limit passed"},
                              "squall": {"queue_s": round(queue_s, 6), **(extra or {})}},
                             status=504, headers=None if billed is None else
                             billed_header(*billed))


async def hang(request: web.Request, limit: float = math.inf) -> web.StreamResponse:
    """Never answer: by the caller's ``limit``, say it timed out; without one, wait until
    the client goes away, then drop the connection."""
    if not math.isinf(limit):
        await pause_until(limit)
        return timed_out()
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

    async def at_the_door(self, request: web.Request, d: Disturbance | None,
                          limit: float = math.inf) -> web.StreamResponse | None:
        """The answer for a call turned away by ``d`` (an outage or a 429 storm), or
        None if it may come in."""
        if d is None:
            return None
        if d.refuse is CutMode.FAIL_FAST:
            self.refused += 1
            return json_error(503, "unavailable", f"{self.target} is down")
        if d.refuse is CutMode.HANG:
            return await hang(request, limit)
        if d.retry_after is not None:
            self.refused += 1
            return json_error(429, "rate_limited", "rate limit storm",
                              {"Retry-After": f"{d.retry_after:g}"})
        return None

    def serve_load(self, app: web.Application, token: str) -> None:
        """``GET /_squall/load`` (bearer token): busy slots, queued calls and the slots
        serving now (−1: unlimited) — what the live engine samples into its timeseries."""
        async def load(request: web.Request) -> web.Response:
            authorize(request, token)
            cap = self.slots.capacity
            return web.json_response({"busy": self.slots.busy, "queued": self.slots.waiting,
                                      "capacity": -1 if math.isinf(cap) else int(cap)})

        app.router.add_get("/_squall/load", load)

    async def enter(self, priority: int, limit: float) -> float | web.Response:
        """Take a slot: the seconds queued for it, or the answer for a call turned away
        (its queue is full; its caller's ``limit`` passed while it queued)."""
        start = time.monotonic()
        try:
            async with asyncio.timeout(None if math.isinf(limit) else max(limit - start, 0)):
                return await self.slots.acquire(priority)
        except OverloadedError:
            self.refused += 1
            return json_error(503, "overloaded", f"{self.target}'s queue is full")
        except TimeoutError:  # the loop's timers may fire a little early: the limit it is
            await pause_until(limit)
            return timed_out(time.monotonic() - start)

    async def hang_in_slot(self, request: web.Request, limit: float) -> web.StreamResponse:
        """An injected hang after :meth:`enter`: the slot is held until the caller gives
        up (its ``limit``, or it goes away)."""
        try:
            return await hang(request, limit)
        finally:
            self.slots.release()

    async def serve(self, seconds: float, limit: float) -> bool:
        """Work ``seconds`` holding the slot taken by :meth:`enter`, then let it go; True
        if done by ``limit``. Otherwise False at the limit, the slot held until the work
        would have ended (as the simulator holds it: the server does not know its caller
        gave up)."""
        end = time.monotonic() + seconds
        if end <= limit:
            try:
                await pause(seconds)
            finally:
                self.slots.release()
            return True
        try:
            await pause_until(limit)
        except BaseException:
            self.slots.release()
            raise
        asyncio.get_running_loop().call_later(max(end - time.monotonic(), 0.0),
                                              self.slots.release)
        return False

    def latency(self, base: float) -> float:
        """``base`` through the active latency effects."""
        fx = self.effects
        return base if fx is None else fx.latency(base, self.rng)
