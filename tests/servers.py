"""Servers a test starts as real processes: each in its own process group, found by the
URL it prints, and killed — the whole group — when the test ends, pass or fail."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = ["HTTPBIN", "Started", "started"]

#: httpbin (a third-party app the project did not write) served by werkzeug on loopback.
HTTPBIN = [sys.executable, "-c",
           "from werkzeug.serving import make_server\n"
           "import logging, httpbin\n"
           "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"
           "s = make_server('127.0.0.1', 0, httpbin.app, threaded=True)\n"
           "print(f'http://127.0.0.1:{s.port}', flush=True)\n"
           "s.serve_forever()\n"]
_URL = re.compile(r"https?://127\.0\.0\.1:\d+")


class Started:
    def __init__(self, proc: subprocess.Popen[str], url: str, output: list[str]) -> None:
        self.proc, self.url, self.output = proc, url, output

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def started(cmd: Sequence[str], *, within: float = 30.0, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Iterator[Started]:
    """Start ``cmd``; yield once it printed a loopback URL (within ``within`` s)."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, cwd=cwd,
                            env={**os.environ, **(env or {})})
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        output: list[str] = []
        deadline = time.monotonic() + within
        url = None
        while url is None:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise AssertionError(f"{cmd[0]} printed no URL within {within:g} s: "
                                     f"{''.join(output)}")
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"{cmd} exited ({proc.wait(5)}): {''.join(output)}")
            output.append(line)
            m = _URL.search(line)
            url = m.group(0) if m else None
        sel.close()
        yield Started(proc, url, output)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
