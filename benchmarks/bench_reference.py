"""The reference agent system's speed, as real processes on this machine.

Figures (one JSON line each), all from one `squall reference up` with the load
generator (aiohttp, one process) on the same 2-core machine:
- ``reference.workflow_rps``: three-step workflow requests per second the system
  sustains with near-zero service and LLM times (32 requests kept in flight). Target
  ≥ 300/s.
- ``reference.hop_p50_ms`` / ``reference.hop_p99_ms``: the latency one HTTP hop adds,
  at one request at a time: (a one-step workflow whose agent calls the mock LLM: three
  hops) minus (the mock LLM called directly: one hop), halved. Target p50 ≤ 2 ms.
- ``reference.replica_rss_mb``: resident memory of one agent replica process.
- ``reference.crash_to_serving_s``: from a crash fault (SIGKILL, restart at once, no
  cold start) to the restarted replica back in rotation.
- ``reference.replica_start_s`` / ``reference.replica_start_8_busy_s``: seconds to start
  one agent replica until it serves, and eight at once while two busy loops hold both
  cores (a scale-up during a burst), forked from the fork server as the supervisor does,
  against starting a new interpreter (the baseline, in the same run). A live run's time
  scale multiplies whatever a start takes beyond the scenario's cold start.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib import request

import aiohttp
import numpy as np

SMOKE = os.environ.get("SQUALL_BENCH_SMOKE") == "1"
SECONDS = 1.0 if SMOKE else 8.0
SCENARIO = """
name: bench
duration: 1m
system:
  endpoints: {m: {latency: 0s}}
  agents:
    a: {replicas: 2, concurrency: 64, llm: {endpoint: m, output_tokens: 1}}
    b: {replicas: 2, concurrency: 64}
    c: {replicas: 2, concurrency: 64}
    solo: {replicas: 1, concurrency: 4, llm: {endpoint: m, output_tokens: 1}}
  workflows:
    three: {steps: [a, b, c]}
    one: {steps: [solo]}
demand: {curve: {constant: 1}}
sla: {objective: 1s}
"""
TOKEN = "bench"


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def start(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    path = tmp / "bench.yaml"
    path.write_text(SCENARIO)
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", "reference", "up",
                             str(path), "--token", TOKEN], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    text, deadline = b"", time.monotonic() + 60
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"Ctrl-C" not in text:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the reference system did not start: {text.decode()}")
            if sel.select(0.2):
                text += os.read(proc.stdout.fileno(), 4096)
    urls = {line.split()[0]: line.split()[1] for line in text.decode().splitlines()[1:]}
    return proc, {"orchestrator": urls["workflows"].removesuffix("/v1/workflows/NAME"),
                  "control": urls["control"].removesuffix("/_squall/state")}


def control(base: str, method: str, path: str, body: Any = None) -> Any:
    req = request.Request(base + path, method=method,
                          data=json.dumps(body).encode() if body is not None else None,
                          headers={"Authorization": f"Bearer {TOKEN}",
                                   "Content-Type": "application/json"})
    with request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


async def closed_loop(url: str, body: dict[str, Any], concurrency: int,
                      seconds: float) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < end:
                t = time.perf_counter()
                async with session.post(url, json=body) as r:
                    await r.read()
                    if r.status != 200:
                        raise SystemExit(f"{url} answered {r.status}")
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, urls = start(Path(tmp))
        try:
            orch, ctl = urls["orchestrator"], urls["control"]
            state = control(ctl, "GET", "/_squall/state")
            asyncio.run(closed_loop(f"{orch}/v1/workflows/three", {}, 8, 0.5))  # warm up
            done = asyncio.run(closed_loop(f"{orch}/v1/workflows/three", {}, 32, SECONDS))
            emit(figure="reference.workflow_rps", value=round(len(done) / SECONDS),
                 unit="requests/s", target=">= 300", steps=3, in_flight=32)
            llm = state["endpoints"]["m"]["url"] + "/v1/chat/completions"
            chat = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
            direct = asyncio.run(closed_loop(llm, chat, 1, SECONDS / 2))
            three = asyncio.run(closed_loop(f"{orch}/v1/workflows/one", {}, 1, SECONDS / 2))
            for q, name in ((50, "reference.hop_p50_ms"), (99, "reference.hop_p99_ms")):
                hop = (np.percentile(three, q) - np.percentile(direct, q)) / 2 * 1000
                emit(figure=name, value=round(float(hop), 3), unit="ms",
                     target="<= 2" if q == 50 else None,
                     one_hop_ms=round(float(np.percentile(direct, q)) * 1000, 3),
                     three_hops_ms=round(float(np.percentile(three, q)) * 1000, 3))
            pid = state["agents"]["a"][0]["service"]["pid"]
            rss = int(next(line for line in Path(f"/proc/{pid}/status").read_text()
                           .splitlines() if line.startswith("VmRSS")).split()[1]) / 1024
            emit(figure="reference.replica_rss_mb", value=round(rss, 1), unit="MB")
            victim = state["agents"]["solo"][0]["service"]["pid"]
            started = time.perf_counter()
            control(ctl, "PUT", "/_squall/faults/crash", {"target": "agent.solo", "fault": {
                "kind": "crash", "restart_after": "0s"}})
            while True:
                solo = control(ctl, "GET", "/_squall/state")["agents"]["solo"][0]
                if solo["ready"] and solo["service"] and solo["service"]["pid"] != victim:
                    break
                if time.perf_counter() - started > 60:
                    raise SystemExit("the crashed replica did not come back")
                time.sleep(0.02)
            emit(figure="reference.crash_to_serving_s",
                 value=round(time.perf_counter() - started, 3), unit="s",
                 note="SIGKILL, new process, ready, back in the orchestrator's rotation")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()


def replica_starts(tmp: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sut_adapters.reference.procs import start_service, stop_service

    spec = {"replicas": 1, "concurrency": 4, "llm": [{"endpoint": "m"}]}
    extra = {"token": TOKEN, "workdir": tmp, "endpoints": {"m": "http://127.0.0.1:9"}}

    def starts(n: int, fork: bool) -> float:
        begun = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            started = list(pool.map(lambda i: start_service(
                "agent", "a", spec, replica=i, fork=fork, **extra), range(n)))
        took = time.perf_counter() - begun
        for service in started:
            stop_service(service)
        return took

    starts(1, True)  # the fork server starts (once per supervisor)
    repeats = 1 if SMOKE else 5
    for n, busy, figure in ((1, 0, "reference.replica_start_s"),
                            (8, 2, "reference.replica_start_8_busy_s")):
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   for _ in range(busy)]
        try:
            forked = min(starts(n, True) for _ in range(repeats))
            fresh = min(starts(n, False) for _ in range(repeats))
        finally:
            for b in burners:
                b.kill()
                b.wait()
        emit(figure=figure, value=round(forked, 4), unit="s", replicas=n, busy_loops=busy,
             baseline="a new interpreter per replica", baseline_value=round(fresh, 4),
             ratio=round(fresh / forked, 1))


if __name__ == "__main__":
    main()
    with tempfile.TemporaryDirectory() as tmp:
        replica_starts(Path(tmp))
