"""What every reference service shares.

- An aiohttp application whose errors are JSON: a malformed request gets a 4xx with
  ``{"error": {"type", "message"}}`` and the service keeps serving; an unexpected error
  is a 500 of the same shape, logged, never a traceback to the client.
- A control API under ``/_squall/`` that requires ``Authorization: Bearer TOKEN``
  (401 without it; compared in constant time). ``/_squall/health`` is open.
- Leased faults: ``PUT /_squall/faults/{id}`` applies a fault (a scenario fault spec)
  for ``lease_s`` seconds; the caller renews the lease while its run is alive
  (``POST …/{id}/renew``) and removes it with ``DELETE …/{id}``. A lapsed lease removes
  the fault by itself, so a load driver killed with SIGKILL still leaves the system as
  it found it. Removal runs the activation's undo (:mod:`faults.active`): the exact
  prior state comes back.
- JSON log lines on stderr, and a process entry point that binds loopback on a given
  port (0: any free one) and announces ``READY <port>`` on stdout once it serves.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from faults.active import ActiveFaults, FaultLedger, Undo
from faults.effects import Effects, Links
from faults.specs import FaultSpec, FaultSpecBase, PartitionFault, TargetKind
from harness.calls.aio import sleep_on
from sut_adapters.reference.client import HttpPool

__all__ = ["BadRequestError", "FaultControl", "authorize", "breaker_listener", "json_error",
           "make_app", "pause", "pause_until", "serve", "traced_events"]

CONTROL = "/_squall"
#: Fault kinds that disturb each call (through ``faults.effects``), not capacity.
PER_CALL = frozenset({"latency", "error", "rate_limit", "outage", "brownout"})
MAX_LEASE_S = 3600.0
ORPHAN_POLL_S = 0.5
_FAULT = TypeAdapter(FaultSpec)


#: The events (breaker transitions) of the call being served, answered with its trace.
_EVENTS: ContextVar[list[dict[str, Any]] | None] = ContextVar("squall_events", default=None)


@contextmanager
def traced_events(into: list[dict[str, Any]]) -> Iterator[None]:
    """Events raised while serving this call (and the tasks it starts) go to ``into``."""
    token = _EVENTS.set(into)
    try:
        yield
    finally:
        _EVENTS.reset(token)


def breaker_listener(component: str) -> Callable[[float, Any, Any], None]:
    """A breaker's transition listener: a JSON log line, and a ``breaker`` event in the
    trace of the call that moved it (``t`` on ``time.monotonic()``), as the simulator
    writes one (``component`` named the same way: ``agent``, or ``agent→endpoint``)."""
    def listen(now: float, old: Any, new: Any) -> None:
        fields = {"component": component, "from": old.value, "to": new.value}
        LOG.info("breaker", extra={"fields": {**fields, "t": round(now, 6)}})
        events = _EVENTS.get()
        if events is not None:
            events.append({"t": now, "type": "breaker", **fields})
    return listen


class BadRequestError(ValueError):
    """A request this service cannot use: answered 400 (or ``status``) with the reason."""

    def __init__(self, message: str, *, status: int = 400, kind: str = "invalid_request"):
        super().__init__(message)
        self.status, self.kind = status, kind


async def pause(seconds: float) -> None:
    """Take ``seconds`` of service time, measured on ``time.monotonic()`` (the clock the
    spans are stamped with; the event loop's timers alone may end a millisecond early)."""
    if seconds > 0:
        await sleep_on(time.monotonic, seconds)


async def pause_until(limit: float) -> None:
    """Wait until the ``time.monotonic()`` instant ``limit`` (an attempt's give-up time)."""
    await pause(limit - time.monotonic())


def json_error(status: int, kind: str, message: str,
               headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status,
                             headers=headers)


class JsonLog(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": round(time.time(), 3), "service": self.service,
                                "level": record.levelname.lower(), "msg": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line)


def setup_logging(service: str) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLog(service))
    log = logging.getLogger("squall.reference")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


LOG = logging.getLogger("squall.reference")


@web.middleware
async def _timing(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    """``Server-Timing: app;dur=MS``: the service's own time on the call, so its caller
    can tell the hop's overhead from the work (a stream's headers leave before it ends:
    it goes without)."""
    start = time.monotonic()
    response = await handler(request)
    if not response.prepared:
        response.headers["Server-Timing"] = f"app;dur={1000 * (time.monotonic() - start):.3f}"
    return response


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequestError as exc:
        return json_error(exc.status, exc.kind, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        LOG.exception("request failed", extra={"fields": {"path": request.path}})
        return json_error(500, "internal", "the service failed on this request")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (the whole body, at most the app's ``client_max_size``);
    :class:`BadRequestError` when it is not one."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadRequestError(f"body larger than {request.app._client_max_size} bytes",
                              status=413, kind="request_too_large") from None
    try:
        body = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


class FaultControl:
    """Leased fault activations on one service.

    Per-call faults (latency, errors, rate limits, outages, brownouts) go through
    :class:`~faults.active.ActiveFaults` and reach the service's components through
    ``on_change(target, effects)``; other kinds go to ``apply_other(target, spec)``,
    which returns their undo (or raises :class:`BadRequestError` if this service cannot
    apply them).
    """

    def __init__(self, on_change: Callable[[str, Effects | None], None], *,
                 targets: set[str],
                 apply_other: Callable[[str, FaultSpecBase], Undo] | None = None) -> None:
        self.active = ActiveFaults(on_change)
        self.ledger = FaultLedger()
        self.targets = targets
        self._apply_other = apply_other
        self._leases: dict[str, asyncio.TimerHandle] = {}
        self._specs: dict[str, tuple[str, str, float]] = {}

    def apply(self, activation: str, target: str, spec: FaultSpecBase, lease_s: float) -> None:
        self.check(activation, target)
        if spec.kind_name() in PER_CALL:
            undo = self.active.apply(target, spec)
        elif self._apply_other is not None:
            undo = self._apply_other(target, spec)
        else:
            raise BadRequestError(f"this service cannot apply a {spec.kind_name()} fault",
                                  status=422, kind="unsupported_fault")
        self.hold(activation, target, spec.kind_name(), undo, lease_s)

    def check(self, activation: str, target: str) -> None:
        """Refuse an activation id in use (409) or a target this service lacks (404)."""
        if activation in self.ledger:
            raise BadRequestError(f"fault {activation!r} is already applied", status=409,
                                  kind="conflict")
        if target not in self.targets:
            known = ", ".join(sorted(self.targets)) or "none"
            raise BadRequestError(f"this service has no target {target!r}; it has: {known}",
                                  status=404, kind="unknown_target")

    def hold(self, activation: str, target: str, kind: str, undo: Undo,
             lease_s: float) -> None:
        """Keep ``undo`` under ``activation`` until it is ended or its lease lapses."""
        self.ledger.add(activation, undo)
        self._specs[activation] = (target, kind, lease_s)
        self._lease(activation, lease_s)
        LOG.info("fault applied", extra={"fields": {"fault": activation, "target": target,
                                                    "kind": kind}})

    def renew(self, activation: str, lease_s: float) -> bool:
        if activation not in self.ledger:
            return False
        self._lease(activation, lease_s)
        return True

    def end(self, activation: str, reason: str = "removed") -> bool:
        timer = self._leases.pop(activation, None)
        if timer is not None:
            timer.cancel()
        self._specs.pop(activation, None)
        ended = self.ledger.end(activation)
        if ended:
            LOG.info("fault removed", extra={"fields": {"fault": activation, "why": reason}})
        return ended

    def rollback(self) -> list[str]:
        for timer in self._leases.values():
            timer.cancel()
        self._leases.clear()
        self._specs.clear()
        return self.ledger.rollback()

    def listing(self) -> list[dict[str, Any]]:
        return [{"id": a, "target": t, "kind": kind, "lease_s": lease}
                for a, (t, kind, lease) in self._specs.items()]

    def _lease(self, activation: str, lease_s: float) -> None:
        old = self._leases.pop(activation, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._leases[activation] = loop.call_later(lease_s, self.end, activation,
                                                   "lease lapsed")


def lease_of(body: dict[str, Any]) -> float:
    lease = body.get("lease_s", 30.0)
    if not isinstance(lease, int | float) or isinstance(lease, bool) \
            or not 0 < lease <= MAX_LEASE_S:
        raise BadRequestError(f"lease_s must be a number of seconds in (0, {MAX_LEASE_S:g}]")
    return float(lease)


def authorize(request: web.Request, token: str) -> None:
    """Refuse (401) a control request without ``Authorization: Bearer <token>``."""
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        raise BadRequestError("a bearer token is required for the control API", status=401,
                              kind="unauthorized")


def partitions_only(links: Links, who: str) -> Callable[[str, FaultSpecBase], Undo]:
    """``apply_other`` for a calling side: it takes partitions (into ``links``) only."""
    def apply(_target: str, spec: FaultSpecBase) -> Undo:
        if not isinstance(spec, PartitionFault):
            raise BadRequestError(f"{who} cannot take a {spec.kind_name()} fault",
                                  status=422, kind="unsupported_fault")
        a, b = (str(side) for side in spec.sides())
        return links.cut(a, b, spec.mode, spec.probability)
    return apply


def with_pool(app: web.Application, keep: Callable[[HttpPool], None]) -> None:
    """Give the app an HTTP pool for its calls (``keep(pool)``), closed when it stops."""
    async def pool_ctx(_app: web.Application) -> AsyncIterator[None]:
        pool = HttpPool()
        keep(pool)
        yield
        await pool.close()

    app.cleanup_ctx.append(pool_ctx)


def partition_caller(spec: PartitionFault) -> str:
    """The side of a partition whose calls it cuts (the caller applies it): the
    orchestrator for a link to an agent, the agent for a link to an endpoint or tool."""
    a, b = spec.sides()
    kinds = {a.kind, b.kind}
    if TargetKind.ORCHESTRATOR in kinds and TargetKind.AGENT in kinds:
        return "orchestrator"
    if TargetKind.AGENT in kinds and kinds & {TargetKind.ENDPOINT, TargetKind.TOOL}:
        return str(a if a.kind is TargetKind.AGENT else b)
    raise BadRequestError(f"no calls go between {a} and {b}: the partition would cut "
                          "nothing", status=422, kind="unsupported_fault")


def parse_fault(body: dict[str, Any]) -> tuple[str, FaultSpecBase, float]:
    """(target, spec, lease) of a ``PUT /_squall/faults/{id}`` body; 400 with the reason.
    A partition names its sides in ``between``; its target is the calling side."""
    spec_data = body.get("fault")
    if not isinstance(spec_data, dict):
        raise BadRequestError("give the fault spec as an object under \"fault\"")
    partition = spec_data.get("kind") == "partition"
    target = body.get("target")
    if not isinstance(target, str) and not partition:
        raise BadRequestError("give the fault's target, e.g. \"endpoint.frontier\"")
    try:
        spec = _FAULT.validate_python({"at": 0, **spec_data} if partition else
                                      {"target": target, "at": 0, **spec_data})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequestError(f"fault.{where}: {first['msg']}") from None
    if isinstance(spec, PartitionFault):
        target = partition_caller(spec)
    assert isinstance(target, str)
    return target, spec, lease_of(body)


def make_app(name: str, token: str, control: FaultControl | None = None) -> web.Application:
    """An application with JSON errors, health, and (with ``control``) the fault API."""
    app = web.Application(middlewares=[_timing, _errors], client_max_size=1 << 20)

    def authorized(request: web.Request) -> None:
        authorize(request, token)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "service": name})

    app.router.add_get(f"{CONTROL}/health", health)
    if control is None:
        return app

    async def list_faults(request: web.Request) -> web.Response:
        authorized(request)
        return web.json_response({"faults": control.listing()})

    async def put_fault(request: web.Request) -> web.Response:
        authorized(request)
        target, spec, lease = parse_fault(await read_json(request))
        control.apply(request.match_info["id"], target, spec, lease)
        return web.json_response({"applied": request.match_info["id"]}, status=201)

    async def renew(request: web.Request) -> web.Response:
        authorized(request)
        if not control.renew(request.match_info["id"], lease_of(await read_json(request))):
            raise BadRequestError("no such fault", status=404, kind="not_found")
        return web.json_response({"renewed": request.match_info["id"]})

    async def delete_fault(request: web.Request) -> web.Response:
        authorized(request)
        if not control.end(request.match_info["id"]):
            raise BadRequestError("no such fault", status=404, kind="not_found")
        return web.json_response({"removed": request.match_info["id"]})

    async def delete_all(request: web.Request) -> web.Response:
        authorized(request)
        return web.json_response({"removed": control.rollback()})

    app.router.add_get(f"{CONTROL}/faults", list_faults)
    app.router.add_delete(f"{CONTROL}/faults", delete_all)
    app.router.add_put(f"{CONTROL}/faults/{{id}}", put_fault)
    app.router.add_post(f"{CONTROL}/faults/{{id}}/renew", renew)
    app.router.add_delete(f"{CONTROL}/faults/{{id}}", delete_fault)
    return app


def _ready(port: int) -> None:
    print(f"READY {port}", flush=True)


def serve(app: web.Application, *, host: str = "127.0.0.1", port: int = 0,
          announce: Callable[[int], None] | None = None) -> None:
    """Serve ``app`` until SIGTERM or SIGINT (or its parent is gone); ``announce(port)``
    once listening (by default the ``READY <port>`` line a starter waits for)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is part of the reference extra
        runner = asyncio.run
    else:
        runner = uvloop.run
    runner(_serve(app, host, port, announce or _ready))


async def _serve(app: web.Application, host: str, port: int,
                 announce: Callable[[int], None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    setup = asyncio.create_task(runner.setup())  # a supervisor starts its system here
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({setup, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not setup.done():  # stopped while starting: what was started is stopped
        setup.cancel()
        await asyncio.gather(setup, return_exceptions=True)
        LOG.info("stopped while starting")
        return
    stopping.cancel()
    setup.result()  # a start that failed raises here
    site = web.TCPSite(runner, host, port, reuse_address=True, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    announce(bound)
    LOG.info("serving", extra={"fields": {"host": host, "port": bound}})
    orphaned = asyncio.create_task(_when_orphaned(stop))
    try:
        await stop.wait()
    finally:
        orphaned.cancel()
        await runner.cleanup()


async def _when_orphaned(stop: asyncio.Event) -> None:
    """Stop when the process that started this one is gone (even SIGKILLed): a service
    never outlives whoever runs the system."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(ORPHAN_POLL_S)
    LOG.info("parent gone: stopping")
    stop.set()
