"""The supervisor: starts the reference system from a scenario's ``system``, keeps it
running, applies faults to it, and stops all of it.

- Starts every mock endpoint and tool service, each agent's initial replicas and the
  orchestrator, each an OS process in its own process group on a free loopback port;
  a start that fails (a port in use, a service that will not come up) stops what was
  started and says why.
- Keeps the orchestrator's replica list current; a replica process that dies on its own
  is restarted (a pod's ``restartPolicy: Always``); one killed by a crash fault without
  ``restart_after`` stays gone.
- Serves the control API (bearer token): ``GET /_squall/state``; ``PUT /_squall/clock``
  (``{"t0": …}``, a run's t = 0 on the machine's monotonic clock: the autoscaler ticks
  from it, as the simulator's from 0, and starts afresh); and leased faults
  (``PUT|DELETE /_squall/faults/{id}``, ``POST …/renew``) for every fault kind: per-call
  faults go to the processes that own the target (every replica of an agent, and
  replicas started later); partial outages take slots (endpoints, tools) or replicas
  (agents, taken out of rotation); crashes SIGKILL real replica processes, restarted
  after ``restart_after`` plus their cold start or not at all; a cold-start storm
  restarts replicas through a cold start. Every removal restores the prior state; a
  lapsed lease removes the fault by itself; stopping rolls everything back.
- Stops every process it started on SIGTERM or SIGINT (no orphans).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import secrets
import signal
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from faults.active import Undo, once
from faults.specs import (
    ColdStartStormFault,
    CrashFault,
    FaultSpecBase,
    PartialOutageFault,
    PartitionFault,
    TargetKind,
)
from faults.specs import Target as FaultTarget
from harness.dists import BlockSampler
from harness.live.target import seconds
from harness.policies.autoscaler import HpaScaler
from harness.rng import stream
from harness.scenario.policies import Autoscaler
from harness.scenario.system import ScaleMetric, System
from sut_adapters.reference.metrics import Metric, add_metrics, counter, gauge
from sut_adapters.reference.procs import Service, start_service, stop_service
from sut_adapters.reference.service import (
    LOG,
    PER_CALL,
    BadRequestError,
    FaultControl,
    authorize,
    lease_of,
    make_app,
    parse_fault,
    read_json,
)

__all__ = ["Replica", "Supervisor", "supervisor_app"]

WATCH_S = 0.2  #: how often replica processes are checked
LOAD_TIMEOUT_S = 1.0  #: how long a service may take to say how busy it is
MAX_EVENTS = 10_000  #: replica events kept for the control API (the newest)
CLOCK_SKEW_S = 3600.0  #: how far from now a run's t = 0 may be


@dataclass
class Replica:
    agent: str
    index: int
    service: Service | None = None
    ready: bool = False
    away: bool = False  #: out of rotation (a partial outage)
    doomed: bool = False  #: killed by a fault for good: not restarted
    draining: bool = False  #: scaled down: out of rotation, stopped once idle
    generation: int = 0
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class Supervisor:
    def __init__(self, system: System, *, seed: int = 0, token: str | None = None,
                 workdir: Path, await_clock: bool = False) -> None:
        self.system, self.seed = system, seed
        #: the run's t = 0 on time.monotonic() (PUT /_squall/clock): the autoscaler ticks
        #: at t0 + n × interval from it, as the simulator's does from 0; with
        #: ``await_clock`` it makes no decision before a run has set it
        self.t0: float | None = None
        self.await_clock = await_clock
        self._clock_set = asyncio.Event()
        self._publishing = asyncio.Lock()
        self.token = token or secrets.token_urlsafe(24)
        self.workdir = workdir
        self.endpoints: dict[str, Service] = {}
        self.tools: dict[str, Service] = {}
        self.replicas: dict[str, list[Replica]] = {name: [] for name in system.agents}
        self.orchestrator: Service | None = None
        self.session: aiohttp.ClientSession | None = None
        self.agent_faults: dict[str, dict[str, tuple[dict[str, Any], float]]] = {}
        #: Faults forwarded to an endpoint, tool or the orchestrator: re-applied if it restarts.
        self.forwarded: dict[str, tuple[str, dict[str, Any], float]] = {}
        self.scale_events: list[dict[str, Any]] = []
        self._cold = {name: BlockSampler(cold, stream(seed, f"agent/{name}/cold"))
                      for name, spec in system.agents.items()
                      if (cold := system.cold_start_for(name)) is not None}
        self._rng = random.Random(int(stream(seed, "faults/choice").integers(0, 2**62)))
        self._next_index = dict.fromkeys(system.agents, 0)
        self._stopping = False
        self.restarts = 0
        #: replica lifecycle and scaling events as the simulator writes them
        #: (replica_start, _ready, _crash, _stop, scale_decision, scale), with their time
        #: on time.monotonic() and a sequence number
        self.events: list[dict[str, Any]] = []
        self._seq = 0

    def log(self, type_: str, **fields: Any) -> None:
        self._seq += 1
        self.events.append({"seq": self._seq, "t": time.monotonic(), "type": type_, **fields})
        if len(self.events) > MAX_EVENTS:
            del self.events[: len(self.events) - MAX_EVENTS]

    def events_after(self, seq: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["seq"] > seq]

    # --- starting and stopping -----------------------------------------------------------

    async def start(self) -> None:
        """Start everything; on any failure stop what was started and raise StartError."""
        try:
            endpoints = [self._spawn("llm", n, s.model_dump(mode="json"))
                         for n, s in self.system.endpoints.items()]
            tools = [self._spawn("tool", n, s.model_dump(mode="json"))
                     for n, s in self.system.tools.items()]
            started = await asyncio.gather(*endpoints, *tools)
            for svc in started:
                (self.endpoints if svc.kind == "llm" else self.tools)[svc.name] = svc
            starts = []
            for name, spec in self.system.agents.items():
                for _ in range(spec.replicas.initial):
                    replica = Replica(name, self._new_index(name))
                    self.replicas[name].append(replica)
                    self.log("replica_start", agent=name, replica=replica.index,
                             cold_start_s=0.0)
                    starts.append(self._start_replica(replica, cold_start=0.0))
            await asyncio.gather(*starts)
            self.orchestrator = await self._spawn(
                "orchestrator", "main", self.system.model_dump(mode="json"),
                replicas=self._rotation())
        except BaseException:
            await self.stop()
            raise
        LOG.info("system up", extra={"fields": {"orchestrator": self.orchestrator.url}})

    async def stop(self) -> None:
        """Roll back every fault and stop every process (process groups, no orphans)."""
        self._stopping = True
        for listing in self.replicas.values():
            for replica in listing:
                for task in replica.tasks:
                    task.cancel()
        services = [s for s in (*self.endpoints.values(), *self.tools.values(),
                                self.orchestrator) if s is not None]
        services += [r.service for rs in self.replicas.values() for r in rs if r.service]
        await asyncio.gather(*(asyncio.to_thread(stop_service, s) for s in services))

    async def _spawn(self, kind: str, name: str, spec: dict[str, Any], **extra: Any) -> Service:
        return await asyncio.to_thread(start_service, kind, name, spec, token=self.token,
                                       seed=self.seed, workdir=self.workdir, fork=True,
                                       **extra)

    def _new_index(self, agent: str) -> int:
        index = self._next_index[agent]
        self._next_index[agent] = index + 1
        return index

    async def _start_replica(self, replica: Replica, cold_start: float) -> None:
        """Start the replica's process; it joins the rotation once it serves and its
        cold start has passed (a process start counts toward it)."""
        begun = time.monotonic()
        replica.generation += 1
        generation = replica.generation
        replica.service = await self._spawn(
            "agent", replica.agent, self.system.agents[replica.agent].model_dump(mode="json"),
            replica=replica.index, endpoints={n: s.url for n, s in self.endpoints.items()},
            tools={n: s.url for n, s in self.tools.items()})
        await self._push_agent_faults(replica)
        await _sleep_until(begun + cold_start)
        if replica.generation == generation and not self._stopping:
            replica.ready = True
            self.log("replica_ready", agent=replica.agent, replica=replica.index)
            await self._publish()
            LOG.info("replica ready", extra={"fields": {"agent": replica.agent,
                                                        "replica": replica.index}})

    def _rotation(self) -> dict[str, dict[int, str]]:
        return {name: {r.index: r.service.url for r in listing
                       if r.ready and not r.away and not r.draining and r.service is not None}
                for name, listing in self.replicas.items()}

    async def _publish(self) -> None:
        """Tell the orchestrator which replicas take calls: one message at a time, each
        with the rotation as it is when it goes (sent at once on separate connections,
        an older one could land last and put stopped replicas back)."""
        if self.orchestrator is None or self.session is None:
            return
        async with self._publishing, self.session.put(
                f"{self.orchestrator.url}/_squall/replicas", json=self._rotation(),
                headers=self._auth()) as r:
            await r.read()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # --- watching ----------------------------------------------------------------------

    async def watch(self) -> None:
        """Restart processes that died on their own: replicas (through their cold start),
        endpoints, tools and the orchestrator (on their port, with their faults)."""
        while not self._stopping:
            await asyncio.sleep(WATCH_S)
            for group in (self.endpoints, self.tools):
                for name, single in list(group.items()):
                    if not single.alive() and not self._stopping:
                        group[name] = await self._respawn(single)
            if self.orchestrator is not None and not self.orchestrator.alive() \
                    and not self._stopping:
                self.orchestrator = await self._respawn(self.orchestrator,
                                                        replicas=self._rotation())
            for listing in self.replicas.values():
                for replica in list(listing):
                    svc = replica.service
                    if svc is None or svc.alive() or self._stopping or replica.draining:
                        continue
                    await asyncio.to_thread(stop_service, svc)
                    replica.service, replica.ready = None, False
                    await self._publish()
                    if replica.doomed:
                        listing.remove(replica)
                        continue
                    self.restarts += 1
                    LOG.info("replica died: restarting", extra={"fields": {
                        "agent": replica.agent, "replica": replica.index}})
                    cold = self._cold_start(replica.agent)
                    self.log("replica_crash", agent=replica.agent, replica=replica.index,
                             restart_s=round(cold, 6))
                    replica.tasks.append(asyncio.create_task(
                        self._start_replica(replica, cold)))

    async def _respawn(self, svc: Service, **extra: Any) -> Service:
        """A dead endpoint, tool or orchestrator, started again on its port with the
        faults that were forwarded to it."""
        await asyncio.to_thread(stop_service, svc)
        self.restarts += 1
        LOG.info("service died: restarting", extra={"fields": {"kind": svc.kind,
                                                               "name": svc.name}})
        spec = (self.system.model_dump(mode="json") if svc.kind == "orchestrator" else
                (self.system.endpoints if svc.kind == "llm" else self.system.tools)[svc.name]
                .model_dump(mode="json"))
        new = await self._spawn(svc.kind, svc.name, spec, port=svc.port, **extra)
        owner_target = {"llm": f"endpoint.{svc.name}", "tool": f"tool.{svc.name}"}.get(svc.kind)
        for activation, (target, raw, lease) in self.forwarded.items():
            if target == owner_target or (svc.kind == "orchestrator" and (
                    target.startswith("workflow.") or target == "orchestrator")):
                await self._put(new, activation, target, raw, lease)
        return new

    # --- autoscaling ---------------------------------------------------------------------

    def set_clock(self, t0: float) -> None:
        """A run's t = 0: every autoscaler starts afresh, ticking from it."""
        self.t0 = t0
        woken, self._clock_set = self._clock_set, asyncio.Event()
        woken.set()

    async def _until(self, when: float) -> bool:
        """Sleep until ``when`` (time.monotonic()); True if the clock was set meanwhile."""
        clock_set = self._clock_set
        wait = None if math.isinf(when) else max(when - time.monotonic(), 0.0)
        try:
            await asyncio.wait_for(clock_set.wait(), wait)
        except TimeoutError:
            return False
        return True

    async def autoscale(self, agent: str) -> None:
        """The HPA loop for one agent: at each tick (``interval`` apart, from the run's
        t = 0 once a run has set the clock, else from now) its metric over live replicas,
        the decision, then new replicas (real processes, through their cold start) or
        drained ones (out of rotation, stopped once idle). A tick missed while the
        machine was busy is skipped, not made up."""
        spec = self.system.autoscaler_for(agent)
        if spec is None:
            return
        bounds = self.system.agents[agent].replicas
        while not self._stopping:
            clock = self.t0
            if clock is None and self.await_clock:
                await self._until(math.inf)
                continue
            epoch = time.monotonic() if clock is None else clock
            scaler = HpaScaler(spec, bounds.lower, bounds.upper)  # as the simulator's at 0
            tick = 1
            while not self._stopping and self.t0 == clock:
                when = epoch + tick * spec.interval
                if await self._until(when) or self._stopping:
                    break
                await self._scale(agent, spec, scaler, when)
                tick = max(tick + 1, math.ceil((time.monotonic() - epoch) / spec.interval))

    async def _scale(self, agent: str, spec: Autoscaler, scaler: HpaScaler,
                     when: float) -> None:
        """One autoscaler decision for ``agent`` at its tick ``when`` (the tick's time,
        not the moment the loop got to it: the scaler's windows then count as the
        simulator's do), and what it starts or drains."""
        concurrency = self.system.agents[agent].concurrency
        alive = [r for r in self.replicas[agent] if not r.doomed and not r.draining]
        loads = await asyncio.gather(*(self._load(r) for r in alive))
        busy = sum(b for b, _ in loads)
        queued = sum(q for _, q in loads) + await self._shared_queue(agent)
        total = {ScaleMetric.QUEUE_PER_REPLICA: float(queued),
                 ScaleMetric.UTILIZATION: busy / concurrency}.get(
                     spec.metric, float(busy + queued))
        decision = scaler.decide(when, len(alive), total)
        event = {"agent": agent, "current": len(alive), "metric": round(total, 6),
                 "desired": decision.desired, "t": round(time.monotonic(), 3)}
        self.scale_events = [*self.scale_events[-99:], event]
        # the simulator's records of the same decision
        self.log("scale_decision", agent=agent, current=len(alive),
                 metric=round(total, 6), raw=decision.raw, desired=decision.desired)
        if decision.desired != len(alive):
            self.log("scale", agent=agent, to=decision.desired, **{"from": len(alive)})
        if decision.desired > len(alive):
            for _ in range(decision.desired - len(alive)):
                replica = Replica(agent, self._new_index(agent))
                self.replicas[agent].append(replica)
                cold = self._cold_start(agent)
                self.log("replica_start", agent=agent, replica=replica.index,
                         cold_start_s=round(cold, 6))
                replica.tasks.append(asyncio.create_task(
                    self._start_replica(replica, cold)))
            LOG.info("scale up", extra={"fields": event})
        elif decision.desired < len(alive):
            order = sorted(alive, key=lambda r: (r.ready, -r.index))  # starting first
            for replica in order[: len(alive) - decision.desired]:
                replica.tasks.append(asyncio.create_task(self._drain(replica)))
            LOG.info("scale down", extra={"fields": event})

    async def _shared_queue(self, agent: str) -> int:
        """Calls waiting for ``agent`` in the orchestrator's shared queue (its default
        balancer queues there, not at a replica); 0 when it cannot say."""
        svc = self.orchestrator
        if svc is None or not svc.alive() or self.session is None:
            return 0
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError,
                                 TypeError):
            async with asyncio.timeout(LOAD_TIMEOUT_S), self.session.get(
                    f"{svc.url}/_squall/load", headers=self._auth()) as r:
                return int((await r.json())["agents"][agent]["queued"])
        return 0

    async def _load(self, replica: Replica) -> tuple[int, int]:
        """(busy slots, queued calls) of a replica; a starting one counts 0."""
        svc = replica.service
        if svc is None or not replica.ready or self.session is None:
            return 0, 0
        try:
            async with self.session.get(f"{svc.url}/_squall/load", headers=self._auth()) as r:
                body = await r.json()
            return int(body["busy"]), int(body["queued"])
        except (aiohttp.ClientError, KeyError, ValueError):
            return 0, 0

    async def _drain(self, replica: Replica) -> None:
        replica.draining = True
        replica.generation += 1  # a pending cold start must not bring it back
        await self._publish()
        while replica.ready and replica.service is not None and replica.service.alive():
            busy, queued = await self._load(replica)
            if busy == 0 and queued == 0:
                break
            await asyncio.sleep(WATCH_S)
        replica.ready = False
        if replica.service is not None:
            await asyncio.to_thread(stop_service, replica.service)
        if replica in self.replicas[replica.agent]:
            self.replicas[replica.agent].remove(replica)
            self.log("replica_stop", agent=replica.agent, replica=replica.index,
                     reason="scale_down")

    def _cold_start(self, agent: str, storm: Any = None) -> float:
        if storm is not None:
            return float(storm.sample(self._rng_np(agent), 1)[0])
        sampler = self._cold.get(agent)
        return sampler.draw() if sampler is not None else 0.0

    def _rng_np(self, agent: str) -> Any:
        return stream(self.seed, f"agent/{agent}/storm")

    # --- faults --------------------------------------------------------------------------

    def targets(self) -> set[str]:
        return ({"orchestrator"} | {f"endpoint.{n}" for n in self.endpoints}
                | {f"tool.{n}" for n in self.tools}
                | {f"agent.{n}" for n in self.replicas}
                | {f"workflow.{n}" for n in self.system.workflows})

    async def forward(self, activation: str, target: str, raw: dict[str, Any],
                      lease_s: float) -> Undo:
        """Apply a per-call fault or a slot outage in the process(es) owning ``target``."""
        kind = FaultTarget.parse(target).kind
        if kind is TargetKind.AGENT:
            name = target.partition(".")[2]
            self.agent_faults.setdefault(name, {})[activation] = (raw, lease_s)
            await asyncio.gather(*(self._put(r.service, activation, target, raw, lease_s)
                                   for r in self.replicas[name] if r.service is not None))

            async def undo_agent() -> None:
                self.agent_faults.get(name, {}).pop(activation, None)
                await asyncio.gather(*(self._delete(r.service, activation)
                                       for r in self.replicas[name] if r.service is not None))
            return _later(undo_agent)
        owner = self._owner(target)
        await self._put(owner, activation, target, raw, lease_s)
        self.forwarded[activation] = (target, raw, lease_s)

        async def undo_owner() -> None:
            self.forwarded.pop(activation, None)
            await self._delete(self._owner(target), activation)
        return _later(undo_owner)

    async def renew_forwarded(self, activation: str, target: str, lease_s: float) -> None:
        kind = FaultTarget.parse(target).kind
        if kind is TargetKind.AGENT:
            name = target.partition(".")[2]
            if activation in self.agent_faults.get(name, {}):
                raw, _ = self.agent_faults[name][activation]
                self.agent_faults[name][activation] = (raw, lease_s)
            owners = [r.service for r in self.replicas[name] if r.service is not None]
        else:
            owners = [self._owner(target)]
            if activation in self.forwarded:
                self.forwarded[activation] = (target, self.forwarded[activation][1], lease_s)
        await asyncio.gather(*(self._renew(s, activation, lease_s) for s in owners))

    def _owner(self, target: str) -> Service:
        kind, _, name = target.partition(".")
        owner = {"endpoint": self.endpoints, "tool": self.tools}.get(kind, {}).get(name)
        if owner is None and (kind == "workflow" or target == "orchestrator"):
            owner = self.orchestrator
        if owner is None:
            raise BadRequestError(f"no target {target!r}", status=404, kind="unknown_target")
        return owner

    async def _push_agent_faults(self, replica: Replica) -> None:
        """A replica started while faults are on its agent gets them too."""
        for activation, (raw, lease_s) in self.agent_faults.get(replica.agent, {}).items():
            await self._put(replica.service, activation, f"agent.{replica.agent}", raw, lease_s)

    async def _put(self, svc: Service | None, activation: str, target: str,
                   raw: dict[str, Any], lease_s: float) -> None:
        if svc is None or self.session is None:
            return
        async with self.session.put(f"{svc.url}/_squall/faults/{activation}", headers=self._auth(),
                                    json={"target": target, "fault": raw,
                                          "lease_s": lease_s}) as r:
            if r.status >= 400 and r.status != 409:
                answer = await r.json(content_type=None)
                raise BadRequestError(answer["error"]["message"], status=r.status,
                                      kind=answer["error"]["type"])

    async def _delete(self, svc: Service | None, activation: str) -> None:
        if svc is None or self.session is None or not svc.alive():
            return
        with contextlib.suppress(aiohttp.ClientError):
            async with self.session.delete(f"{svc.url}/_squall/faults/{activation}",
                                           headers=self._auth()) as r:
                await r.read()

    async def _renew(self, svc: Service | None, activation: str, lease_s: float) -> None:
        if svc is None or self.session is None or not svc.alive():
            return
        with contextlib.suppress(aiohttp.ClientError):
            async with self.session.post(f"{svc.url}/_squall/faults/{activation}/renew",
                                         headers=self._auth(), json={"lease_s": lease_s}) as r:
                await r.read()

    def pick(self, agent: str, count: int, *, ready_only: bool = False) -> list[Replica]:
        pool = [r for r in self.replicas[agent]
                if r.service is not None and not r.doomed and (r.ready or not ready_only)]
        if count >= len(pool):
            return pool
        return sorted(self._rng.sample(pool, count), key=lambda r: r.index)

    async def crash(self, agent: str, spec: CrashFault | ColdStartStormFault) -> None:
        """SIGKILL replica processes now; restart them (after ``restart_after`` and a cold
        start), or not at all."""
        victims = self.pick(agent, spec.share(len(self.pick(agent, 10**9))))
        restart = spec.restart_after if isinstance(spec, CrashFault) else 0.0
        for replica in victims:
            replica.doomed = restart is None
            replica.ready = False
            svc = replica.service
            if svc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(svc.proc.pid, signal.SIGKILL)
        await self._publish()
        if restart is None:
            for replica in victims:
                self.log("replica_stop", agent=agent, replica=replica.index, reason="crash")
            return
        storm = spec.cold_start if isinstance(spec, ColdStartStormFault) else None
        for replica in victims:
            cold = self._cold_start(agent, storm)
            self.log("replica_crash", agent=agent, replica=replica.index,
                     restart_s=round(restart + cold, 6))
            replica.tasks.append(asyncio.create_task(
                self._restart_after(replica, restart, cold)))

    async def _restart_after(self, replica: Replica, delay: float, cold: float) -> None:
        svc = replica.service
        if svc is not None:
            await asyncio.to_thread(stop_service, svc)
        replica.service = None
        replica.generation += 1  # the watcher must not restart it meanwhile
        await _sleep_until(time.monotonic() + delay)
        self.restarts += 1
        await self._start_replica(replica, cold)

    async def take_away(self, agent: str, spec: PartialOutageFault) -> Undo:
        """Take a share of the agent's ready replicas out of rotation (they keep running,
        unreachable); the undo puts them back."""
        ready = self.pick(agent, 10**9, ready_only=True)
        away = self.pick(agent, spec.share(len(ready)), ready_only=True)
        for replica in away:
            replica.away = True
        await self._publish()

        async def undo() -> None:
            for replica in away:
                replica.away = False
            await self._publish()

        return _later(undo)

    async def run(self, control: FaultControl) -> AsyncIterator[None]:
        """The system's lifetime inside the control API's: start everything (a failed or
        cancelled start stops what it started), watch and autoscale, then roll every
        fault back and stop everything."""
        self.session = aiohttp.ClientSession()
        try:
            await self.start()
        except BaseException:
            await self.session.close()
            raise
        control.targets = self.targets()
        loops = [asyncio.create_task(self.watch()),
                 *(asyncio.create_task(self.autoscale(name)) for name in self.replicas)]
        yield
        for task in loops:
            task.cancel()
        control.rollback()
        await settled()
        await self.stop()
        await self.session.close()

    async def apply(self, activation: str, target: str, spec: FaultSpecBase,
                    raw: dict[str, Any], lease: float) -> Undo:
        """Apply one fault activation to the running system; its undo."""
        kind = FaultTarget.parse(target).kind
        if spec.kind_name() in PER_CALL or isinstance(spec, PartitionFault) or (
                isinstance(spec, PartialOutageFault) and kind is not TargetKind.AGENT):
            return await self.forward(activation, target, raw, lease)
        name = target.partition(".")[2]
        if isinstance(spec, CrashFault | ColdStartStormFault) and kind is TargetKind.AGENT:
            await self.crash(name, spec)
            return once(lambda: None)  # a crash is an event: there is nothing to take back
        if isinstance(spec, PartialOutageFault) and kind is TargetKind.AGENT:
            return await self.take_away(name, spec)
        raise BadRequestError(f"the reference system cannot apply a {spec.kind_name()} "
                              f"fault to {target}", status=422, kind="unsupported_fault")

    def state(self) -> dict[str, Any]:
        def svc(s: Service | None) -> dict[str, Any] | None:
            return None if s is None else {"url": s.url, "pid": s.proc.pid, "alive": s.alive()}
        return {
            "orchestrator": svc(self.orchestrator),
            "endpoints": {n: svc(s) for n, s in self.endpoints.items()},
            "tools": {n: svc(s) for n, s in self.tools.items()},
            "agents": {n: [{"replica": r.index, "ready": r.ready, "away": r.away,
                            "doomed": r.doomed, "draining": r.draining,
                            "service": svc(r.service)} for r in listing]
                       for n, listing in self.replicas.items()},
            "restarts": self.restarts,
            "scale_events": self.scale_events,
            "clock": self.t0,
            "events_seq": self._seq,
        }


    async def loads(self, state: dict[str, Any]) -> None:
        """Add each live service's ``load`` (busy, queued, capacity) to ``state``, asked
        in parallel; a service that does not answer in time gets none."""
        wanted: list[tuple[dict[str, Any], Service]] = []
        if self.orchestrator is not None and state.get("orchestrator") is not None:
            wanted.append((state["orchestrator"], self.orchestrator))  # its shared queues
        for kind in ("endpoints", "tools"):
            for name, svc in getattr(self, kind).items():
                if svc is not None and state[kind][name] is not None:
                    wanted.append((state[kind][name], svc))
        for name, listing in self.replicas.items():
            for replica, entry in zip(listing, state["agents"][name], strict=True):
                if replica.service is not None and replica.ready:
                    wanted.append((entry["service"], replica.service))

        async def ask(entry: dict[str, Any], svc: Service) -> None:
            if self.session is None or not svc.alive():
                return
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with asyncio.timeout(LOAD_TIMEOUT_S), self.session.get(
                        f"{svc.url}/_squall/load", headers=self._auth()) as r:
                    entry["load"] = await r.json()

        await asyncio.gather(*(ask(entry, svc) for entry, svc in wanted))


def _by_kind(listing: list[dict[str, Any]]) -> list[tuple[list[str], float]]:
    kinds: dict[str, int] = {}
    for fault in listing:
        kinds[fault["kind"]] = kinds.get(fault["kind"], 0) + 1
    return [([k], n) for k, n in kinds.items()]


#: Undos still being carried out by the owning processes (see :func:`_later`).
_UNDOING: set[asyncio.Task[Any]] = set()


def _later(undo: Any) -> Undo:
    """An undo that runs a coroutine function on the running loop; :func:`settled` waits
    for it, so a DELETE answers once the owners have removed the fault."""
    def run() -> None:
        task = asyncio.get_running_loop().create_task(undo())
        _UNDOING.add(task)
        task.add_done_callback(_UNDOING.discard)
    return once(run)


async def settled() -> None:
    """Wait until every undo under way has been carried out."""
    if _UNDOING:
        await asyncio.gather(*list(_UNDOING), return_exceptions=True)


async def _sleep_until(deadline: float) -> None:
    """Sleep until time.monotonic() reaches ``deadline`` (asyncio's timers may fire up to
    a clock tick early: a cold start must not end before its time)."""
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(left)


def clock_of(body: Any) -> float:
    """The ``t0`` of a ``PUT /_squall/clock`` body; BadRequestError saying what is wrong."""
    t0 = seconds(body.get("t0")) if isinstance(body, dict) else None
    if t0 is None:
        raise BadRequestError("t0 must be a number: the run's t = 0 on this machine's "
                              "monotonic clock")
    if abs(t0 - time.monotonic()) > CLOCK_SKEW_S:
        raise BadRequestError(f"t0 {t0:g} is more than {CLOCK_SKEW_S:g} s from this "
                              "machine's monotonic clock: it is not a time on it")
    return t0


def supervisor_app(sup: Supervisor) -> web.Application:
    """The supervisor's control API and lifecycle: it starts the system when it starts
    serving and stops all of it (faults rolled back) when it stops."""
    control = FaultControl(lambda _t, _fx: None, targets=set())
    app = make_app("supervisor", sup.token)
    applied: dict[str, str] = {}  # activation → target, for renewals

    async def state(request: web.Request) -> web.Response:
        authorize(request, sup.token)
        body = sup.state()
        if request.query.get("load") == "1":
            await sup.loads(body)
        after = request.query.get("events_after")
        if after is not None:
            if not after.isdigit():
                raise BadRequestError("events_after must be a sequence number (0 or more)")
            body["events"] = sup.events_after(int(after))
        return web.json_response({**body, "faults": control.listing()})

    async def put_clock(request: web.Request) -> web.Response:
        authorize(request, sup.token)
        sup.set_clock(clock_of(await read_json(request)))
        return web.json_response({"t0": sup.t0})

    async def put_fault(request: web.Request) -> web.Response:
        authorize(request, sup.token)
        activation = request.match_info["id"]
        body = await read_json(request)
        target, spec, lease = parse_fault(body)
        control.check(activation, target)
        undo = await sup.apply(activation, target, spec, body["fault"], lease)
        control.hold(activation, target, spec.kind_name(), undo, lease)
        applied[activation] = target
        return web.json_response({"applied": activation}, status=201)

    async def renew(request: web.Request) -> web.Response:
        authorize(request, sup.token)
        activation = request.match_info["id"]
        lease = lease_of(await read_json(request))
        if not control.renew(activation, lease):
            raise BadRequestError("no such fault", status=404, kind="not_found")
        await sup.renew_forwarded(activation, applied[activation], lease)
        return web.json_response({"renewed": activation})

    async def delete_fault(request: web.Request) -> web.Response:
        authorize(request, sup.token)
        if not control.end(request.match_info["id"]):
            raise BadRequestError("no such fault", status=404, kind="not_found")
        await settled()
        return web.json_response({"removed": request.match_info["id"]})

    async def delete_all(request: web.Request) -> web.Response:
        authorize(request, sup.token)
        removed = control.rollback()
        await settled()
        return web.json_response({"removed": removed})

    add_metrics(app, lambda: _metrics(sup, control))
    app.cleanup_ctx.append(lambda _app: sup.run(control))
    app.router.add_get("/_squall/state", state)
    app.router.add_put("/_squall/clock", put_clock)
    app.router.add_put("/_squall/faults/{id}", put_fault)
    app.router.add_post("/_squall/faults/{id}/renew", renew)
    app.router.add_delete("/_squall/faults/{id}", delete_fault)
    app.router.add_delete("/_squall/faults", delete_all)
    return app


def _metrics(sup: Supervisor, control: FaultControl) -> Iterable[Metric]:
    counts: dict[tuple[str, str], int] = {}
    for name, listing in sup.replicas.items():
        for r in listing:
            state = "draining" if r.draining else "away" if r.away else \
                "ready" if r.ready else "starting"
            counts[name, state] = counts.get((name, state), 0) + 1
    yield gauge("squall_replicas", "Agent replicas by state", ["agent", "state"],
                (([a, st], n) for (a, st), n in counts.items()))
    yield counter("squall_restarts", "Processes restarted", [], [([], sup.restarts)])
    yield gauge("squall_active_faults", "Faults active in the system", ["kind"],
                _by_kind(control.listing()))
