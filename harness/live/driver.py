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
import sys
from typing import Any

import gevent
import numpy as np

from harness.live.sender import Sender, commands, share, stdout, web_ui

__all__ = ["main", "single"]


def single(job: dict[str, Any]) -> None:
    from locust.env import Environment

    env = Environment(host=job["url"])
    env.create_local_runner()
    web = web_ui(env, job)
    emit = stdout()
    sender = Sender(env, job, share(np.load(job["arrays"]), 0, 1), emit)
    emit(b"R", {"pid": os.getpid(), "workers": 0})
    gevent.spawn(commands, sender.go, sender.stop)
    figures = sender.run()
    stats = env.stats.total
    emit(b"E", {**figures, "locust_requests": stats.num_requests,
                "locust_failures": stats.num_failures})
    if web is not None:
        web.stop()


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
    from harness.live.workers import master, worker

    if args.worker:
        worker(args.master)
        return 0
    if args.job is None:
        parser.error("give the job file, or --worker")
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    if int(job.get("workers", 0)) > 0:
        master(job)
    else:
        single(job)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
