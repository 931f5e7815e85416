"""A mock LLM endpoint: OpenAI's ``POST /v1/chat/completions``, plain and streaming
(server-sent events), with the scenario endpoint's latency model, limits and price.

- Latency: time to first token, then one token per ``per_token`` (aiperf's model), or a
  whole-call ``latency``; drawn from the same seeded streams the simulator uses.
- Output length: the request's ``max_tokens`` (the agent replicas draw it from the
  scenario's token distribution), else ``output_tokens`` given at start.
- Input length: ``squall.input_tokens`` in the body when the caller knows it, else
  about four characters per token of the messages' text.
- ``concurrency`` slots with a priority queue (``X-Squall-Priority``: 0 high … 2 low);
  beyond ``queue_limit`` waiting calls: 503 ``overloaded``.
- RPM/TPM limits: 429 with ``Retry-After``; a call larger than the token limit: 400.
- A ``usage`` block with token counts, and a ``squall`` block with what the driver
  records as a span: queue wait, time to first token, cost, the error kind if any.
- Faults through the control API, decided per call by :func:`faults.effects.decide`:
  added latency, errors (5xx after the time to first token, a hang, a malformed body),
  429 storms and lowered limits, outages (refuse or hang), brownouts, partial outages
  (a share of the slots).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from typing import Any

from aiohttp import web

from faults.effects import Effects
from faults.specs import ErrorMode
from harness.dists import BlockSampler
from harness.policies.ratelimit import limiter_for
from harness.rng import stream
from harness.scenario.system import Endpoint
from sut_adapters.reference.server import (
    Server,
    billed_header,
    limit_of,
    priority_of,
    timed_out,
)
from sut_adapters.reference.service import (
    BadRequestError,
    FaultControl,
    json_error,
    read_json,
)

__all__ = ["MockLlm", "llm_app"]

STREAM_TICK_S = 0.01  #: tokens due within one tick go out in one chunk


class MockLlm(Server):
    """One endpoint's model: latency, rate limits, and the shared server parts."""

    kind = "endpoint"

    def __init__(self, name: str, spec: Endpoint, seed: int, *,
                 output_tokens: int = 64) -> None:
        super().__init__(name, concurrency=spec.concurrency, queue_limit=spec.queue_limit,
                         error_rate=spec.error_rate, seed=seed)
        self.spec = spec
        first = spec.ttft if spec.ttft is not None else spec.latency
        assert first is not None
        self._first = BlockSampler(first, stream(seed, f"endpoint/{name}/latency")).draw
        self._per_token = BlockSampler(spec.per_token, stream(seed, f"endpoint/{name}/itl")).draw
        self._whole = spec.latency is not None
        self.output_tokens = output_tokens
        limits = spec.rate_limit
        self._limits = limits.limits if limits else None
        self.fixed_retry_after = limits.retry_after if limits else None
        self.limiter = limiter_for(self._limits, None, time.monotonic())

    def set_effects(self, target: str, fx: Effects | None) -> None:
        super().set_effects(target, fx)
        self.limiter = limiter_for(self._limits, fx.limits if fx is not None else None,
                                   time.monotonic())

    def times(self, tokens_out: int) -> tuple[float, float]:
        """(time to first token, whole latency), faults applied."""
        first = self._first()
        whole = first if self._whole else first + self._per_token() * max(tokens_out - 1, 0)
        return self.latency(first), self.latency(whole)

    def price(self, tin: int, tout: int) -> float:
        return self.spec.price.of(tin, tout)


def _tokens_in(body: dict[str, Any]) -> int:
    ext = body.get("squall")
    if isinstance(ext, dict) and "input_tokens" in ext:
        n = ext["input_tokens"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise BadRequestError("squall.input_tokens must be a whole number ≥ 0")
        return n
    text = 0
    for m in body["messages"]:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            text += len(content)
        elif isinstance(content, list):
            text += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    return max(1, math.ceil(text / 4))


def _parse(body: dict[str, Any], default_out: int) -> tuple[int, int, bool, str]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("messages must be a non-empty list")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is None:
        tout = default_out
    elif isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        tout = max_tokens
    else:
        raise BadRequestError("max_tokens must be a whole number ≥ 1")
    streaming = body.get("stream", False)
    if not isinstance(streaming, bool):
        raise BadRequestError("stream must be true or false")
    model = body.get("model", "")
    if not isinstance(model, str):
        raise BadRequestError("model must be a string")
    return _tokens_in(body), tout, streaming, model


def llm_app_routes(app: web.Application, llm: MockLlm) -> None:
    async def completions(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        tin, tout, streaming, model = _parse(body, llm.output_tokens)
        prio, limit = priority_of(request), limit_of(request)
        d = llm.disturbance()
        turned_away = await llm.at_the_door(request, d, limit)
        if turned_away is not None:
            return turned_away
        if llm.limiter is not None:
            wait = llm.limiter.try_acquire(time.monotonic(), tin + tout)
            if math.isinf(wait):
                return json_error(400, "request_too_large",
                                  f"{tin + tout} tokens exceed the token limit")
            if wait > 0:
                llm.refused += 1
                retry_after = wait if llm.fixed_retry_after is None else llm.fixed_retry_after
                return json_error(429, "rate_limited", "rate limit reached",
                                  {"Retry-After": f"{retry_after:.3f}"})
        entered = await llm.enter(prio, limit)
        if isinstance(entered, web.Response):
            return entered
        queue_s = entered
        first, whole = llm.times(tout)
        how = d.error if d is not None else None
        if how is ErrorMode.TIMEOUT:
            return await llm.hang_in_slot(request, limit)
        if how is ErrorMode.ERROR:  # fails after its time to first token
            if not await llm.serve(first, limit):
                return timed_out(queue_s)
            return json_error(500, "error", f"{llm.name} failed (injected)")
        cost = llm.price(tin, tout)
        ext = {"endpoint": llm.name, "queue_s": round(queue_s, 6), "cost": cost,
               "ttft_s": round(first, 6), "malformed": how is ErrorMode.MALFORMED}
        if streaming:  # a stream's caller reads it as it comes: no limit here
            llm.served += 1
            try:
                return await _stream(request, model, tin, tout, first=first, whole=whole,
                                     ext=ext, malformed=how is ErrorMode.MALFORMED)
            finally:
                llm.slots.release()
        if not await llm.serve(whole, limit):  # it goes on to its end, and is billed
            return timed_out(queue_s, billed=(tin, tout, cost) if d is None or d.billed
                             else None)
        llm.served += 1
        if how is ErrorMode.MALFORMED:  # served to its end, so billed: say so aside
            return web.Response(body=b'{"id": "chatcmpl-malformed", "choices": [{"mess',
                                content_type="application/json",
                                headers=billed_header(tin, tout, cost))
        return web.json_response(_completion(model, tin, tout, ext))

    app.router.add_post("/v1/chat/completions", completions)




def _completion(model: str, tin: int, tout: int, ext: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "length" if tout else "stop",
                     "message": {"role": "assistant", "content": "tok " * tout}}],
        "usage": {"prompt_tokens": tin, "completion_tokens": tout,
                  "total_tokens": tin + tout},
        "squall": ext,
    }


async def _stream(request: web.Request, model: str, tin: int, tout: int, *, first: float,
                  whole: float, ext: dict[str, Any], malformed: bool) -> web.StreamResponse:
    """Server-sent events: the first token at ``first``, the rest evenly until
    ``whole``, tokens due within one tick sent together; then usage and ``[DONE]``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        event = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(event)}\n\n".encode()

    step = (whole - first) / (tout - 1) if tout > 1 else 0.0
    await asyncio.sleep(max(first - (loop.time() - start), 0.0))
    await response.write(chunk({"role": "assistant", "content": "tok "}))
    sent = 1
    while sent < tout:  # token k is due at first + (k - 1) × step
        elapsed = loop.time() - start
        due = tout if step <= 0 else min(tout, 1 + int((elapsed - first) / step))
        if due > sent:
            await response.write(chunk({"content": "tok " * (due - sent)}))
            sent = due
            continue
        await asyncio.sleep(max(start + first + sent * step - loop.time(), STREAM_TICK_S))
    if malformed:
        await response.write(b"data: {\"choices\": [{\"delta\"\n\n")
    await response.write(chunk({}, "length", usage={
        "prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
        squall=ext))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def llm_app(name: str, spec: Endpoint, seed: int, token: str, *,
            output_tokens: int = 64) -> tuple[web.Application, MockLlm]:
    """The endpoint's application and its model."""
    from sut_adapters.reference.service import make_app

    llm = MockLlm(name, spec, seed, output_tokens=output_tokens)
    control = FaultControl(llm.set_effects, targets={f"endpoint.{name}"},
                           apply_other=llm.apply_capacity)
    app = make_app(f"endpoint.{name}", token, control)
    llm_app_routes(app, llm)
    llm.serve_load(app, token)
    app["llm"] = llm
    return app, llm
