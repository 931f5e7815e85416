"""The reference system's web stack, chosen by measurement.

Every hop in the reference system is the same small exchange: a JSON body in, a JSON
body out. This serves that exchange two ways, each in its own process, and loads both
with the same generator (``bench_reference.closed_loop``, aiohttp, one process) on the
same 2-core machine:

- aiohttp's web server on uvloop — what the reference system uses;
- a plain ASGI application on uvicorn with httptools and uvloop (the fastest ASGI
  setup: no framework on top).

Figures (one JSON line each; ``ratio`` is aiohttp's over uvicorn's):
- ``reference.webstack_rps``: requests per second at 32 in flight.
- ``reference.webstack_p50_ms``: latency of one request at a time, median.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np
from bench_reference import SECONDS, closed_loop, emit

BODY = {"request_id": "r-1", "limit": 1e9, "messages": [{"role": "user", "content": "x"}]}


def answer(data: dict[str, Any]) -> bytes:
    return json.dumps({"ok": True, "squall": {"request_id": data.get("request_id"),
                                              "queue_s": 0.0, "spans": [], "cost": 0.0}}
                      ).encode()


def serve_aiohttp(port: int) -> None:
    import uvloop
    from aiohttp import web

    async def call(request: web.Request) -> web.Response:
        return web.Response(body=answer(await request.json()),
                            content_type="application/json")

    app = web.Application()
    app.router.add_post("/call", call)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    out = answer(json.loads(body))
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


def serve_uvicorn(port: int) -> None:
    import uvicorn

    uvicorn.run(asgi, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                lifespan="off", access_log=False, log_level="warning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def measure(stack: str) -> tuple[float, float]:
    """(requests/s at 32 in flight, median ms one at a time) of ``stack``."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "serve", stack, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"the {stack} server did not start") from None
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/call"
        asyncio.run(closed_loop(url, BODY, 8, 0.5))  # warm up
        done = asyncio.run(closed_loop(url, BODY, 32, SECONDS))
        one = asyncio.run(closed_loop(url, BODY, 1, SECONDS / 2))
        return len(done) / SECONDS, float(np.median(one)) * 1000
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


def main() -> None:
    results: dict[str, list[tuple[float, float]]] = {"aiohttp": [], "uvicorn": []}
    for _ in range(1 if os.environ.get("SQUALL_BENCH_SMOKE") == "1" else 3):
        for stack, got in results.items():  # interleaved: machine drift hits both alike
            got.append(measure(stack))
    ours = max(r for r, _ in results["aiohttp"]), min(m for _, m in results["aiohttp"])
    base = max(r for r, _ in results["uvicorn"]), min(m for _, m in results["uvicorn"])
    emit(figure="reference.webstack_rps", value=round(ours[0]), unit="requests/s",
         stack="aiohttp + uvloop", baseline="uvicorn + httptools + uvloop, plain ASGI",
         baseline_value=round(base[0]), ratio=round(ours[0] / base[0], 3), in_flight=32)
    emit(figure="reference.webstack_p50_ms", value=round(ours[1], 3), unit="ms",
         stack="aiohttp + uvloop", baseline="uvicorn + httptools + uvloop, plain ASGI",
         baseline_value=round(base[1], 3), ratio=round(ours[1] / base[1], 3))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        {"aiohttp": serve_aiohttp, "uvicorn": serve_uvicorn}[sys.argv[2]](int(sys.argv[3]))
    else:
        main()
