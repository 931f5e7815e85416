"""The fault proxy's cost on the data path (``squall proxy``, no toxic active).

An aiohttp JSON server (the exchange of ``bench_webstack``) is loaded directly and through
the proxy, interleaved, by the same generator. The proxy is pinned to one core; the
server and the generator share the other.

Figures (one JSON line each):
- ``proxy.added_p50_ms`` / ``proxy.added_p99_ms``: latency the proxy adds at 1,000
  requests/s, open model (latency from each request's intended start), through minus
  direct (target p50 ≤ 1 ms).
- ``proxy.max_rps``: the highest rate forwarded, closed loop at 64 in flight, with the
  proxy's CPU use on its core (1.0: the core is saturated, the proxy is the limit);
  ``baseline_value`` is the same load sent directly (ratio: through / direct).
- ``proxy.rps_per_core``: ``max_rps`` over the proxy's CPU use — the rate one core
  forwards when the proxy is the limit. On 2 cores the server and the generator (one
  core between them) saturate first, so this is extrapolated from CPU time, not reached.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import numpy as np
from bench_reference import SMOKE, closed_loop, emit
from bench_webstack import BODY, free_port

RATE = 1000.0
SECONDS = 1.0 if SMOKE else 6.0
ROOT = Path(__file__).resolve().parent.parent


async def open_loop(url: str, rate: float, seconds: float) -> list[float]:
    """Requests at ``rate``/s, evenly spaced; latency from each one's intended start."""
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        async def one(intended: float) -> None:
            async with session.post(url, json=BODY) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"{url} answered {r.status}")
            latencies.append(time.perf_counter() - intended)

        tasks = []
        start = time.perf_counter() + 0.05
        for i in range(int(rate * seconds)):
            intended = start + i / rate
            wait = intended - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(intended)))
        await asyncio.gather(*tasks)
    return latencies


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_proxy(upstream: int) -> tuple[subprocess.Popen[str], str, str]:
    """``squall proxy`` on core 0 with one proxy to the server; (process, API, listen)."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", "proxy", "--api",
                             "127.0.0.1:0"], stdout=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=ROOT)
    os.sched_setaffinity(proc.pid, {0})  # before it starts serving: its threads inherit it
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:\d+", line)
    if m is None:
        raise SystemExit(f"squall proxy did not start: {line!r}")
    api = m.group(0)
    req = urllib.request.Request(api + "/proxies", method="POST", data=json.dumps(
        {"name": "up", "upstream": f"127.0.0.1:{upstream}", "listen": "127.0.0.1:0"}).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        listen = json.loads(resp.read())["listen"]
    return proc, api, listen


def main() -> None:
    others = {1} if os.cpu_count() and os.cpu_count() > 1 else {0}  # type: ignore[operator]
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "benchmarks/bench_webstack.py"),
                               "serve", "aiohttp", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    os.sched_setaffinity(server.pid, others)
    proxy, _, listen = start_proxy(port)
    os.sched_setaffinity(0, others)
    try:
        deadline = time.monotonic() + 30
        direct_url, proxy_url = f"http://127.0.0.1:{port}/call", f"http://{listen}/call"
        while True:
            try:
                asyncio.run(closed_loop(direct_url, BODY, 1, 0.1))
                break
            except (aiohttp.ClientError, OSError):
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        asyncio.run(closed_loop(proxy_url, BODY, 8, 0.5))  # warm up both paths
        direct: list[float] = []
        through: list[float] = []
        for _ in range(1 if SMOKE else 3):  # interleaved: drift hits both alike
            direct += asyncio.run(open_loop(direct_url, RATE, SECONDS))
            through += asyncio.run(open_loop(proxy_url, RATE, SECONDS))
        for q, name in ((50, "proxy.added_p50_ms"), (99, "proxy.added_p99_ms")):
            a, b = (float(np.percentile(x, q)) * 1000 for x in (through, direct))
            emit(figure=name, value=round(a - b, 3), unit="ms", rate=RATE,
                 target="<= 1" if q == 50 else None, through_ms=round(a, 3),
                 direct_ms=round(b, 3))
        before, t0 = cpu_s(proxy.pid), time.monotonic()
        forwarded = asyncio.run(closed_loop(proxy_url, BODY, 64, SECONDS))
        busy = (cpu_s(proxy.pid) - before) / (time.monotonic() - t0)
        straight = asyncio.run(closed_loop(direct_url, BODY, 64, SECONDS))
        rps, base = len(forwarded) / SECONDS, len(straight) / SECONDS
        emit(figure="proxy.max_rps", value=round(rps), unit="requests/s", in_flight=64,
             proxy_cpu=round(busy, 2), baseline="the same load sent directly",
             baseline_value=round(base), ratio=round(rps / base, 3))
        emit(figure="proxy.rps_per_core", value=round(rps / max(busy, 1e-3)),
             unit="requests/s", measured_rps=round(rps), proxy_cpu=round(busy, 2))
    finally:
        for proc in (proxy, server):
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
