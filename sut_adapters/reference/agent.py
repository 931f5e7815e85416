"""An agent replica: one process serving ``POST /invoke``.

Per call, as in the simulator: the agent's service time, then its LLM calls, then its
tool calls, holding one of the replica's slots throughout (a real worker waits on its
LLM). LLM and tool calls run through the shared call semantics (:mod:`harness.calls`):
per-attempt timeouts capped by the caller's limit, retries with Retry-After as a floor,
breakers per endpoint, fallback endpoints. Faults on the agent are decided per call by
:func:`faults.effects.decide`.

The caller gives the attempt's ``limit`` as a ``time.monotonic()`` instant (all the
reference system's processes share the machine's monotonic clock). The answer carries
the spans of every LLM and tool attempt, tokens and cost; a failed call answers 502
with the error kind (and the last 429's ``Retry-After``). Work whose caller gave up runs
on to its end, holding its slot, as in the simulator; the answer (a timeout, with the
trace so far) goes back at the limit all the same, and a call still queued at its limit
leaves the queue.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from faults.effects import Links
from faults.specs import CutMode, ErrorMode
from harness.calls import Call, Chain, Target
from harness.calls.aio import run_call
from harness.dists import BlockSampler
from harness.outcomes import ErrorKind
from harness.policies.breaker import CircuitBreaker
from harness.policies.retry import RetryPolicy
from harness.rng import stream
from harness.scenario.system import Agent, LlmCall, ToolCall
from sut_adapters.reference.client import (
    ANSWER_GRACE_S,
    Answer,
    HttpPool,
    call_json,
    cut_call,
    hop,
)
from sut_adapters.reference.server import Server, hang, priority_of
from sut_adapters.reference.service import (
    BadRequestError,
    FaultControl,
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

__all__ = ["AgentReplica", "agent_app"]

TIMEOUT = ErrorKind.TIMEOUT.value
CRASH = ErrorKind.CRASH.value


@dataclass
class Work:
    """What one call to the agent did: its spans and what it used."""

    spans: list[dict[str, Any]] = field(default_factory=list)
    tin: int = 0
    tout: int = 0
    cost: float = 0.0
    retry_after: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  #: breaker transitions
    busy_until: float = 0.0  #: work abandoned at its limit holds the slot until then


def _policy(spec: Any) -> RetryPolicy | None:
    return RetryPolicy(spec) if spec is not None else None


class _Llm:
    """One ``llm:`` entry of the agent: draws, chain, breakers."""

    def __init__(self, replica: AgentReplica, index: int, spec: LlmCall) -> None:
        key = f"agent/{replica.name}/llm{index}"
        seed = replica.seed
        self.calls = BlockSampler(spec.calls, stream(seed, f"{key}/calls/{replica.index}")).draw
        self.tin = BlockSampler(spec.input_tokens, stream(seed, f"{key}/in/{replica.index}")).draw
        self.tout = BlockSampler(spec.output_tokens,
                                 stream(seed, f"{key}/out/{replica.index}")).draw
        rng = random.Random(int(stream(seed, f"{key}/retry/{replica.index}").integers(0, 2**62)))
        retry = _policy(spec.retry)
        self.targets: dict[str, Target] = {}
        for name in (spec.endpoint, *spec.fallback):
            breaker = (CircuitBreaker(spec.circuit_breaker,
                                      breaker_listener(f"{replica.name}→{name}"))
                       if spec.circuit_breaker is not None else None)
            self.targets[name] = Target(name, subject=replica.endpoints[name], retry=retry,
                                        breaker=breaker, timeout=spec.timeout, rng=rng)
        self.chain = Chain(list(self.targets.values()), TIMEOUT)
        self._retry, self._timeout, self._rng = retry, spec.timeout, rng
        self._reroutes: dict[str, Chain] = {}
        self._urls = replica.endpoints

    def chain_for(self, endpoint: str | None) -> Chain:
        if endpoint is None:
            return self.chain
        chain = self._reroutes.get(endpoint)
        if chain is None:
            target = self.targets.get(endpoint) or Target(
                endpoint, subject=self._urls[endpoint], retry=self._retry,
                timeout=self._timeout, rng=self._rng)
            chain = self._reroutes[endpoint] = Chain([target], TIMEOUT)
        return chain


class _Tool:
    def __init__(self, replica: AgentReplica, index: int, spec: ToolCall) -> None:
        key = f"agent/{replica.name}/tool{index}"
        self.calls = BlockSampler(spec.calls,
                                  stream(replica.seed, f"{key}/calls/{replica.index}")).draw
        rng = random.Random(int(stream(replica.seed, f"{key}/retry/{replica.index}")
                                .integers(0, 2**62)))
        self.chain = Chain([Target(spec.tool, subject=replica.tools[spec.tool],
                                   retry=_policy(spec.retry), timeout=spec.timeout, rng=rng)],
                           TIMEOUT)


class AgentReplica(Server):
    kind = "agent"

    def __init__(self, name: str, index: int, spec: Agent, *, seed: int,
                 endpoints: dict[str, str], tools: dict[str, str]) -> None:
        super().__init__(f"{name}", concurrency=spec.concurrency,
                         queue_limit=spec.queue_limit, error_rate=0.0, seed=seed)
        self.rng = random.Random(int(stream(seed, f"agent/{name}/faults/{index}")
                                     .integers(0, 2**62)))
        self.index, self.spec, self.seed = index, spec, seed
        self.endpoints, self.tools = endpoints, tools
        self._service = BlockSampler(spec.service_time,
                                     stream(seed, f"agent/{name}/service/{index}")).draw
        self.llm = [_Llm(self, i, c) for i, c in enumerate(spec.llm)]
        self.tool_calls = [_Tool(self, i, t) for i, t in enumerate(spec.tools)]
        self.session: HttpPool | None = None
        self.links = Links()  #: partitions between this agent and endpoints or tools


    # --- one call ----------------------------------------------------------------------

    async def work(self, limit: float, endpoint: str | None, priority: int,
                   how: ErrorMode | None, work: Work) -> str | None:
        """Service time, LLM calls, tool calls; None or the error kind."""
        service = self.latency(self._service())
        if how is ErrorMode.TIMEOUT:
            await pause_until(limit)
            return TIMEOUT
        if service > 0:
            end = time.monotonic() + service
            if end > limit:  # the caller gives up first: answer then, work on until end
                await pause_until(limit)
                work.busy_until = end
                return TIMEOUT
            await pause(service)
        if how is ErrorMode.ERROR:
            return ErrorKind.ERROR.value
        for llm in self.llm:
            for _ in range(max(round(llm.calls()), 0)):
                tin, tout = max(round(llm.tin()), 0), max(round(llm.tout()), 1)
                err = await self._call(llm.chain_for(endpoint), limit, work, priority,
                                       kind="llm", body={
                                           "model": "squall", "max_tokens": tout,
                                           "messages": [{"role": "user", "content": "."}],
                                           "squall": {"input_tokens": tin}})
                if err is not None:
                    return err
        for tool in self.tool_calls:
            for _ in range(max(round(tool.calls()), 0)):
                err = await self._call(tool.chain, limit, work, priority, kind="tool",
                                       body={})
                if err is not None:
                    return err
        return ErrorKind.MALFORMED.value if how is ErrorMode.MALFORMED else None

    async def _call(self, chain: Chain, limit: float, work: Work, priority: int, *,
                    kind: str, body: dict[str, Any]) -> str | None:
        assert self.session is not None
        session = self.session
        path = "/v1/chat/completions" if kind == "llm" else "/call"

        async def attempt(call: Call) -> str | None:
            start = time.monotonic()
            if self.links.active:
                side = f"{'endpoint' if kind == 'llm' else 'tool'}.{call.target.name}"
                cut = self.links.between(self.target, side, self.rng)
                if cut is not None:
                    err = await cut_call(cut, call.limit)
                    work.spans.append(_span(kind, call.target.name, self.name, call.number,
                                            start=start, end=time.monotonic(), error=err,
                                            fallback=call.fallback))
                    return err
            answer = await call_json(session, f"{call.target.subject}{path}", body,
                                     limit=call.limit, priority=priority, grace=ANSWER_GRACE_S)
            self._span(work, answer, kind, call, start)
            return answer.error

        def refused(call: Call) -> None:
            now = time.monotonic()
            work.spans.append(_span(kind, call.target.name, self.name, call.number, start=now,
                                    end=now, error=ErrorKind.CIRCUIT_OPEN.value,
                                    fallback=call.fallback))

        err = await run_call(Call(chain, limit), time.monotonic, attempt, refused=refused,
                             retry_after=lambda: work.retry_after)
        return chain.settle(time.monotonic(), limit, err)

    def _span(self, work: Work, answer: Answer, kind: str, call: Call, start: float) -> None:
        ext = answer.body.get("squall") or {}  # a timeout says how long it queued too
        usage = answer.body.get("usage", {}) if answer.error is None else {}
        cost = float(ext.get("cost", 0.0)) if answer.error is None else 0.0
        tin, tout = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        if answer.billed is not None:  # a malformed answer is billed like any other
            tin, tout, cost = answer.billed
        if answer.retry_after is not None:
            work.retry_after = answer.retry_after
        work.tin += tin
        work.tout += tout
        work.cost += cost
        work.spans.append(_span(kind, call.target.name, self.name, call.number, start=start,
                                end=time.monotonic(), error=answer.error,
                                fallback=call.fallback, queue_s=float(ext.get("queue_s", 0.0)),
                                tin=tin, tout=tout, cost=cost,
                                hop_s=hop(start, time.monotonic(), answer.served_s)))


def _span(kind: str, component: str, caller: str, attempt: int, *, start: float, end: float,
          error: str | None, fallback: bool, queue_s: float = 0.0, tin: int = 0,
          tout: int = 0, cost: float = 0.0, replica: int = -1,
          hop_s: float | None = None) -> dict[str, Any]:
    return {"kind": kind, "component": component, "caller": caller, "replica": replica,
            "attempt": attempt, "start": start, "end": end, "queue_s": queue_s,
            "error": error, "fallback": fallback, "tokens_in": tin, "tokens_out": tout,
            "cost": cost, "hop_s": hop_s}


def _limit_of(body: dict[str, Any]) -> float:
    limit = body.get("limit", math.inf)
    if limit is None:
        return math.inf
    if not isinstance(limit, int | float) or isinstance(limit, bool):
        raise BadRequestError("limit must be a time.monotonic() instant in seconds")
    return float(limit)


def agent_app(name: str, index: int, spec: Agent, *, seed: int, token: str,
              endpoints: dict[str, str], tools: dict[str, str]
              ) -> tuple[web.Application, AgentReplica]:
    replica = AgentReplica(name, index, spec, seed=seed, endpoints=endpoints, tools=tools)
    control = FaultControl(replica.set_effects, targets={replica.target},
                           apply_other=partitions_only(replica.links, "an agent replica"))
    app = make_app(f"{replica.target}/{index}", token, control)
    with_pool(app, lambda pool: setattr(replica, "session", pool))

    async def invoke(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        limit = _limit_of(body)
        endpoint = body.get("endpoint")
        if endpoint is not None and endpoint not in endpoints:
            raise BadRequestError(f"no endpoint {endpoint!r} for this agent")
        prio = priority_of(request)
        d = replica.disturbance()
        if d is not None and d.refuse is CutMode.FAIL_FAST:
            return json_error(503, "unavailable", f"{replica.target} is down")
        if d is not None and d.refuse is CutMode.HANG:
            return await hang(request, limit)
        entered = await replica.enter(prio, limit)  # its queue full, or its limit passed
        if isinstance(entered, web.Response):
            return entered
        queue_s = entered
        work = Work()
        try:
            with traced_events(work.events):
                err = await replica.work(limit, endpoint, prio, d.error if d else None, work)
        finally:
            held = work.busy_until - time.monotonic()
            if held > 0:
                asyncio.get_running_loop().call_later(held, replica.slots.release)
            else:
                replica.slots.release()
        result = {"replica": index, "queue_s": round(queue_s, 6), "spans": work.spans,
                  "events": work.events, "busy_until": work.busy_until or None,
                  "tokens_in": work.tin, "tokens_out": work.tout, "cost": work.cost}
        if err is None:
            return web.json_response({"ok": True, "squall": result})
        headers = {"Retry-After": f"{work.retry_after:g}"} \
            if err == ErrorKind.RATE_LIMITED.value and work.retry_after is not None else None
        return web.json_response({"error": {"type": err, "message": f"{name} failed: {err}"},
                                  "squall": result}, status=502, headers=headers)

    app.router.add_post("/invoke", invoke)
    replica.serve_load(app, token)
    return app, replica
