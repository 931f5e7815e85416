"""Starting and stopping service processes: each in its own process group (so a stop
takes its children too), readiness awaited with a deadline, its stderr (JSON log lines)
kept in a file, SIGTERM then SIGKILL.

Two ways to start one. A new interpreter (``python -m sut_adapters.reference``,
readiness from its ``READY <port>`` line) pays the imports every time: about 0.5 s of CPU,
and several seconds while the cores are saturated, which a live run's time scale
multiplies (30 s of scenario time per wall second at 30x: a replica meant to start in
40 s took 70 to 150). ``fork=True`` forks it instead from a fork server that has imported
every service once (:mod:`multiprocessing`'s ``forkserver``, a child of this process): a
start costs a few milliseconds of CPU, so a replica's cold start is the scenario's, not
the host's. The forked service reports its port through a pipe, starts its own session
(its own process group, as above), writes its log to the same file, and stops when the
fork server is gone (its parent: see :func:`~sut_adapters.reference.service.serve`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import multiprocessing
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Service", "StartError", "name_process", "start_service", "stop_service"]


class StartError(RuntimeError):
    """A service did not come up: the reason and the end of its log."""


class Process(Protocol):
    """What a :class:`Service` needs of its process (a :class:`subprocess.Popen` has it)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class Service:
    kind: str
    name: str
    port: int
    proc: Process
    log: Path
    config: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None


def start_service(kind: str, name: str, spec: dict[str, Any], *, token: str, seed: int = 0,
                  port: int = 0, workdir: Path, ready_within: float = 15.0, fork: bool = False,
                  **extra: Any) -> Service:
    """Start one service (a new interpreter, or with ``fork`` forked from the fork server)
    and wait until it serves; :class:`StartError` otherwise (the process is stopped
    first)."""
    workdir.mkdir(parents=True, exist_ok=True)
    fd, config_path = tempfile.mkstemp(prefix=f"{kind}-{name}-", suffix=".json", dir=workdir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: readable by the owner only
        json.dump({"kind": kind, "name": name, "spec": spec, "token": token, "seed": seed,
                   "port": port, **extra}, f)
    log = Path(config_path).with_suffix(".log")
    proc: Process
    if fork:
        log.touch(mode=0o600)
        proc, ready = _fork(config_path, log)
    else:
        with open(log, "wb") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "sut_adapters.reference", "--config", config_path],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                start_new_session=True)
        proc, ready = popen, functools.partial(_wait_ready, popen)
    service = Service(kind, name, 0, proc, log, Path(config_path), extra)
    try:
        service.port = ready(ready_within)
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


#: the services' entry point: ``main(argv, announce)``
ENTRY = "sut_adapters.reference.run"
#: what the fork server imports once, so a forked service starts without importing
PRELOAD = [ENTRY, "sut_adapters.reference.procs", "sut_adapters.reference.service",
           "sut_adapters.reference.agent", "sut_adapters.reference.llm",
           "sut_adapters.reference.tool", "sut_adapters.reference.orchestrator",
           "uvloop"]  # what serve() runs on (a module that will not import is skipped)


@functools.cache
def _forkserver() -> Any:
    """The fork server's context (started on the first fork; two threads asking at once
    get the same one, and setting the preload twice is harmless)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


class Forked:
    """A service forked from the fork server: the part of :class:`subprocess.Popen` a
    :class:`Service` uses, over a :class:`multiprocessing.Process` (its exit code,
    negative for a signal, comes from the fork server). Were the fork server itself gone
    (multiprocessing then says 255 at once), the process counts as running for as long
    as it does: it stops by itself once orphaned."""

    stdout = None

    def __init__(self, process: Any) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def poll(self) -> int | None:
        code: int | None = self._process.exitcode
        if code is not None and _running(self.pid):  # the server is gone, not the process
            return None
        return code

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._process.join(timeout)
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.05)
        return code


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _fork(config_path: str, log: Path) -> tuple[Forked, Callable[[float], int]]:
    ctx = _forkserver()
    reader, writer = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_forked_main, args=(config_path, str(log), writer),
                          name=Path(config_path).stem, daemon=True)
    try:
        process.start()
    finally:
        writer.close()
    proc = Forked(process)

    def ready(within: float) -> int:
        deadline = time.monotonic() + within
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StartError(f"not ready within {within:g} s")
                try:
                    if reader.poll(min(left, 0.2)):
                        return int(reader.recv())
                except EOFError:  # it closed the pipe without a port: it is exiting
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                    raise StartError(f"it exited with code {proc.returncode}") from None
                if proc.poll() is not None:
                    raise StartError(f"it exited with code {proc.returncode}")
        except subprocess.TimeoutExpired:
            raise StartError(f"not ready within {within:g} s") from None
        finally:
            reader.close()

    return proc, ready


def _forked_main(config_path: str, log: str, port_to: Any) -> None:
    """A forked service: its own session, stdin/stdout on /dev/null, stderr its log."""
    os.setsid()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)

    def announce(port: int) -> None:
        port_to.send(port)
        port_to.close()

    # by name, as a new interpreter is started by name (python -m …): the entry point
    # sits above everything it may start, this module below it
    entry = importlib.import_module(ENTRY)
    entry.main(["--config", config_path], announce=announce)


def name_process(title: str) -> None:
    """Name this process as ``ps -o comm``, ``top`` and ``pstree`` show it (Linux keeps 15
    bytes): a forked service's command line is the fork server's, so without it every
    service looks alike. Elsewhere, nothing."""
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_bytes(title.encode()[:15])


def stop_service(service: Service, grace: float = 3.0) -> int | None:
    """SIGTERM to the service's process group, SIGKILL after ``grace`` seconds; its exit
    code. Safe to call twice."""
    proc = service.proc
    _signal(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait(timeout=grace)
    stdout = getattr(proc, "stdout", None)
    if stdout is not None:
        stdout.close()
    service.config.unlink(missing_ok=True)
    return proc.returncode


def _signal(proc: Process, sig: int) -> None:
    """``sig`` to the process group; to the process alone if it has none yet (forked a
    moment ago, it has not started its session)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
