"""The load driver: a process of its own, gevent patched on its first line (Locust
would at import anyway), so the rest of Squall never runs patched.

``python -m harness.live.driver JOB.json`` sends the arrivals the job lists, each at its
intended time — *open model*: whether or not earlier requests have answered — on
Locust's fast HTTP client, one greenlet per request, feeding Locust's statistics (so
``--web`` shows Locust's web UI on loopback). Results go to the engine in frames on
stdout (:mod:`harness.live.channel`) at least every ``batch_s``; the engine says when to
start and when to stop on stdin:

- ``GO <t0>``: arrival ``i`` is due at ``t0 + offsets[i]``, ``t0`` on ``time.time()``
  (so load workers on other machines share it, given synchronized clocks);
- ``STOP``: send nothing more (an abort, Ctrl-C); what was not sent is recorded as such;
- end of input: the engine is gone — stop the same way, then exit.

With ``"workers": N`` in the job the process is a Locust *master*: it starts
``local_workers`` worker processes (``python -m harness.live.driver --worker --master
HOST:PORT``, which is also what ``squall worker`` runs on another machine), waits for N
to join, gives each every N-th arrival, and relays their result batches to the engine.

An arrival is never queued behind a busy client: with ``max_inflight`` requests already
out, it is recorded as not sent (``dropped``), as k6 drops an iteration it has no VU for.
"""

from gevent import monkey

monkey.patch_all()

# ruff: noqa: E402  (the patch must come first)
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import numpy as np
from gevent.event import Event
from gevent.fileobject import FileObjectPosix

from harness.live.channel import frame

__all__ = ["Sender", "main"]

#: An HTTP status of 0: no response (``error`` says why); −1: never sent or never answered.
NO_RESPONSE, NOT_DONE = 0, -1
JOIN_S = 60.0  #: how long a master waits for its workers
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


class Sender:
    """Sends one share of the schedule and hands its results to ``emit``."""

    def __init__(self, env: Any, job: dict[str, Any], share: dict[str, np.ndarray],
                 emit: Emit) -> None:
        from geventhttpclient import HTTPClient

        self.job, self.emit = job, emit
        self.fire = env.events.request.fire
        # numpy, not lists: 19 bytes per arrival instead of ~100
        self.ids: np.ndarray = share["ids"]
        self.offsets: np.ndarray = share["offsets"]
        self.wf: np.ndarray = share["wf"]
        self.prio: np.ndarray = share["prio"]
        self.paths: list[str] = job["paths"]
        self.names: list[str] = job["names"]
        self.priorities: list[str] = job["priorities"]
        self.body: str = job["body"]
        self.headers = {"Content-Type": "application/json", **job.get("headers", {})}
        self.max_inflight = int(job["max_inflight"])
        self.end_s = float(job["end_s"])
        self.batch_s = float(job.get("batch_s", 0.2))
        # Locust's fast HTTP client, without its user-agent layer (cookies, redirects,
        # retries: none of them belong in a load generator's hot path); Locust's
        # statistics are fed through its request event all the same
        self.client = HTTPClient.from_url(
            job["url"], concurrency=self.max_inflight, network_timeout=self.end_s + 60.0,
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
        body = self.body % {"id": rid, "priority": self.priorities[prio],
                            "workflow": self.names[wf]}
        sent = time.monotonic()
        failure: BaseException | None = None
        try:
            resp = self.client.request("POST", self.paths[wf], body=body, headers=self.headers)
            try:
                content = resp.read()
            finally:
                resp.release()
            end = time.monotonic()
            status, error = resp.status_code, None
        except gevent.GreenletExit:
            self.results.append((rid, sent, None, NOT_DONE, None, "unanswered"))
            raise
        except Exception as exc:  # anything the client raises is a failed call
            end, status, content, error = time.monotonic(), NO_RESPONSE, None, \
                _transport_error(exc)
            failure = exc
        finally:
            self.inflight.pop(rid, None)
        self.results.append((rid, sent, end, status, content, error))
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
                                f"not sent: {self.max_inflight} requests in flight"))
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
            results.append((rid, None, None, NOT_DONE, None, "not sent: stopped"))
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


# --- the three roles ---------------------------------------------------------------------


def _stdout() -> Emit:
    out = FileObjectPosix(sys.stdout.buffer.fileno(), "wb", close=False)

    def emit(kind: bytes, payload: Any) -> None:
        out.write(frame(kind, payload))
        out.flush()
    return emit


def _commands(on_go: Callable[[float], None], on_stop: Callable[[], None]) -> None:
    """The engine's commands on stdin (runs as a greenlet)."""
    for raw in FileObjectPosix(sys.stdin.fileno(), "rb", close=False):
        line = raw.decode().strip()
        if line.startswith("GO "):
            on_go(float(line.split()[1]))
        elif line == "STOP":
            on_stop()
    on_stop()  # end of input: the engine is gone


NAMES = ("ids", "offsets", "wf", "prio")


def _share(arrays: Any, index: int, count: int) -> dict[str, np.ndarray]:
    return {name: np.ascontiguousarray(arrays[name][index::count]) for name in NAMES}


def _packed(share: dict[str, np.ndarray]) -> dict[str, Any]:
    """A share as msgpack carries it (dtype and raw bytes per array)."""
    return {name: [arr.dtype.str, arr.tobytes()] for name, arr in share.items()}


def _unpacked(data: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.frombuffer(raw, dtype=np.dtype(dtype)) for name, (dtype, raw)
            in data.items()}


def _single(job: dict[str, Any]) -> None:
    from locust.env import Environment

    env = Environment(host=job["url"])
    env.create_local_runner()
    web = env.create_web_ui("127.0.0.1", int(job["web_port"])) \
        if job.get("web_port") is not None else None
    emit = _stdout()
    sender = Sender(env, job, _share(np.load(job["arrays"]), 0, 1), emit)
    emit(b"R", {"pid": os.getpid(), "workers": 0})
    gevent.spawn(_commands, sender.go, sender.stop)
    figures = sender.run()
    stats = env.stats.total
    emit(b"E", {**figures, "locust_requests": stats.num_requests,
                "locust_failures": stats.num_failures})
    if web is not None:
        web.stop()  # type: ignore[no-untyped-call]


def _master(job: dict[str, Any]) -> None:
    from locust.env import Environment

    want = int(job["workers"])
    env = Environment(host=job["url"])
    runner = env.create_master_runner(job.get("bind", "127.0.0.1"), int(job.get("port", 0)))
    port = runner.server.port
    web = env.create_web_ui("127.0.0.1", int(job["web_port"])) \
        if job.get("web_port") is not None else None
    emit = _stdout()
    ended: dict[str, dict[str, Any]] = {}
    done = Event()

    def on_batch(environment: Any, msg: Any) -> None:
        emit(b"B", [tuple(r) for r in msg.data])

    def on_end(environment: Any, msg: Any) -> None:
        ended[msg.node_id] = msg.data
        if len(ended) >= want:
            done.set()

    runner.register_message("squall_batch", on_batch)
    runner.register_message("squall_end", on_end)
    workers = [subprocess.Popen([sys.executable, "-m", "harness.live.driver", "--worker",
                                 "--master", f"127.0.0.1:{port}"], stdin=subprocess.DEVNULL)
               for _ in range(int(job.get("local_workers", 0)))]
    join_s = float(job.get("join_s", JOIN_S))
    deadline = time.monotonic() + join_s
    while runner.worker_count < want:
        if time.monotonic() > deadline:
            emit(b"E", {"error": f"only {runner.worker_count} of {want} load workers joined "
                                 f"within {join_s:g} s (master on port {port})"})
            return
        gevent.sleep(0.05)
    arrays = np.load(job["arrays"])
    clients = [c.id for c in runner.clients.all][:want]
    for index, client in enumerate(clients):
        runner.send_message("squall_job", {"job": job,
                                           "share": _packed(_share(arrays, index, want))},
                            client_id=client)
    emit(b"R", {"pid": os.getpid(), "workers": want, "port": port})
    end_by = [time.monotonic() + 3600.0]

    def go(t0_wall: float) -> None:
        runner.send_message("squall_go", {"t0": t0_wall})
        end_by[0] = time.monotonic() + (t0_wall - time.time()) + float(job["end_s"]) + 30.0

    def stop() -> None:
        runner.send_message("squall_stop")
        end_by[0] = min(end_by[0], time.monotonic() + 10.0)

    gevent.spawn(_commands, go, stop)
    while not done.wait(0.25):
        if time.monotonic() > end_by[0] or runner.worker_count == 0:  # late, or all gone
            break
    stats = env.stats.total
    emit(b"E", {"cpu_s": sum(e.get("cpu_s", 0.0) for e in ended.values()),
                "peak_inflight": sum(e.get("peak_inflight", 0) for e in ended.values()),
                "workers": want, "workers_ended": len(ended),
                "locust_requests": stats.num_requests, "locust_failures": stats.num_failures})
    runner.quit()
    for proc in workers:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if web is not None:
        web.stop()  # type: ignore[no-untyped-call]


def _worker(master: str) -> None:
    from locust.env import Environment

    host, _, port = master.rpartition(":")
    env = Environment()
    runner = env.create_worker_runner(host or "127.0.0.1", int(port))
    senders: list[Sender] = []
    got = Event()

    def emit(kind: bytes, payload: Any) -> None:
        if kind == b"B":
            runner.send_message("squall_batch", payload)

    def on_job(environment: Any, msg: Any) -> None:
        senders.append(Sender(env, msg.data["job"], _unpacked(msg.data["share"]), emit))
        got.set()

    runner.register_message("squall_job", on_job)
    runner.register_message("squall_go", lambda environment, msg: senders[0].go(msg.data["t0"]))
    runner.register_message("squall_stop", lambda environment, msg: senders[0].stop()
                            if senders else None)
    if not got.wait(JOIN_S * 60):
        return
    figures = senders[0].run()
    runner.send_message("squall_end", figures)
    gevent.sleep(1.0)  # let the last messages and stats reach the master
    runner.quit()


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                    else max(soft, 65536), hard))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.live.driver")
    parser.add_argument("job", nargs="?", help="the job (JSON) the engine wrote")
    parser.add_argument("--worker", action="store_true", help="join a master as a load worker")
    parser.add_argument("--master", default="127.0.0.1:5557", metavar="HOST:PORT")
    args = parser.parse_args(argv)
    _raise_open_files()
    if args.worker:
        _worker(args.master)
        return 0
    if args.job is None:
        parser.error("give the job file, or --worker")
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    if int(job.get("workers", 0)) > 0:
        _master(job)
    else:
        _single(job)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
