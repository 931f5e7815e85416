"""What every role of the load driver shares: the :class:`Sender` of one share of the
schedule, the frames to the engine, the engine's commands, schedule shares.

Import it only in a process gevent has already patched (:mod:`harness.live.driver` does
on its first line).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import numpy as np
from gevent.event import Event
from gevent.fileobject import FileObjectPosix

from harness.live.channel import frame

__all__ = ["NOT_DONE", "NO_RESPONSE", "Emit", "Sender", "commands", "packed", "share",
           "stdout", "unpacked", "web_ui"]

#: An HTTP status of 0: no response (``error`` says why); −1: never sent or never answered.
NO_RESPONSE, NOT_DONE = 0, -1
Emit = Callable[[bytes, Any], None]


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


def _stream(resp: Any, marks: list[Any]) -> bytes:
    """Read a streamed body line by line as it arrives; ``marks`` gets (bytes so far,
    when, the line) per line (a server-sent event is lines and a blank line)."""
    total = 0
    while line := resp.readline(b"\n"):
        total += len(line)
        marks.append((total, time.monotonic(), line))
    return b"".join(m[2] for m in marks)


class Sender:
    """Sends one share of the schedule and hands its results to ``emit``."""

    def __init__(self, env: Any, job: dict[str, Any], share: dict[str, np.ndarray],
                 emit: Emit) -> None:
        from geventhttpclient import HTTPClient

        self.emit = emit
        self.fire = env.events.request.fire
        # numpy, not lists: 19 bytes per arrival instead of ~100
        self.ids: np.ndarray = share["ids"]
        self.offsets: np.ndarray = share["offsets"]
        self.wf: np.ndarray = share["wf"]
        self.prio: np.ndarray = share["prio"]
        self.sample: np.ndarray | None = share.get("sample")
        self.paths: list[str] = job["paths"]
        self.names: list[str] = job["names"]
        self.priorities: list[str] = job["priorities"]
        self.bodies: list[str] = job["bodies"]
        self.method: str = job.get("method", "POST")
        self.stream = bool(job.get("stream"))
        self.headers = {"Content-Type": "application/json", **job.get("headers", {})}
        self.max_inflight = int(job["max_inflight"])
        self.end_s = float(job["end_s"])
        self.batch_s = float(job.get("batch_s", 0.2))
        # Locust's fast HTTP client, without its user-agent layer (cookies, redirects,
        # retries: none of them belong in a load generator's hot path); Locust's
        # statistics are fed through its request event all the same
        self.client = HTTPClient.from_url(
            job["url"], concurrency=self.max_inflight,
            network_timeout=float(job.get("timeout_s") or self.end_s + 60.0),
            connection_timeout=10.0)
        self.results: list[tuple[Any, ...]] = []
        self.inflight: dict[int, gevent.Greenlet] = {}
        self.peak = 0
        self.started = Event()
        self.stopping = Event()
        self.t0 = 0.0  #: on time.monotonic()

    def go(self, t0_wall: float) -> None:
        self.t0 = time.monotonic() + (t0_wall - time.time())
        self.started.set()

    def stop(self) -> None:
        self.stopping.set()
        self.started.set()

    # --- sending -----------------------------------------------------------------------

    def send(self, i: int) -> None:
        rid = int(self.ids[i])
        wf, prio = int(self.wf[i]), int(self.prio[i])
        template = self.bodies[0 if self.sample is None else int(self.sample[i])]
        body = None if self.method == "GET" else template % {
            "id": rid, "priority": self.priorities[prio], "workflow": self.names[wf]}
        sent = time.monotonic()
        failure: BaseException | None = None
        marks: list[tuple[int, float, bytes]] | None = [] if self.stream else None
        resp = None
        try:
            resp = self.client.request(self.method, self.paths[wf], body=body,
                                       headers=self.headers)
            try:
                content = resp.read() if marks is None else _stream(resp, marks)
            finally:
                resp.release()
            end = time.monotonic()
            status, error = resp.status_code, None
        except gevent.GreenletExit:
            self.results.append((rid, sent, None, NOT_DONE, None, "unanswered", None))
            raise
        except Exception as exc:  # anything the client raises is a failed call
            end, status, content, error = time.monotonic(), NO_RESPONSE, None, \
                _transport_error(exc)
            failure = exc
            if resp is not None and marks:  # a stream cut halfway: what came is kept
                status, content = resp.status_code, b"".join(m[2] for m in marks)
        finally:
            self.inflight.pop(rid, None)
        self.results.append((rid, sent, end, status, content, error,
                             None if marks is None else [m[:2] for m in marks]))
        if failure is None and status >= 400:
            failure = RuntimeError(f"HTTP {status}")
        self.fire(request_type="POST", name=self.names[wf], response_time=1000 * (end - sent),
                  response_length=len(content or b""), exception=failure, context={},
                  response=None, url=self.paths[wf], start_time=time.time())

    def schedule(self) -> None:
        self.started.wait()
        t0, offsets, stopping = self.t0, self.offsets, self.stopping
        inflight, results = self.inflight, self.results
        n = len(offsets)
        i = 0
        while i < n and not stopping.is_set():
            due = t0 + float(offsets[i])
            while (left := due - time.monotonic()) > 0:
                if stopping.wait(left):
                    break
            if stopping.is_set():
                break
            if len(inflight) >= self.max_inflight:
                results.append((int(self.ids[i]), None, None, NOT_DONE, None,
                                f"not sent: {self.max_inflight} requests in flight", None))
            else:
                inflight[int(self.ids[i])] = gevent.spawn(self.send, i)
                self.peak = max(self.peak, len(inflight))
            i += 1
            if i < n and t0 + float(offsets[i]) <= time.monotonic():
                # behind schedule: let the requests just spawned go out before the next
                # one, or a lagging driver would fill its in-flight cap with requests that
                # never started and drop the rest of the schedule unsent
                gevent.sleep(0)
        for rid in self.ids[i:].tolist():  # stopped early: the rest were never sent
            results.append((rid, None, None, NOT_DONE, None, "not sent: stopped", None))
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
            self.emit(b"B", batch)

    def run(self) -> dict[str, Any]:
        """Send the share; the driver's own figures."""
        def flusher() -> None:
            while True:
                gevent.sleep(self.batch_s)
                self.flush()

        background = gevent.spawn(flusher)
        started = time.process_time()
        try:
            self.schedule()
        finally:
            background.kill()
            self.flush()
        return {"cpu_s": time.process_time() - started, "peak_inflight": self.peak}


def stdout() -> Emit:
    out = FileObjectPosix(sys.stdout.buffer.fileno(), "wb", close=False)

    def emit(kind: bytes, payload: Any) -> None:
        out.write(frame(kind, payload))
        out.flush()
    return emit


def commands(on_go: Callable[[float], None], on_stop: Callable[[], None]) -> None:
    """The engine's commands on stdin (runs as a greenlet)."""
    for raw in FileObjectPosix(sys.stdin.fileno(), "rb", close=False):
        line = raw.decode().strip()
        if line.startswith("GO "):
            on_go(float(line.split()[1]))
        elif line == "STOP":
            on_stop()
    on_stop()  # end of input: the engine is gone


NAMES = ("ids", "offsets", "wf", "prio")


def share(arrays: Any, index: int, count: int) -> dict[str, np.ndarray]:
    """Every ``count``-th arrival from ``index`` on (and its payload sample, if any)."""
    names = [*NAMES, *(["sample"] if "sample" in arrays else [])]
    return {name: np.ascontiguousarray(arrays[name][index::count]) for name in names}


def packed(share: dict[str, np.ndarray]) -> dict[str, Any]:
    """A share as msgpack carries it (dtype and raw bytes per array)."""
    return {name: [arr.dtype.str, arr.tobytes()] for name, arr in share.items()}


def unpacked(data: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.frombuffer(raw, dtype=np.dtype(dtype)) for name, (dtype, raw)
            in data.items()}


def web_ui(env: Any, job: dict[str, Any]) -> Any:
    """Locust's web UI on loopback when the job asks for it (``web_port``), else None."""
    port = job.get("web_port")
    return None if port is None else env.create_web_ui("127.0.0.1", int(port))
