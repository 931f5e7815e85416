"""The fault proxy's HTTP API: the part of Toxiproxy's that its clients use.

``GET /version``; ``GET|POST /proxies``; ``POST /populate``; ``GET|POST|DELETE
/proxies/{proxy}``; ``GET|POST /proxies/{proxy}/toxics``; ``GET|POST|DELETE
/proxies/{proxy}/toxics/{toxic}``; ``POST /reset``. Answers and errors have Toxiproxy's
shapes and codes (201 created, 204 deleted, 400 bad input with the reason, 404, 409).
Squall's extensions: the HTTP toxics (:mod:`faults.proxy.toxics`) and ``lease_s`` on a
toxic (renewed by ``POST`` to the toxic with a new ``lease_s``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from faults.proxy.core import ProxyError
from faults.proxy.server import ProxyServer
from faults.proxy.toxics import ToxicError, parse_toxic

__all__ = ["TOXIPROXY_VERSION", "proxy_app", "serve"]

#: The Toxiproxy API version this one answers like.
TOXIPROXY_VERSION = "2.12.0"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProxyError as exc:
        return _error(str(exc), exc.status)
    except ToxicError as exc:
        return _error(str(exc), 400)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProxyError(f"the body is not JSON: {exc}") from None


def proxy_app(server: ProxyServer) -> web.Application:
    app = web.Application(middlewares=[_errors])
    routes = web.RouteTableDef()

    @routes.get("/version")
    async def version(_request: web.Request) -> web.Response:
        return web.Response(text=TOXIPROXY_VERSION)

    @routes.get("/proxies")
    async def proxies(_request: web.Request) -> web.Response:
        return web.json_response({n: p.to_json() for n, p in server.proxies.items()})

    @routes.post("/proxies")
    async def create(request: web.Request) -> web.Response:
        proxy = await server.create(await _body(request))
        return web.json_response(proxy.to_json(), status=201)

    @routes.post("/populate")
    async def populate(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, list):
            raise ProxyError("populate takes a JSON list of proxies")
        made = []
        for item in body:
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name in server.proxies:
                existing = server.proxies[name]
                if (item.get("upstream"), item.get("listen")) == (existing.upstream,
                                                                   existing.listen):
                    made.append(existing)
                    continue
                await server.delete(name)
            made.append(await server.create(item))
        return web.json_response({"proxies": [p.to_json() for p in made]}, status=201)

    @routes.get("/proxies/{proxy}")
    async def show(request: web.Request) -> web.Response:
        return web.json_response(server.get(request.match_info["proxy"]).to_json())

    @routes.post("/proxies/{proxy}")
    async def update(request: web.Request) -> web.Response:
        proxy = await server.update(request.match_info["proxy"], await _body(request))
        return web.json_response(proxy.to_json())

    @routes.delete("/proxies/{proxy}")
    async def delete(request: web.Request) -> web.Response:
        await server.delete(request.match_info["proxy"])
        return web.Response(status=204)

    @routes.get("/proxies/{proxy}/toxics")
    async def toxics(request: web.Request) -> web.Response:
        proxy = server.get(request.match_info["proxy"])
        return web.json_response([t.to_json() for t in proxy.toxics.values()])

    @routes.post("/proxies/{proxy}/toxics")
    async def add_toxic(request: web.Request) -> web.Response:
        proxy = server.get(request.match_info["proxy"])
        toxic = parse_toxic(await _body(request))
        proxy.add(toxic)
        return web.json_response(toxic.to_json())

    @routes.get("/proxies/{proxy}/toxics/{toxic}")
    async def show_toxic(request: web.Request) -> web.Response:
        proxy = server.get(request.match_info["proxy"])
        return web.json_response(proxy.toxic(request.match_info["toxic"]).to_json())

    @routes.post("/proxies/{proxy}/toxics/{toxic}")
    async def update_toxic(request: web.Request) -> web.Response:
        proxy = server.get(request.match_info["proxy"])
        body = await _body(request)
        if not isinstance(body, dict):
            raise ProxyError("a toxic update is a JSON object")
        return web.json_response(proxy.update(request.match_info["toxic"], body).to_json())

    @routes.delete("/proxies/{proxy}/toxics/{toxic}")
    async def delete_toxic(request: web.Request) -> web.Response:
        server.get(request.match_info["proxy"]).remove(request.match_info["toxic"])
        return web.Response(status=204)

    @routes.post("/reset")
    async def reset(_request: web.Request) -> web.Response:
        await server.reset()
        return web.Response(status=204)

    app.add_routes(routes)
    return app


async def serve(server: ProxyServer, host: str, port: int, proxies: list[dict[str, Any]],
                ready: Callable[[str], None]) -> None:
    """Run the API on ``host:port`` with ``proxies`` created first, until cancelled;
    ``ready(url)`` once it listens."""
    server.start()
    for item in proxies:
        await server.create(item)
    runner = web.AppRunner(proxy_app(server), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        ready(f"http://{host}:{bound[1]}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await server.close()
