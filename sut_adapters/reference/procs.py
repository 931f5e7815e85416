"""Starting and stopping service processes: each in its own process group (so a stop
takes its children too), readiness read from its ``READY <port>`` line with a
deadline, its stderr (JSON log lines) kept in a file, SIGTERM then SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Service", "StartError", "start_service", "stop_service"]


class StartError(RuntimeError):
    """A service did not come up: the reason and the end of its log."""


@dataclass
class Service:
    kind: str
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    config: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None


def start_service(kind: str, name: str, spec: dict[str, Any], *, token: str, seed: int = 0,
                  port: int = 0, workdir: Path, ready_within: float = 15.0,
                  **extra: Any) -> Service:
    """Start one service and wait until it serves; :class:`StartError` otherwise (the
    process is stopped first)."""
    workdir.mkdir(parents=True, exist_ok=True)
    fd, config_path = tempfile.mkstemp(prefix=f"{kind}-{name}-", suffix=".json", dir=workdir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: readable by the owner only
        json.dump({"kind": kind, "name": name, "spec": spec, "token": token, "seed": seed,
                   "port": port, **extra}, f)
    log = Path(config_path).with_suffix(".log")
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sut_adapters.reference.run", "--config", config_path],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True)
    service = Service(kind, name, 0, proc, log, Path(config_path), extra)
    try:
        service.port = _wait_ready(proc, ready_within)
    except StartError as exc:
        stop_service(service)
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise StartError(f"{kind} {name!r} did not start: {exc}"
                         + (f"; its log ends: {' | '.join(tail)}" if tail else "")) from None
    return service


def _wait_ready(proc: subprocess.Popen[bytes], within: float) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + within
    buffer = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StartError(f"not ready within {within:g} s")
            if not sel.select(min(left, 0.2)):
                if proc.poll() is not None:
                    raise StartError(f"it exited with code {proc.returncode}")
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                raise StartError(f"it exited with code {proc.returncode}")
            buffer += chunk
            for line in buffer.split(b"\n")[:-1]:
                if line.startswith(b"READY "):
                    return int(line.split()[1])


def stop_service(service: Service, grace: float = 3.0) -> int | None:
    """SIGTERM to the service's process group, SIGKILL after ``grace`` seconds; its exit
    code. Safe to call twice."""
    proc = service.proc
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
    if proc.stdout is not None:
        proc.stdout.close()
    service.config.unlink(missing_ok=True)
    return proc.returncode
