"""The orchestrator: ``POST /v1/workflows/{name}`` runs one request through its workflow.

The workflow and every call to an agent go through the shared semantics
(:func:`harness.calls.workflow`, :class:`harness.calls.Call` on asyncio): steps,
parallel joins, optional steps, delegation, workflow retries and checkpoints, the
deadline, priority routing, per-agent retries, breakers (one per agent, shared by all
requests, as in the simulator) and fallback agents. Each attempt goes to a ready replica
the agent's balancer picks (``least busy`` for a shared queue); the supervisor keeps
the replica list current (``PUT /_squall/replicas``). Faults that target a workflow are
applied here, per attempt, as the simulator applies them.

The answer carries the request's trace: every agent attempt as a span, the spans of the
agent's LLM and tool calls, tokens, cost, steps, attempts and whether a fallback served
— so the live driver records what the simulator records.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from faults.effects import Effects, Links, decide
from faults.specs import CutMode, ErrorMode
from harness.calls import Call, Chain, Target, WorkflowPlan, route, workflow
from harness.calls.aio import run_call, run_workflow
from harness.demand.arrivals import PRIORITIES
from harness.outcomes import ErrorKind
from harness.policies.balancers import Balancer, make_balancer
from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.policies.retry import RetryPolicy
from harness.rng import stream
from harness.scenario.system import AgentStep, System
from sut_adapters.reference.client import (
    ANSWER_GRACE_S,
    NO_LIMIT_S,
    HttpPool,
    call_json,
    cut_call,
    hop,
)
from sut_adapters.reference.metrics import Metric, add_metrics, counter, gauge
from sut_adapters.reference.service import (
    BadRequestError,
    FaultControl,
    authorize,
    breaker_listener,
    json_error,
    make_app,
    partitions_only,
    pause,
    pause_until,
    read_json,
    traced_events,
    with_pool,
)
from sut_adapters.reference.slots import OverloadedError, Slots

__all__ = ["Orchestrator", "orchestrator_app"]

DEADLINE = ErrorKind.DEADLINE.value
UNAVAILABLE = ErrorKind.UNAVAILABLE.value
ORCHESTRATOR = "orchestrator"


class _Request:
    """One request in flight (what the workflow coroutine and the trace need)."""

    def __init__(self, rid: str, workflow: str, prio: int, deadline: float) -> None:
        self.id, self.workflow, self.prio = rid, workflow, prio
        self.t0 = time.monotonic()
        self.deadline = deadline
        self.retry_after = 0.0
        self.steps = self.attempts = 0
        self.fallback = False
        self.tin = self.tout = 0
        self.cost = 0.0
        self.spans: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  #: breaker transitions it caused


class _Agent:
    """The orchestrator's view of an agent: target (policies), replicas, balancer."""

    def __init__(self, name: str, system: System, seed: int, log: Any) -> None:
        spec = system.agents[name]
        self.name = name
        rng = random.Random(int(stream(seed, f"orchestrator/{name}/retry").integers(0, 2**62)))
        breaker = (CircuitBreaker(spec.circuit_breaker, log(name))
                   if spec.circuit_breaker is not None else None)
        self.target = Target(name, subject=self, retry=RetryPolicy(spec.retry)
                             if spec.retry else None, breaker=breaker, timeout=spec.timeout,
                             rng=rng)
        self.chain = Chain([self.target], DEADLINE)
        self.balancer: Balancer | None = make_balancer(spec.balancer)
        self.rng = random.Random(int(stream(seed, f"agent/{name}/balance").integers(0, 2**62)))
        self._replicas: dict[int, str] = {}  #: index → URL, ready ones only
        self.load: dict[int, int] = {}  #: calls in flight per replica
        self.concurrency = spec.concurrency
        #: The shared queue (``balancer: queue``, as the simulator's shared station): its
        #: slots are every ready replica's; a call waits here, by priority, for any slot,
        #: then goes to the least busy replica. Push balancers queue at each replica.
        self.shared = Slots(0, spec.queue_limit) if self.balancer is None else None

    @property
    def replicas(self) -> dict[int, str]:
        return self._replicas

    @replicas.setter
    def replicas(self, listing: dict[int, str]) -> None:
        self._replicas = listing
        if self.shared is not None:
            self.shared.set_capacity(len(listing) * self.concurrency)

    def unload(self, index: int) -> None:
        self.load[index] -= 1

    def pick(self) -> tuple[int, str] | None:
        if not self.replicas:
            return None
        ids = sorted(self.replicas)
        loads = [self.load.get(i, 0) for i in ids]
        if self.balancer is None or len(ids) == 1:  # shared queue: the least busy
            pos = min(range(len(ids)), key=loads.__getitem__)
        else:
            pos = self.balancer.pick(ids, loads, time.monotonic(), self.rng)
        return ids[pos], self.replicas[ids[pos]]


class Orchestrator:
    def __init__(self, system: System, seed: int) -> None:
        self.system = system
        self._fault_rng = random.Random(int(stream(seed, "orchestrator/faults")
                                            .integers(0, 2**62)))
        self.plan = WorkflowPlan(system.workflows, self._fault_rng)
        self.agents = {n: _Agent(n, system, seed, breaker_listener) for n in system.agents}
        for agent in self.agents.values():
            fallbacks = [self.agents[n].target for n in system.agents[agent.name].fallback]
            agent.chain = Chain([agent.target, *fallbacks], DEADLINE)
        self.workflow_effects: dict[str, Effects] = {}
        self.links = Links()  #: partitions between the orchestrator and agents
        self.session: HttpPool | None = None
        self.inflight = 0
        self.finished: dict[tuple[str, str], int] = {}  #: (workflow, outcome) → requests
        self.seconds: dict[str, float] = {}  #: workflow → summed latency of finished ones

    def set_effects(self, target: str, fx: Effects | None) -> None:
        name = target.partition(".")[2]
        if fx is None:
            self.workflow_effects.pop(name, None)
        else:
            self.workflow_effects[name] = fx

    # --- a request -----------------------------------------------------------------------

    async def run(self, req: _Request) -> str | None:
        async def call_agent(step: AgentStep) -> str | None:
            return await self.call_agent(req, step.agent)

        flow = workflow(self.plan, req.workflow, req, time.monotonic)
        return await run_workflow(flow, call_agent, clock=time.monotonic)

    async def call_agent(self, req: _Request, name: str) -> str | None:
        routed, endpoint = route(self.system.agents, name, req.prio)
        caller = self.agents[routed]
        call = Call(caller.chain, req.deadline)
        if caller.chain.first_limit(time.monotonic(), req.deadline) is not None:
            req.steps += 1  # a step that starts before the deadline counts

        async def attempt(call: Call) -> str | None:
            req.attempts += 1
            agent: _Agent = call.target.subject  # type: ignore[assignment]
            return await self._attempt(req, agent, call, None if call.fallback else endpoint)

        def refused(call: Call) -> None:
            now = time.monotonic()
            req.spans.append(_agent_span(call, -1, start=now, end=now,
                                         error=ErrorKind.CIRCUIT_OPEN.value))

        err = await run_call(call, time.monotonic, attempt, refused=refused,
                             retry_after=lambda: req.retry_after)
        if err is None and call.fallback:
            req.fallback = True
        return err

    async def _attempt(self, req: _Request, agent: _Agent, call: Call,
                       endpoint: str | None) -> str | None:
        start = time.monotonic()
        if self.links.active:
            cut = self.links.between(ORCHESTRATOR, f"agent.{agent.name}", self._fault_rng)
            if cut is not None:
                refused = await cut_call(cut, call.limit)
                req.spans.append(_agent_span(call, -1, start=start, end=time.monotonic(),
                                             error=refused))
                return refused
        fx = self.workflow_effects.get(req.workflow)
        if fx is not None:
            err = await self._faulted(fx, call.limit)
            if err is not None:
                req.spans.append(_agent_span(call, -1, start=start, end=time.monotonic(),
                                             error=err))
                return err
        waited = 0.0
        if agent.shared is not None:
            failed = await _queue(agent.shared, req.prio, call.limit)
            waited = time.monotonic() - start
            if failed is not None:
                req.spans.append(_agent_span(call, -1, start=start, end=time.monotonic(),
                                             error=failed, queue_s=waited))
                return failed
        busy_until = 0.0  # work abandoned at the limit holds its replica's slot until then
        try:
            err, busy_until = await self._send(req, agent, call, endpoint, start=start,
                                               waited=waited)
            return err
        finally:
            if agent.shared is not None:
                left = busy_until - time.monotonic()
                if left > 0:  # as the simulator's shared station: released when it ends
                    asyncio.get_running_loop().call_later(left, agent.shared.release)
                else:
                    agent.shared.release()

    async def _send(self, req: _Request, agent: _Agent, call: Call, endpoint: str | None, *,
                    start: float, waited: float) -> tuple[str | None, float]:
        """One attempt sent to a replica: its error, and until when the replica stays
        busy with it (0: not past the answer)."""
        picked = agent.pick()
        if picked is None:
            req.spans.append(_agent_span(call, -1, start=start, end=start, error=UNAVAILABLE))
            return UNAVAILABLE, 0.0
        index, url = picked
        agent.load[index] = agent.load.get(index, 0) + 1
        assert self.session is not None
        body: dict[str, Any] = {"limit": call.limit, "request_id": req.id}
        if endpoint is not None:
            body["endpoint"] = endpoint
        sent = time.monotonic()
        try:
            answer = await call_json(self.session, f"{url}/invoke", body, limit=call.limit,
                                     priority=req.prio, grace=ANSWER_GRACE_S)
        except BaseException:
            agent.load[index] -= 1
            raise
        end = time.monotonic()
        work = answer.body.get("squall", {}) if isinstance(answer.body, dict) else {}
        busy_until = float(work.get("busy_until") or 0.0)
        if busy_until > end:  # the replica works on: it stays busy for the balancer too
            asyncio.get_running_loop().call_later(busy_until - end, agent.unload, index)
        else:
            agent.unload(index)
        if answer.retry_after is not None:
            req.retry_after = answer.retry_after
        if agent.balancer is not None and answer.error is None:
            agent.balancer.observe(index, end - start, end)
        req.spans.append(_agent_span(call, int(work.get("replica", index)), start=start,
                                     end=end, error=answer.error,
                                     queue_s=waited + float(work.get("queue_s", 0.0)),
                                     hop_s=hop(sent, end, answer.served_s)))
        req.spans.extend(work.get("spans", []))
        req.events.extend(work.get("events", []))
        req.tin += int(work.get("tokens_in", 0))
        req.tout += int(work.get("tokens_out", 0))
        req.cost += float(work.get("cost", 0.0))
        return answer.error, busy_until

    async def _faulted(self, fx: Effects, limit: float) -> str | None:
        """A workflow fault on this attempt, as the simulator applies it."""
        d = decide(fx, self._fault_rng)
        if d is not None and d.refuse is not None:
            if d.refuse is CutMode.FAIL_FAST:
                return UNAVAILABLE
            await pause_until(limit)
            return ErrorKind.TIMEOUT.value
        delay = fx.latency(0.0, self._fault_rng)
        if delay > 0:
            if time.monotonic() + delay >= limit:
                await pause_until(limit)
                return ErrorKind.TIMEOUT.value
            await pause(delay)
        how = d.error if d is not None else None
        if how is ErrorMode.TIMEOUT:
            await pause_until(limit)
            return ErrorKind.TIMEOUT.value
        if how is not None:
            return ErrorKind.ERROR.value if how is ErrorMode.ERROR else ErrorKind.MALFORMED.value
        return None


async def _queue(slots: Slots, priority: int, limit: float) -> str | None:
    """Wait for a shared slot until ``limit``: None once held, else why not."""
    left = limit - time.monotonic()
    try:
        async with asyncio.timeout(left if left < NO_LIMIT_S else None):
            await slots.acquire(priority)
    except OverloadedError:
        return ErrorKind.OVERLOADED.value
    except TimeoutError:
        return ErrorKind.TIMEOUT.value
    return None


def _agent_span(call: Call, replica: int, *, start: float, end: float, error: str | None,
                queue_s: float = 0.0, hop_s: float | None = None) -> dict[str, Any]:
    return {"kind": "agent", "component": call.target.name, "caller": ORCHESTRATOR,
            "replica": replica, "attempt": call.number, "start": start, "end": end,
            "queue_s": queue_s, "error": error, "fallback": call.fallback, "tokens_in": 0,
            "tokens_out": 0, "cost": 0.0, "hop_s": hop_s}


_PRIORITY = {p.value: i for i, p in enumerate(PRIORITIES)}
_BREAKER = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def orchestrator_app(system: System, *, seed: int, token: str,
                     replicas: dict[str, dict[int, str]] | None = None
                     ) -> tuple[web.Application, Orchestrator]:
    orch = Orchestrator(system, seed)
    for name, urls in (replicas or {}).items():
        orch.agents[name].replicas = dict(urls)
    control = FaultControl(orch.set_effects, targets={f"workflow.{w}" for w in
                                                      system.workflows} | {ORCHESTRATOR},
                           apply_other=partitions_only(orch.links, "the orchestrator"))
    app = make_app(ORCHESTRATOR, token, control)
    with_pool(app, lambda pool: setattr(orch, "session", pool))

    async def run_request(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        spec = system.workflows.get(name)
        if spec is None:
            known = ", ".join(sorted(system.workflows))
            return json_error(404, "unknown_workflow", f"no workflow {name!r}; there are: "
                                                        f"{known}")
        body = await read_json(request) if request.can_read_body else {}
        prio_name = body.get("priority", spec.priority.value)
        if prio_name not in _PRIORITY:
            raise BadRequestError(f"priority must be one of {', '.join(_PRIORITY)}")
        rid = body.get("request_id", "")
        if not isinstance(rid, str | int) or isinstance(rid, bool):
            raise BadRequestError("request_id must be a string or a number")
        deadline = spec.deadline if spec.deadline is not None else math.inf
        req = _Request(str(rid), name, _PRIORITY[prio_name], time.monotonic() + deadline)
        orch.inflight += 1
        try:
            with traced_events(req.events):
                err = await orch.run(req)
        finally:
            orch.inflight -= 1
        key = (name, "ok" if err is None else err)
        orch.finished[key] = orch.finished.get(key, 0) + 1
        orch.seconds[name] = orch.seconds.get(name, 0.0) + time.monotonic() - req.t0
        trace = {"request_id": req.id, "workflow": name, "priority": prio_name,
                 "start": req.t0, "end": time.monotonic(), "steps": req.steps,
                 "attempts": req.attempts, "fallback": req.fallback,
                 "tokens_in": req.tin, "tokens_out": req.tout, "cost": req.cost,
                 "spans": req.spans, "events": req.events}
        if err is None:
            return web.json_response({"ok": True, "squall": trace})
        status = 504 if err in (DEADLINE, ErrorKind.TIMEOUT.value) else 502
        return web.json_response({"error": {"type": err, "message": f"{name} failed: {err}"},
                                  "squall": trace}, status=status)

    async def put_replicas(request: web.Request) -> web.Response:
        authorize(request, token)
        body = await read_json(request)
        for name, listing in body.items():
            if name not in orch.agents or not isinstance(listing, dict):
                raise BadRequestError(f"no agent {name!r}, or its replicas are not an object")
            orch.agents[name].replicas = {int(i): str(u) for i, u in listing.items()}
        return web.json_response({"ok": True})

    async def load(request: web.Request) -> web.Response:
        """``GET /_squall/load``: the calls waiting in each agent's shared queue (here,
        not at a replica) — load the autoscaler and the timeseries must count."""
        authorize(request, token)
        return web.json_response({"agents": {
            name: {"queued": agent.shared.waiting if agent.shared is not None else 0}
            for name, agent in orch.agents.items()}})

    add_metrics(app, lambda: _metrics(orch, control))
    app.router.add_get("/_squall/load", load)
    app.router.add_post("/v1/workflows/{name}", run_request)
    app.router.add_put("/_squall/replicas", put_replicas)
    app["orchestrator"] = orch
    return app, orch


def _metrics(orch: Orchestrator, control: FaultControl) -> Iterable[Metric]:
    now = time.monotonic()
    yield counter("squall_requests", "Workflow requests finished, by outcome",
                  ["workflow", "outcome"],
                  (([w, o], n) for (w, o), n in orch.finished.items()))
    yield counter("squall_request_seconds", "Summed latency of finished requests",
                  ["workflow"], (([w], t) for w, t in orch.seconds.items()))
    yield gauge("squall_inflight_requests", "Requests in progress", [], [([], orch.inflight)])
    yield gauge("squall_breaker_state", "Breaker per agent: 0 closed, 1 half open, 2 open",
                ["agent"], (([a.name], _BREAKER[a.target.breaker.peek(now)])
                            for a in orch.agents.values() if a.target.breaker is not None))
    yield gauge("squall_replica_inflight", "Calls in flight per agent replica",
                ["agent", "replica"], (([a.name, str(i)], n) for a in orch.agents.values()
                                       for i, n in a.load.items()))
    yield gauge("squall_replicas_in_rotation", "Replicas taking calls", ["agent"],
                (([a.name], len(a.replicas)) for a in orch.agents.values()))
    yield gauge("squall_active_faults", "Faults active here", [],
                [([], len(control.listing()))])
