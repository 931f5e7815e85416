"""Servers a test starts as real processes: each in its own process group, found by the
URL it prints, and killed — the whole group — when the test ends, pass or fail."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
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
    def __init__(self, proc: subprocess.Popen[bytes], url: str, output: list[str]) -> None:
        self.proc, self.url, self.output = proc, url, output

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def started(cmd: Sequence[str], *, within: float = 30.0, cwd: Path | None = None,
            env: dict[str, str] | None = None, ready: str | None = None
            ) -> Iterator[Started]:
    """Start ``cmd``; yield once it printed a loopback URL (within ``within`` s) — or,
    given ``ready``, a line matching it whose first group is the URL. Its output goes
    to a file, never a pipe nobody reads (which would stall it when full)."""
    pattern = _URL if ready is None else re.compile(ready)
    with tempfile.NamedTemporaryFile(prefix="squall-test-server-", suffix=".log") as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd,
                                env={**os.environ, **(env or {})})
        try:
            deadline = time.monotonic() + within
            while True:
                output = Path(log.name).read_text(errors="replace")
                m = pattern.search(output)
                if m is not None:
                    break
                if proc.poll() is not None:
                    raise AssertionError(f"{cmd} exited ({proc.returncode}): {output}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{cmd[0]} printed no URL within {within:g} s: "
                                         f"{output}")
                time.sleep(0.05)
            yield Started(proc, m.group(0 if ready is None else 1), output.splitlines())
        finally:  # SIGTERM first (a server cleans up after itself), then SIGKILL
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
