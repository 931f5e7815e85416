"""A tool service (a search API, a database, a payment gateway): ``POST /call`` answers
after the tool's latency, within its concurrency and queue, at its error rate and price,
disturbed by the active faults exactly as the simulator's tools are."""

from __future__ import annotations

from aiohttp import web

from faults.specs import ErrorMode
from harness.dists import BlockSampler
from harness.rng import stream
from harness.scenario.system import Tool
from sut_adapters.reference.server import (
    Server,
    billed_header,
    limit_of,
    priority_of,
    timed_out,
)
from sut_adapters.reference.service import FaultControl, json_error, make_app

__all__ = ["ToolServer", "tool_app"]


class ToolServer(Server):
    kind = "tool"

    def __init__(self, name: str, spec: Tool, seed: int) -> None:
        super().__init__(name, concurrency=spec.concurrency, queue_limit=spec.queue_limit,
                         error_rate=spec.error_rate, seed=seed)
        self.spec = spec
        self._latency = BlockSampler(spec.latency, stream(seed, f"tool/{name}/latency")).draw


def tool_app(name: str, spec: Tool, seed: int, token: str) -> tuple[web.Application,
                                                                     ToolServer]:
    tool = ToolServer(name, spec, seed)
    control = FaultControl(tool.set_effects, targets={tool.target},
                           apply_other=tool.apply_capacity)
    app = make_app(tool.target, token, control)

    async def call(request: web.Request) -> web.StreamResponse:
        await request.read()
        prio, limit = priority_of(request), limit_of(request)
        d = tool.disturbance()
        turned_away = await tool.at_the_door(request, d, limit)
        if turned_away is not None:
            return turned_away
        entered = await tool.enter(prio, limit)
        if isinstance(entered, web.Response):
            return entered
        queue_s = entered
        how = d.error if d is not None else None
        if how is ErrorMode.TIMEOUT:
            return await tool.hang_in_slot(request, limit)
        cost = tool.spec.price_per_call if d is None or d.billed else 0.0
        if not await tool.serve(tool.latency(tool._latency()), limit):
            # the call goes on to its end without its caller, and is billed (as simulated)
            return timed_out(queue_s, billed=(0, 0, cost) if cost else None)
        if how is ErrorMode.ERROR:
            return json_error(500, "error", f"{tool.target} failed (injected)")
        tool.served += 1
        if how is ErrorMode.MALFORMED:  # served, so billed: said aside, as an LLM's is
            return web.Response(body=b'{"ok": tru', content_type="application/json",
                                headers=billed_header(0, 0, cost))
        return web.json_response({"ok": True, "squall": {
            "tool": tool.name, "queue_s": round(queue_s, 6), "cost": cost}})

    app.router.add_post("/call", call)
    tool.serve_load(app, token)
    return app, tool
