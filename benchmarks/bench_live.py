"""The live driver's speed, against a trivial loopback server on this machine.

Figures (one JSON line each), all in one run:
- ``live.open_model_max_rps``: the highest open-model rate one driver process holds —
  sent/due ≥ 0.99 in every 10 s window and p99 send lag ≤ 20 ms. Target ≥ 5,000/s.
- ``live.closed_loop_max_rps``: plain Locust ``FastHttpUser`` in a closed loop (50 users,
  no wait) against the same server: the most Locust does here at all.
  ``ratio`` on the open-model line is open ÷ closed: the open model's overhead.
- ``live.open_model_2workers_max_rps``: the same search with a master and two local
  load workers.
- ``live.driver_peak_rss_mb``: the driver's peak resident memory over one million
  requests (20,000 in smoke mode), beside its peak over a tenth of them: flat with run
  length means ``ratio`` near 1. Target ≤ 300 MB.

The driver is the one ``--mode live`` runs (``python -m harness.live.driver``), read the
way the engine reads it (framed result batches on a pipe).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.live.channel import FrameReader

SMOKE = os.environ.get("SQUALL_BENCH_SMOKE") == "1"
STEP_S = 1.0 if SMOKE else 20.0  #: seconds per rate tried
RATES = [500] if SMOKE else [2000, 3000, 4000, 5000, 6000, 7000, 8000]
WINDOW_S = 10.0
MAX_LAG_S = 0.020
MILLION = 5_000 if SMOKE else 1_000_000

SERVER = textwrap.dedent("""
    import asyncio, sys
    try:
        import uvloop; uvloop.install()
    except ImportError:
        pass
    BODY = b'{"ok": true}'
    ANSWER = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
              b"Content-Length: %d\\r\\n\\r\\n" % len(BODY)) + BODY
    class Http(asyncio.Protocol):
        def connection_made(self, t): self.t, self.buf = t, b""
        def data_received(self, data):
            self.buf += data
            while True:
                head, sep, rest = self.buf.partition(b"\\r\\n\\r\\n")
                if not sep:
                    return
                length = 0
                for line in head.split(b"\\r\\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if len(rest) < length:
                    return
                self.buf = rest[length:]
                self.t.write(ANSWER)
    async def main():
        server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()
    asyncio.run(main())
""")

CLOSED = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import sys, time, gevent
    from locust import FastHttpUser, task, constant
    from locust.env import Environment
    class U(FastHttpUser):
        host = sys.argv[1]
        wait_time = constant(0)
        @task
        def t(self):
            self.client.post("/", data="{}")
    env = Environment(user_classes=[U])
    runner = env.create_local_runner()
    runner.start(50, spawn_rate=1000)
    gevent.sleep(1.0)
    start = env.stats.total.num_requests
    t0 = time.monotonic()
    gevent.sleep(float(sys.argv[2]))
    done = env.stats.total.num_requests - start
    print(done / (time.monotonic() - t0), flush=True)
    runner.quit()
""")


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{proc.stdout.readline().strip()}"


def drive(url: str, rate: float, count: int, tmp: Path, *, workers: int = 0,
          offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Send ``count`` arrivals at a constant ``rate`` (or at ``offsets``); (intended
    offsets, send lags) and the driver's peak RSS in MB."""
    if offsets is None:
        offsets = np.arange(count, dtype=np.float64) / rate
    np.savez(tmp / "a.npz", ids=np.arange(count, dtype=np.int64), offsets=offsets,
             wf=np.zeros(count, dtype=np.int16), prio=np.ones(count, dtype=np.int8))
    job = {"url": url, "paths": ["/"], "names": ["w"], "priorities": ["high", "normal", "low"],
           "bodies": ['{"request_id": %(id)d}'], "arrays": str(tmp / "a.npz"),
           "max_inflight": 1000, "end_s": offsets[-1] + 10.0, "workers": workers,
           "local_workers": workers}
    (tmp / "job.json").write_text(json.dumps(job))
    proc = subprocess.Popen([sys.executable, "-m", "harness.live.driver", str(tmp / "job.json")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdin is not None
    assert proc.stdout is not None
    reader = FrameReader()
    lag = np.full(count, np.nan)
    fd = proc.stdout.fileno()
    t0 = 0.0
    peak = 0.0
    ended = False
    last_rss = 0.0
    while not ended:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if time.monotonic() - last_rss > 0.5:
            last_rss = time.monotonic()
            peak = max(peak, _rss_mb(proc.pid, workers))
        if not ready:
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            break
        for kind, payload in reader.feed(data):
            if kind == b"R":
                t0 = time.monotonic() + 1.0
                proc.stdin.write(f"GO {time.time() + 1.0!r}\n".encode())
                proc.stdin.flush()
            elif kind == b"B":
                for rid, sent, _end, _status, _body, _err, _marks in payload:
                    if sent is not None:
                        lag[rid] = sent - t0 - offsets[rid]
            elif kind == b"E":
                ended = True
    proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()
    return offsets, lag, peak


def _rss_mb(pid: int, workers: int) -> float:
    pids = [pid]
    if workers:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                             text=True, check=False).stdout
        pids += [int(p) for p in out.split()]
    total = 0.0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def held(offsets: np.ndarray, lag: np.ndarray) -> tuple[bool, float, float]:
    """(held?, worst window's sent/due, p99 lag) — sent means sent within the window."""
    sent = ~np.isnan(lag)
    p99 = float(np.percentile(lag[sent], 99)) if sent.any() else float("inf")
    window = np.minimum((offsets // WINDOW_S).astype(int), int(offsets[-1] // WINDOW_S))
    worst = 1.0
    for w in np.unique(window):
        inside = window == w
        worst = min(worst, float(sent[inside].mean()))
    return worst >= 0.99 and p99 <= MAX_LAG_S, worst, p99


def search(url: str, tmp: Path, workers: int = 0) -> tuple[float, list[dict[str, Any]]]:
    best, tried = 0.0, []
    for rate in RATES:
        offsets, lag, _ = drive(url, rate, int(rate * STEP_S), tmp, workers=workers)
        ok, worst, p99 = held(offsets, lag)
        tried.append({"rate": rate, "held": ok, "worst_window": round(worst, 4),
                      "p99_lag_ms": round(1000 * p99, 2)})
        if not ok:
            break
        best = rate
    return best, tried


def closed_loop(url: str) -> float:
    out = subprocess.run([sys.executable, "-c", CLOSED, url, str(STEP_S / 2)],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    proc, url = server()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            closed = closed_loop(url)
            emit(figure="live.closed_loop_max_rps", value=round(closed), unit="req/s",
                 users=50)
            best, tried = search(url, tmp)
            emit(figure="live.open_model_max_rps", value=best, unit="req/s", target=5000,
                 ratio=round(best / closed, 3), tried=tried)
            best2, tried2 = search(url, tmp, workers=2)
            emit(figure="live.open_model_2workers_max_rps", value=best2, unit="req/s",
                 ratio=round(best2 / best, 3) if best else None, tried=tried2)
            rate = 5000 if not SMOKE else 2000
            _, _, small = drive(url, rate, MILLION // 10, tmp)
            _, _, big = drive(url, rate, MILLION, tmp)
            emit(figure="live.driver_peak_rss_mb", value=round(big, 1), unit="MB",
                 target=300, requests=MILLION, tenth_mb=round(small, 1),
                 ratio=round(big / small, 3) if small else None)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop the server started by :func:`server`."""
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


if __name__ == "__main__":
    main()
