"""``--mode live``: the scenario's arrivals as real HTTP traffic, its faults applied on
schedule, the same records as the simulator — in scenario seconds.

The engine runs in plain Python (no gevent). It starts (or attaches to) the target,
starts the driver process (:mod:`harness.live.driver`) with the schedule at wall offsets
``t / K``, and then, in one loop: turns the driver's results into request and span rows,
applies and removes faults when due (each under a lease it renews while alive, so a
killed engine still leaves the system restored), samples the system's state, checks the
stop conditions, and flushes the records at least once a second. Whatever ends the run —
its end, a stop condition, Ctrl-C or SIGTERM, an error — every active fault is rolled
back and every process it started is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.demand.arrivals import PRIORITIES, ArrivalSchedule
from harness.engines import EngineResult, Mode, Progress
from harness.errors import InputError
from harness.live.channel import FrameReader
from harness.live.cpu import GroupCpu
from harness.live.faults import FaultController
from harness.live.health import Health
from harness.live.progress import Display, Recent, Status
from harness.live.stops import StopWatch
from harness.live.target import Target, TargetError, fault_problems, open_target
from harness.outcomes import ErrorKind, Outcome, RunStatus, outcome_of
from harness.records.writer import RunWriter
from harness.scenario.model import Scenario
from harness.scoring.cost import compute_cost, lifetimes

__all__ = ["LiveEngine", "LiveRunError"]

START_MARGIN_S = 0.5  #: from "driver ready" to the first arrival's time
TICK_S = 0.1  #: the loop's longest sleep
SHOW_EVERY_S = 0.5  #: how often the live display is refreshed
DRIVER_READY_S = 90.0


class LiveRunError(Exception):
    """The live run broke down (the driver died, the target stopped answering)."""


class LiveEngine:
    """The live driver behind the engine seam (:mod:`harness.engines`)."""

    mode = Mode.LIVE

    def run(self, scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
            seed: int, *, progress: Progress | None = None,
            options: Mapping[str, Any] | None = None) -> EngineResult:
        opts = dict(options or {})
        live = scenario.live
        adapter = scenario.target.adapter
        if adapter == "reference":
            why = live.check_target()
            if why is not None:
                raise InputError(why, source="live.target")
        problems = fault_problems(scenario)
        if problems:
            raise InputError(problems)
        commands = [f.id for f in scenario.fault_list if f.kind_name() == "command"]
        if commands and not opts.get("allow_commands"):
            raise InputError(f"fault{'s' if len(commands) > 1 else ''} "
                             f"{', '.join(map(repr, commands))} run commands on this "
                             "machine: pass --allow-commands to let them",
                             source="--mode live")
        try:
            target = open_target(adapter, scenario,
                                 url=live.target if adapter == "reference" else None,
                                 token=opts.get("token"), time_scale=live.time_scale)
        except TargetError as exc:
            where = live.target if adapter == "reference" else f"the {adapter} target"
            raise InputError(str(exc), source=where or "the reference system") from None
        try:
            return _Run(scenario, schedule, writer, target, progress=progress, opts=opts).run()
        finally:
            target.close()


class _Run:
    def __init__(self, scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
                 target: Target, *, progress: Progress | None, opts: dict[str, Any]) -> None:
        self.scenario, self.schedule, self.writer, self.target = scenario, schedule, writer, target
        self.live = scenario.live
        self.k = self.live.time_scale
        self.opts = opts
        #: a live display when the caller wants progress (a panel on a terminal)
        self.display = Display() if progress is not None else None
        self.stops = StopWatch(scenario.stop_conditions)
        #: recent answers: for the display and the stop conditions alike
        self.recent = Recent(keep=self.stops.span)
        self._shown = 0.0
        self.t0 = 0.0
        self.times = schedule.times
        self.wf_names = schedule.workflows
        self.prio_names = [p.value for p in PRIORITIES]
        self.wf = schedule.workflow
        self.prio = schedule.priority
        self.done = np.zeros(len(schedule), dtype=bool)
        self.completed = self.dropped = 0
        self.health = Health(self.live.max_send_lag)
        self.faults: FaultController | None = None
        self.missed_samples = 0
        self.cpu: GroupCpu | None = None
        self.status = RunStatus.COMPLETE
        self.reason: str | None = None
        self.driver_end: dict[str, Any] = {}
        self.spans = scenario.records.spans
        #: for the timeseries' cumulative cost: answers' cost so far, replica lifetimes
        self.answered_usd = 0.0
        self.replica_events: list[dict[str, Any]] = []

    # --- time --------------------------------------------------------------------------

    def now_s(self) -> float:
        """Scenario seconds since the run started."""
        return (time.monotonic() - self.t0) * self.k

    # --- the run -----------------------------------------------------------------------

    def run(self) -> EngineResult:
        from harness.sim.engine import default_drain  # the same drain as the simulator

        drain = default_drain(self.scenario)
        with tempfile.TemporaryDirectory(prefix="squall-driver-") as tmp:
            driver = self._start_driver(Path(tmp), drain)
            try:
                self._loop(driver)
                self._sample()  # the state the run ends in, every answer counted
            except LiveRunError as exc:  # the records so far are kept: a partial run
                self.status, self.reason = RunStatus.FAILED, str(exc)
                print(f"squall: the live run broke off: {exc}", file=sys.stderr, flush=True)
                self._stop_driver(driver, hard=True)
            except BaseException:
                self._stop_driver(driver, hard=True)
                raise
            finally:
                if self.faults is not None:
                    self._events(self.faults.stop())
                if self.display is not None:
                    self.display.close()
            self._stop_driver(driver, hard=False)
        unrecorded = np.flatnonzero(~self.done)
        for rid in unrecorded.tolist():  # the driver never said: dropped
            self._dropped(rid, None)
        self.writer.event(self.now_s(), "run_end", completed=self.completed,
                          dropped=self.dropped)
        summary = self.health.summary()
        if self.cpu is not None:
            summary.update(self.cpu.summary())
        meta: dict[str, Any] = {"generator": {**summary, **self.driver_end},
                                "time_scale": self.k,
                                "doubts": self.faults.doubts if self.faults else [],
                                "missed_samples": self.missed_samples}
        if self.reason is not None:
            meta["stopped_by" if self.status is RunStatus.ABORTED else "failure"] = self.reason
        return EngineResult(len(self.schedule), self.completed, self.dropped,
                            self.now_s(), status=self.status, meta=meta)

    def _start_driver(self, tmp: Path, drain: float) -> subprocess.Popen[bytes]:
        request = self.target.request(self.wf_names)
        offsets = self.times / self.k
        arrays = {"ids": np.arange(len(offsets), dtype=np.int64), "offsets": offsets,
                  "wf": self.wf, "prio": self.prio}
        if len(request.bodies) > 1:  # each request's payload sample, seeded
            rng = np.random.default_rng([self.scenario.seed, 0x5A3])
            arrays["sample"] = rng.integers(0, len(request.bodies), len(offsets),
                                            dtype=np.int32)
        np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
        last = float(offsets[-1]) if len(offsets) else 0.0
        job = {"url": self.target.url, "paths": request.paths, "names": list(self.wf_names),
               "priorities": self.prio_names, "bodies": request.bodies,
               "method": request.method, "stream": request.stream,
               "timeout_s": request.timeout_s,
               "headers": request.headers, "arrays": str(tmp / "arrays.npz"),
               "max_inflight": self.live.max_inflight,
               "end_s": max(last, self.scenario.duration / self.k) + drain / self.k,
               "web_port": self.opts.get("web_port"),
               "workers": self.live.load_workers + int(self.opts.get("remote_workers") or 0),
               "local_workers": self.live.load_workers,
               "join_s": self.live.join_within,
               "bind": self.opts.get("master_host", "127.0.0.1"),
               "port": int(self.opts.get("master_port") or 0)}
        (tmp / "job.json").write_text(json.dumps(job), encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "harness.live.driver",
                                 str(tmp / "job.json")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, start_new_session=True)
        self.reader = FrameReader()
        deadline = time.monotonic() + DRIVER_READY_S + self.live.join_within
        while True:
            kind = self._read(proc, deadline - time.monotonic())
            if kind == b"R":
                break
            if self.driver_end.get("error"):
                self._stop_driver(proc, hard=True)
                raise InputError(self.driver_end["error"], source="--load-workers")
            if time.monotonic() > deadline:
                self._stop_driver(proc, hard=True)
                raise LiveRunError(f"the load driver was not ready within {DRIVER_READY_S:g} s")
        return proc

    def _read(self, proc: subprocess.Popen[bytes], wait: float) -> bytes | None:
        """Read what the driver sent within ``wait`` seconds; the last frame kind."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(wait, 0.0))
        if not ready:
            return None
        data = os.read(fd, 1 << 20)
        if not data:
            code = proc.wait(timeout=5)
            raise LiveRunError(f"the load driver stopped (exit code {code}) before it "
                               "finished")
        last = None
        for kind, payload in self.reader.feed(data):
            last = kind
            if kind == b"B":
                self._results(payload)
            elif kind == b"E":
                self.driver_end = dict(payload)
        return last

    def _loop(self, driver: subprocess.Popen[bytes]) -> None:
        assert driver.stdin is not None
        self.cpu = GroupCpu(driver.pid)  # the driver leads its own process group
        self.t0 = time.monotonic() + START_MARGIN_S
        self.target.begin(self.t0)
        t0_wall = time.time() + (self.t0 - time.monotonic())  # workers elsewhere share it
        driver.stdin.write(f"GO {t0_wall!r}\n".encode())
        driver.stdin.flush()
        self.faults = FaultController(self.target, self.scenario.fault_list, t0=self.t0,
                                      k=self.k, lease=self.live.lease)
        self.faults.start()
        step = self.scenario.records.step / self.k
        next_sample = self.t0
        total = self.scenario.duration
        stopped = False
        while True:
            now = time.monotonic()
            if self._read(driver, min(TICK_S, next_sample - now)) == b"E" or self.driver_end:
                break
            self._events(self.faults.events())
            now = time.monotonic()
            if now >= next_sample:
                self._sample()
                next_sample += step
                if next_sample < now:
                    next_sample = now + step
            self.recent.trim(self.now_s())  # bounded whatever the run's length
            if not stopped:
                fired = self.stops.check(self.now_s(), self.recent.answers)
                if fired is not None:
                    stopped = True
                    self.status, self.reason = RunStatus.ABORTED, fired
                    self.writer.event(self.now_s(), "abort", reason=fired)
                    driver.stdin.write(b"STOP\n")
                    driver.stdin.flush()
            if self.display is not None and now - self._shown >= SHOW_EVERY_S:
                self._shown = now
                self._show(total)
            self.writer.tick()

    # --- results -----------------------------------------------------------------------

    def _results(self, batch: list[tuple[Any, ...]]) -> None:
        t0, k = self.t0, self.k
        for rid, sent, end, status, body, transport, marks in batch:
            if self.done[rid]:
                continue
            if status == -1:
                self._dropped(rid, sent)
                continue
            self.done[rid] = True
            intended = float(self.times[rid])
            lag = sent - t0 - intended / k
            sent_s, end_s = (sent - t0) * k, (end - t0) * k
            self.health.add(sent_s, lag)
            try:
                ans = self.target.answer(status, body, transport, t0, k, sent=sent,
                                         marks=marks)
            except (TargetError, ValueError, TypeError, KeyError) as exc:
                raise LiveRunError(f"cannot read the system's answer to request {rid}: "
                                   f"{exc}") from None
            if ans.error is None:
                outcome, kind = Outcome.OK.value, None
            else:
                outcome, kind = outcome_of(ErrorKind(ans.error)).value, ans.error
            latency = end_s - intended
            self.writer.requests.append((
                rid, self.wf_names[self.wf[rid]], self.prio_names[self.prio[rid]], intended,
                sent_s, end_s, latency, outcome, kind, ans.attempts, ans.steps, ans.fallback,
                ans.tokens_in, ans.tokens_out, ans.cost, ans.ttft_s, ans.itl_s))
            if self.spans:
                append = self.writer.spans.append
                for span in ans.spans:
                    append((rid, *span))
            for t, type_, fields in ans.events:
                self.writer.event(t, type_, **fields)
            self.completed += 1
            self.answered_usd += ans.cost
            self.recent.add(end_s, sent_s, outcome != Outcome.OK.value, latency, lag)

    def _dropped(self, rid: int, sent: float | None) -> None:
        self.done[rid] = True
        intended = float(self.times[rid])
        sent_s = None if sent is None else (sent - self.t0) * self.k
        self.writer.requests.append((
            rid, self.wf_names[self.wf[rid]], self.prio_names[self.prio[rid]], intended,
            sent_s, None, None, Outcome.DROPPED.value, None, 0, 0, False, 0, 0, 0.0, None, None))
        self.dropped += 1
        self.recent.add(intended, sent_s, True, None)

    def _show(self, total: float) -> None:
        assert self.display is not None
        t = self.now_s()
        due = np.searchsorted(self.times, [max(t - self.recent.window, 0.0), t])
        sent, answers, bad, p95, lag = self.recent.figures(t)
        span = min(self.recent.window, max(t, 1e-9))
        faults = self.faults.active_ids() if self.faults is not None else []
        self.display.update(Status(self.scenario.name, min(max(t, 0.0), total), total,
                                   float(due[1] - due[0]) / span, sent, p95, bad, answers,
                                   faults, lag))

    def _events(self, events: Sequence[tuple[float | None, str, dict[str, Any]]]) -> None:
        """Events stamped on the monotonic clock, in scenario seconds (no time: the
        state the run started from, at 0)."""
        for wall, type_, fields in events:
            at = 0.0 if wall is None else max((wall - self.t0) * self.k, 0.0)
            self.writer.event(at, type_, **fields)
            if type_ in ("replica_start", "replica_stop"):
                self.replica_events.append({"type": type_, "t_s": at, **fields})

    # --- state -------------------------------------------------------------------------

    def _sample(self) -> None:
        t = round(max(self.now_s(), 0.0), 6)
        if self.cpu is not None:
            self.cpu.sample()
        try:
            rows, events = self.target.sample()
        except TargetError:  # a system too busy to say how it is: this sample is missing
            self.missed_samples += 1
            return
        for row in rows:
            self.writer.timeseries.append((t, *row))
        due = int(np.searchsorted(self.times, t, side="right"))
        inflight = max(due - self.completed - self.dropped, 0)  # due, not yet answered
        self._events(events)
        compute = compute_cost(lifetimes(self.replica_events, t),
                               self.scenario.cost.cold_start_usd, 0.0, t)
        self.writer.timeseries.append((t, "system", "requests", None, None, None,
                                       inflight, 0, None,
                                       round(self.answered_usd + compute, 9)))

    # --- the driver --------------------------------------------------------------------

    def _stop_driver(self, proc: subprocess.Popen[bytes], *, hard: bool) -> None:
        if proc.poll() is None and proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                if hard:
                    proc.stdin.write(b"STOP\n")
                proc.stdin.close()
        deadline = time.monotonic() + (5.0 if hard else 30.0)
        with contextlib.suppress(LiveRunError):
            while proc.poll() is None and time.monotonic() < deadline:
                if self._read(proc, 0.1) is None and proc.poll() is not None:
                    break
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
