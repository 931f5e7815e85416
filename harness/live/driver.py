"""The load driver: ``python -m harness.live.driver JOB.json``, a process of its own.

gevent patches this process on its first line (Locust would at import anyway), so the
rest of Squall never runs patched. It sends each arrival of its share of the schedule at
its intended time — *open model*: whether or not earlier requests have answered — on
Locust's fast HTTP client, one greenlet per request, and feeds Locust's statistics (so
``--web`` shows Locust's web UI on loopback). Results go back to the engine in frames on
stdout (:mod:`harness.live.channel`) at least every ``batch_s``; the engine says when to
start and when to stop on stdin:

- ``GO <t0>``: arrival ``i`` is due at ``t0 + offsets[i]`` on ``time.monotonic()``;
- ``STOP``: send nothing more (an abort, Ctrl-C); what was not sent is recorded as such;
- end of input: the engine is gone — stop the same way, then exit.

An arrival is never queued behind a busy client: with ``max_inflight`` requests already
out, it is recorded as not sent (``dropped``), as k6 drops an iteration it has no VU for.
"""

from gevent import monkey

monkey.patch_all()

# ruff: noqa: E402  (the patch must come first)
import json
import os
import resource
import sys
import time
from typing import Any

import gevent
import numpy as np
from gevent.event import Event
from gevent.fileobject import FileObjectPosix

from harness.live.channel import frame

__all__ = ["main"]

#: An HTTP status of 0: no response (``error`` says why); −1: never sent or never answered.
NO_RESPONSE, NOT_DONE = 0, -1


def _transport_error(exc: BaseException | None) -> str:
    """``refused``, ``reset``, ``timeout`` or the exception's class name."""
    if exc is None:
        return "no response"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, TimeoutError | gevent.Timeout):
        return "timeout"
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout"
    if "Refused" in name:
        return "refused"
    if "Reset" in name or "Closed" in name or "Incomplete" in name or "BadStatusLine" in name:
        return "reset"
    return name


class Driver:
    def __init__(self, job: dict[str, Any]) -> None:
        from locust.contrib.fasthttp import FastHttpSession
        from locust.env import Environment

        self.job = job
        arrays = np.load(job["arrays"])
        self.ids = arrays["ids"].tolist()
        self.offsets = arrays["offsets"].tolist()
        self.wf = arrays["wf"].tolist()
        self.prio = arrays["prio"].tolist()
        self.paths: list[str] = job["paths"]
        self.names: list[str] = job["names"]
        self.priorities: list[str] = job["priorities"]
        self.body: str = job["body"]
        self.headers = {"Content-Type": "application/json", **job.get("headers", {})}
        self.max_inflight = int(job["max_inflight"])
        self.end_s = float(job["end_s"])
        self.batch_s = float(job.get("batch_s", 0.2))
        self.env = Environment(host=job["url"])
        self.runner = self.env.create_local_runner()
        self.web = None
        if job.get("web_port") is not None:
            self.web = self.env.create_web_ui("127.0.0.1", int(job["web_port"]))
        self.session = FastHttpSession(
            job["url"], self.env.events.request, None, concurrency=self.max_inflight,
            network_timeout=self.end_s + 60.0, connection_timeout=10.0, max_retries=0)
        self.out = FileObjectPosix(sys.stdout.buffer.fileno(), "wb", close=False)
        self.results: list[tuple[Any, ...]] = []
        self.inflight: dict[int, gevent.Greenlet] = {}
        self.peak = 0
        self.go = Event()
        self.stopping = Event()
        self.t0 = 0.0

    # --- the engine's commands ---------------------------------------------------------

    def listen(self) -> None:
        commands = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
        for raw in commands:
            line = raw.decode().strip()
            if line.startswith("GO "):
                self.t0 = float(line.split()[1])
                self.go.set()
            elif line == "STOP":
                self.stopping.set()
        self.stopping.set()  # end of input: the engine is gone
        self.go.set()

    # --- sending -----------------------------------------------------------------------

    def send(self, i: int) -> None:
        rid = self.ids[i]
        wf, prio = self.wf[i], self.prio[i]
        body = self.body % {"id": rid, "priority": self.priorities[prio],
                            "workflow": self.names[wf]}
        sent = time.monotonic()
        try:
            resp = self.session.request("POST", self.paths[wf], name=self.names[wf],
                                        data=body, headers=self.headers)
            end = time.monotonic()
            status = resp.status_code or NO_RESPONSE
            error = None if status else _transport_error(getattr(resp, "error", None))
            content = resp.content if status else None
        except gevent.GreenletExit:
            self.results.append((rid, sent, None, NOT_DONE, None, "unanswered"))
            raise
        except Exception as exc:
            end, status, content, error = time.monotonic(), NO_RESPONSE, None, \
                _transport_error(exc)
        finally:
            self.inflight.pop(rid, None)
        self.results.append((rid, sent, end, status, content, error))

    def schedule(self) -> None:
        self.go.wait()
        t0, offsets, stopping = self.t0, self.offsets, self.stopping
        inflight, results = self.inflight, self.results
        n = len(offsets)
        i = 0
        while i < n and not stopping.is_set():
            due = t0 + offsets[i]
            while (left := due - time.monotonic()) > 0:
                if stopping.wait(left):
                    break
            if stopping.is_set():
                break
            if len(inflight) >= self.max_inflight:
                results.append((self.ids[i], None, None, NOT_DONE, None,
                                f"not sent: {self.max_inflight} requests in flight"))
            else:
                inflight[self.ids[i]] = gevent.spawn(self.send, i)
                self.peak = max(self.peak, len(inflight))
            i += 1
        for j in range(i, n):  # stopped early: the rest were never sent
            results.append((self.ids[j], None, None, NOT_DONE, None, "not sent: stopped"))
        # drain: until everything answered, the drain time ran out, or a stop (+ grace)
        drain_end = t0 + self.end_s
        while inflight:
            left = drain_end - time.monotonic()
            if stopping.is_set():
                left = min(left, 2.0)
            if left <= 0:
                break
            gevent.joinall(list(inflight.values()), timeout=min(left, 0.25))
        gevent.killall(list(inflight.values()), block=True, timeout=5)

    # --- results -----------------------------------------------------------------------

    def flush(self) -> None:
        if self.results:
            batch, self.results = self.results, []
            self.out.write(frame(b"B", batch))
            self.out.flush()

    def flusher(self) -> None:
        while True:
            gevent.sleep(self.batch_s)
            self.flush()

    def run(self) -> None:
        self.out.write(frame(b"R", {"pid": os.getpid()}))
        self.out.flush()
        gevent.spawn(self.listen)
        flusher = gevent.spawn(self.flusher)
        started = time.process_time()
        self.schedule()
        flusher.kill()
        self.flush()
        stats = self.env.stats.total
        self.out.write(frame(b"E", {
            "cpu_s": time.process_time() - started, "peak_inflight": self.peak,
            "locust_requests": stats.num_requests, "locust_failures": stats.num_failures}))
        self.out.flush()
        if self.web is not None:
            self.web.stop()  # type: ignore[no-untyped-call]


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                    else max(soft, 65536), hard))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.live.driver JOB.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    _raise_open_files()
    Driver(job).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
