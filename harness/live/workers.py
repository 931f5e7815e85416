"""The distributed roles of the load driver: a Locust *master* that starts (or waits for)
its load workers, gives each every N-th arrival and relays their results to the engine,
and the *worker* (``python -m harness.live.driver --worker --master HOST:PORT``, which is
what ``squall worker`` runs on another machine).

Imported by :mod:`harness.live.driver` after gevent's patch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import gevent
import numpy as np
from gevent.event import Event

from harness.live.sender import Sender, commands, packed, share, stdout, unpacked, web_ui

__all__ = ["JOIN_S", "master", "worker"]

JOIN_S = 60.0  #: how long a master waits for its workers


def master(job: dict[str, Any]) -> None:
    from locust.env import Environment

    want = int(job["workers"])
    env = Environment(host=job["url"])
    runner = env.create_master_runner(job.get("bind", "127.0.0.1"), int(job.get("port", 0)))
    port = runner.server.port
    web = web_ui(env, job)
    emit = stdout()
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
                                           "share": packed(share(arrays, index, want))},
                            client_id=client)
    emit(b"R", {"pid": os.getpid(), "workers": want, "port": port})
    end_by = [time.monotonic() + 3600.0]

    def go(t0_wall: float) -> None:
        runner.send_message("squall_go", {"t0": t0_wall})
        end_by[0] = time.monotonic() + (t0_wall - time.time()) + float(job["end_s"]) + 30.0

    def stop() -> None:
        runner.send_message("squall_stop")
        end_by[0] = min(end_by[0], time.monotonic() + 10.0)

    gevent.spawn(commands, go, stop)
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
        web.stop()


def worker(master: str) -> None:
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
        senders.append(Sender(env, msg.data["job"], unpacked(msg.data["share"]), emit))
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
