"""The fault schedule of a live run, applied through the target under leases.

Two threads keep the control plane off the engine's loop (a system under heavy load may
take seconds to answer its control API; the results must keep flowing meanwhile):

- the *timeline* applies each fault when due and removes it at its end;
- the *renewer* renews every active fault's lease a few times per lease, so the faults
  outlive a slow control call but not the run: if the engine dies, they lapse.

A fault that cannot be applied, or whose lease lapses before its end, means the system
did not see the scenario's faults: the run cannot pass (a *doubt*, see
:mod:`harness.scoring.score`). Events are handed to the engine's thread, which alone
writes records. :meth:`FaultController.stop` ends both threads and rolls back whatever is
still active.
"""

from __future__ import annotations

import contextlib
import math
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from faults.schedule import Activation, FaultSchedule
from faults.specs import CommandFault, FaultSpecBase
from harness.live.target import Target, TargetError
from harness.scenario.timescale import time_scaled

__all__ = ["FaultController"]

#: (wall time on time.monotonic(), event type, fields)
Event = tuple[float, str, dict[str, Any]]


@dataclass(frozen=True)
class _Due:
    wall: float
    start: bool
    act: Activation


OUTPUT_LIMIT = 4096  #: characters of a command's output kept in its event


class Commands:
    """Runs the commands of ``command`` faults (no shell, with a timeout each); what
    they did goes into ``command`` events. Only built when the user allowed commands."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit
        self.started: dict[str, CommandFault] = {}

    def _run(self, fault_id: str, phase: str, argv: list[str], timeout: float) -> None:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, check=False, errors="replace")
            code: int | None = done.returncode
            output = (done.stdout + done.stderr)[-OUTPUT_LIMIT:]
        except subprocess.TimeoutExpired as exc:
            code, output = None, f"timed out after {timeout:g} s: {exc.output or ''}"
        except OSError as exc:
            code, output = None, f"could not run {argv[0]}: {exc.strerror or exc}"
        self.emit((time.monotonic(), "command", {"fault": fault_id, "phase": phase,
                                                 "exit_code": code, "output": output}))
        if code != 0:
            raise TargetError(f"its {phase} command {' '.join(argv)!r} "
                              + ("failed: " + output.strip()[-300:] if code is None else
                                 f"exited with {code}: {output.strip()[-300:]}"))

    def apply(self, fault_id: str, spec: CommandFault) -> None:
        self.started[fault_id] = spec
        self._run(fault_id, "start", spec.start, spec.timeout)

    def remove(self, fault_id: str) -> None:
        spec = self.started.pop(fault_id, None)
        if spec is not None and spec.stop is not None:
            self._run(fault_id, "stop", spec.stop, spec.timeout)

    def remove_all(self) -> None:
        for fault_id in sorted(self.started):
            with contextlib.suppress(TargetError):
                self.remove(fault_id)


class FaultController:
    def __init__(self, target: Target, faults: list[FaultSpecBase], *, t0: float, k: float,
                 lease: float) -> None:
        self.target, self.t0, self.k, self.lease = target, t0, k, lease
        self.commands = Commands(self._events_put)
        self.dues: list[_Due] = []
        for act in FaultSchedule(faults):
            # a fault from the start is in place before the first arrival (as in the
            # simulator, where it is applied first); one that ends after the last arrival
            # still ends on time while the run drains
            self.dues.append(_Due(t0 + act.start / k if act.start > 0 else -math.inf, True,
                                  act))
            if act.end is not None:
                self.dues.append(_Due(t0 + act.end / k, False, act))
        self.dues.sort(key=lambda d: (d.wall, not d.start))
        self.active: dict[str, Activation] = {}
        self.doubts: list[str] = []
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._timeline, name="squall-faults",
                                          daemon=True),
                         threading.Thread(target=self._renewer, name="squall-leases",
                                          daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def active_ids(self) -> list[str]:
        with self._lock:
            return sorted(self.active)

    def events(self) -> list[Event]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    # --- the threads -------------------------------------------------------------------

    def _events_put(self, event: Event) -> None:
        self._events.put(event)

    def _emit(self, type_: str, act: Activation) -> None:
        self._events.put((time.monotonic(), type_, {"fault": act.id, "kind": act.kind,
                                                    "target": str(act.target)}))

    def _doubt(self, text: str) -> None:
        with self._lock:
            self.doubts.append(text)

    def _timeline(self) -> None:
        for due in self.dues:
            if self._stop.wait(max(due.wall - time.monotonic(), 0.0)):
                return
            act = due.act
            if not due.start:
                with self._lock:
                    was = self.active.pop(act.id, None)
                if was is not None:
                    self._try(self._remover(act), act, "removed")
                    self._emit("fault_end", act)
                continue
            # a command takes the time it takes: its timeout is not scaled
            spec = act.spec if self.k == 1 or act.kind == "command" else \
                time_scaled(act.spec, self.k)
            if isinstance(spec, CommandFault):
                apply: Callable[[], None] = partial(self.commands.apply, act.id, spec)
            else:
                apply = partial(self.target.apply, act.id, str(act.target),
                                spec.model_dump(mode="json"), self.lease)
            if not self._try(apply, act, "applied"):
                continue
            self._emit("fault_start", act)
            if act.instant and (act.end is None or act.end == act.start):
                # an event, not a window (a crash without restart, a cold-start storm):
                # nothing to hold or take back; it ends when it starts, as in the simulator
                if act.end is not None:
                    self._emit("fault_end", act)
                self._try(self._remover(act), act, "removed")
            else:
                with self._lock:
                    self.active[act.id] = act

    def _remover(self, act: Activation) -> Callable[[], None]:
        if act.kind == "command":
            return partial(self.commands.remove, act.id)
        return partial(self.target.remove, act.id)

    def _try(self, call: Callable[[], None], act: Activation, what: str) -> bool:
        try:
            call()
        except TargetError as exc:
            self._doubt(f"fault {act.id!r} could not be {what}: {exc}")
            return False
        return True

    def _renewer(self) -> None:
        every = self.lease / 3
        while not self._stop.wait(every):
            with self._lock:
                ids = [i for i, act in self.active.items() if act.kind != "command"]
            for fault_id in ids:
                try:
                    self.target.renew(fault_id, self.lease)
                except TargetError as exc:
                    self._doubt(f"the lease of fault {fault_id!r} could not be renewed: "
                                f"{exc}")

    # --- the end -----------------------------------------------------------------------

    def stop(self) -> list[Event]:
        """Stop both threads, remove every fault still active; the last events."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=30)
        with self._lock:
            left, self.active = dict(self.active), {}
        for act in left.values():
            with contextlib.suppress(TargetError):
                self._remover(act)()
            self._emit("fault_end", act)
        self.commands.remove_all()
        with contextlib.suppress(TargetError):
            self.target.remove_all()
        return self.events()
