"""Agents: replicas that each serve ``concurrency`` calls, fed by a shared queue or by a
load balancer with a queue per replica.

A replica starts (a cold start), becomes ready, and ends dead (crashed: its in-flight
calls fail) or drained (scaled down: it takes no new calls and stops when idle). An
agent's work per call is its service time, then its LLM calls, then its tool calls; the
replica's slot is held throughout, as a real worker waits on its LLM.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any

import simpy

from faults.effects import Effects, decide
from faults.specs import CutMode, ErrorMode
from harness.dists import DistSpec
from harness.outcomes import ErrorKind
from harness.policies.balancers import make_balancer
from harness.scenario.system import Agent
from harness.sim.clients import LlmClient, ToolClient
from harness.sim.servers import SimEndpoint, SimTool, acquire, hang, hold
from harness.sim.station import Station
from harness.sim.world import Req, World

__all__ = ["SimAgent", "SimReplica"]

Gen = Generator[simpy.Event, Any, Any]

ORCHESTRATOR = "orchestrator"
UNAVAILABLE = ErrorKind.UNAVAILABLE.value
CRASH = ErrorKind.CRASH.value
TIMEOUT = ErrorKind.TIMEOUT.value
ERROR = ErrorKind.ERROR.value
MALFORMED = ErrorKind.MALFORMED.value

STARTING, READY, DRAINING, AWAY, DEAD = "starting", "ready", "draining", "away", "dead"


class SimReplica:
    __slots__ = ("abandoned", "busy", "generation", "index", "inflight", "since", "state",
                 "station")

    def __init__(self, index: int, station: Station | None, since: float) -> None:
        self.index = index
        self.generation = 0  #: bumped by each restart, so a stale "ready" timer is ignored
        self.since = since  #: when it was provisioned (billing starts)
        self.state = STARTING
        self.busy = 0  #: slots working, abandoned work included
        self.abandoned = 0  #: of those, work whose caller gave up (it runs to its end)
        self.station = station  #: its own queue (push balancers); None with a shared queue
        self.inflight: dict[simpy.Process, None] = {}


class SimAgent:
    def __init__(self, world: World, name: str, spec: Agent,
                 endpoints: Mapping[str, SimEndpoint], tools: Mapping[str, SimTool]) -> None:
        self.world, self.name, self.spec = world, name, spec
        self.env = world.env
        self.concurrency = spec.concurrency
        self.balancer = make_balancer(spec.balancer)
        self.shared = Station(self.env, 0, spec.queue_limit) if self.balancer is None else None
        self.replicas: list[SimReplica] = []  #: every replica not dead (any state)
        self.ready: list[SimReplica] = []  #: replicas taking new calls
        self._next_index = 0
        self._service = world.sampler(spec.service_time, f"agent/{name}/service").draw
        self._has_service = not (spec.service_time.is_constant
                                 and spec.service_time.mean_value() == 0)
        self._rng = world.rng(f"agent/{name}/balance")
        self._fault_rng = world.rng(f"agent/{name}/faults")
        self.llm = [LlmClient(world, name, i, c, endpoints) for i, c in enumerate(spec.llm)]
        self.tools = [ToolClient(world, name, i, t, tools) for i, t in enumerate(spec.tools)]
        self.timeout = spec.timeout or math.inf
        price = spec.compute_price_per_s
        self.price_per_s = world.scenario.cost.compute_price_per_s if price is None else price
        cold = world.scenario.system.cold_start_for(name)
        self._cold = world.sampler(cold, f"agent/{name}/cold") if cold is not None else None
        self.effects: Effects | None = None
        self.stopped_seconds = 0.0  #: replica-seconds of replicas already stopped
        self.cold_starts = 0

    # --- replicas ----------------------------------------------------------------------

    def cold_start(self, dist: DistSpec | None = None) -> float:
        if dist is not None:
            return float(dist.sample(self.world.np_rng(f"agent/{self.name}/storm"), 1)[0])
        return self._cold.draw() if self._cold is not None else 0.0

    def start_replica(self, cold_start: float = 0.0) -> SimReplica:
        station = None if self.shared is not None else \
            Station(self.env, self.concurrency, self.spec.queue_limit)
        replica = SimReplica(self._next_index, station, self.env.now)
        self._next_index += 1
        self.replicas.append(replica)
        self.world.event("replica_start", agent=self.name, replica=replica.index,
                         cold_start_s=round(cold_start, 6), price_per_s=self.price_per_s)
        self.cold_starts += cold_start > 0
        self._ready_after(replica, cold_start)
        return replica

    def _ready_after(self, replica: SimReplica, delay: float) -> None:
        generation = replica.generation
        if delay > 0:
            self.env.timeout(delay).callbacks.append(
                lambda _e: self._ready(replica, generation))
        else:
            self._ready(replica, generation)

    def _ready(self, replica: SimReplica, generation: int) -> None:
        if replica.state != STARTING or replica.generation != generation:
            return
        replica.state = READY
        self._enter(replica)
        self.world.event("replica_ready", agent=self.name, replica=replica.index)

    def _enter(self, replica: SimReplica) -> None:
        self.ready.append(replica)
        if self.shared is not None:
            self.shared.set_capacity(self.shared.capacity + self.concurrency)

    def _leave(self, replica: SimReplica) -> None:
        if replica in self.ready:
            self.ready.remove(replica)
            if self.shared is not None:
                self.shared.set_capacity(self.shared.capacity - self.concurrency)

    def kill(self, replica: SimReplica, reason: str) -> None:
        """The replica dies for good: its queued and in-flight calls fail at once."""
        if replica.state == DEAD:
            return
        self._leave(replica)
        self._stop(replica, reason)
        self._fail_calls(replica)

    def crash(self, replica: SimReplica, restart_after: float, cold_start: float) -> None:
        """The replica crashes and restarts in place (a pod's container restart): its calls
        fail now; it serves again after ``restart_after`` plus its cold start. It still
        counts for the autoscaler and is still billed meanwhile."""
        if replica.state == DEAD:
            return
        if replica.state == DRAINING:  # it was on its way out: it stays out
            self.kill(replica, "crash")
            return
        self._leave(replica)
        replica.state = STARTING
        self._fail_calls(replica)  # a new generation: a stale "ready" timer is ignored
        self.world.event("replica_crash", agent=self.name, replica=replica.index,
                         restart_s=round(restart_after + cold_start, 6))
        self.cold_starts += cold_start > 0
        self._ready_after(replica, restart_after + cold_start)

    def _fail_calls(self, replica: SimReplica) -> None:
        # Abandoned work dies with the process; calls in flight end below and count down.
        replica.busy -= replica.abandoned
        replica.abandoned = 0
        replica.generation += 1
        if replica.station is not None:
            replica.station.drain(CRASH)
        for proc in list(replica.inflight):
            if proc.is_alive:
                proc.interrupt(CRASH)

    def drain(self, replica: SimReplica) -> None:
        """Scale down: no new calls; the replica stops when its last call ends."""
        if replica.state == STARTING:
            self._stop(replica, "scale_down")
            return
        self._leave(replica)
        replica.state = DRAINING
        self._maybe_stopped(replica)

    def _maybe_stopped(self, replica: SimReplica) -> None:
        queued = replica.station.waiting if replica.station is not None else 0
        if replica.state == DRAINING and replica.busy == 0 and not queued:
            self._stop(replica, "scale_down")

    def _stop(self, replica: SimReplica, reason: str) -> None:
        replica.state = DEAD
        self.replicas.remove(replica)
        self.stopped_seconds += self.env.now - replica.since
        self.world.event("replica_stop", agent=self.name, replica=replica.index, reason=reason)

    def set_away(self, replicas: list[SimReplica], away: bool) -> None:
        """A partial outage: replicas unreachable for new calls (``away``), or back."""
        for replica in replicas:
            if away and replica.state == READY:
                self._leave(replica)
                replica.state = AWAY
            elif not away and replica.state == AWAY:
                replica.state = READY
                self._enter(replica)

    def stop_all(self, reason: str) -> None:
        for replica in list(self.replicas):
            self._stop(replica, reason)
        self.ready = []

    def compute_cost(self, cold_start_usd: float) -> float:
        """Compute cost so far: replica-seconds × price, plus cold starts."""
        now = self.env.now
        seconds = self.stopped_seconds + sum(now - r.since for r in self.replicas)
        return seconds * self.price_per_s + self.cold_starts * cold_start_usd

    def alive(self) -> list[SimReplica]:
        """Replicas that count for the autoscaler: starting, ready or unreachable."""
        return [r for r in self.replicas if r.state in (STARTING, READY, AWAY)]

    # --- load ----------------------------------------------------------------------------

    def queued(self) -> int:
        if self.shared is not None:
            return self.shared.waiting
        return sum(r.station.waiting for r in self.replicas if r.station is not None)

    def busy(self) -> int:
        return sum(r.busy for r in self.replicas)

    # --- serving -----------------------------------------------------------------------

    def _route(self) -> tuple[Station | None, SimReplica | None]:
        if self.shared is not None:
            return self.shared, None
        ready = self.ready
        if not ready:
            return None, None
        if len(ready) == 1:
            replica = ready[0]
        else:
            loads = [r.busy + r.station.waiting for r in ready]  # type: ignore[union-attr]
            ids = [r.index for r in ready]
            assert self.balancer is not None
            replica = ready[self.balancer.pick(ids, loads, self.env.now, self._rng)]
        return replica.station, replica

    def _assign(self) -> SimReplica:
        """The ready replica with the fewest busy slots (shared-queue mode)."""
        best = self.ready[0]
        for replica in self.ready:
            if replica.busy < best.busy:
                best = replica
        return best

    def serve(self, req: Req, deadline: float, attempt: int, fallback: bool,
              endpoint: SimEndpoint | None = None) -> Gen:
        """One attempt of a call to this agent; returns None or an error kind."""
        env = self.env
        start = env.now
        fx = self.effects
        d = decide(fx, self._fault_rng) if fx is not None else None
        if d is not None and d.refuse is not None:
            err = UNAVAILABLE if d.refuse is CutMode.FAIL_FAST else \
                (yield from hang(env, None, deadline))
            self._span(req, -1, attempt, start, 0.0, err, fallback)
            return err
        station, replica = self._route()
        if station is None:
            self._span(req, -1, attempt, start, 0.0, UNAVAILABLE, fallback)
            return UNAVAILABLE
        if station.try_take():  # the common case costs no event and no generator
            queue_s = 0.0
        else:
            err = yield from acquire(env, station, req.prio, deadline)
            queue_s = env.now - start
            if err is not None:
                self._span(req, -1, attempt, start, queue_s, err, fallback)
                return err
        if replica is None:
            replica = self._assign()
        replica.busy += 1
        proc = env.active_process
        replica.inflight[proc] = None  # type: ignore[index]
        try:
            err = yield from self._work(req, deadline, endpoint,
                                        d.error if d is not None else None)
        except simpy.Interrupt:
            err = CRASH
        finally:
            replica.inflight.pop(proc, None)  # type: ignore[arg-type]
        if err == TIMEOUT and req.busy_until > env.now:
            # The caller gave up, but the replica works on until the abandoned work ends:
            # its slot stays taken and stays busy, so utilization and the autoscaler see it.
            generation = replica.generation
            replica.abandoned += 1
            env.timeout(req.busy_until - env.now).callbacks.append(
                lambda _e: self._abandoned_done(replica, station, generation))
        else:
            replica.busy -= 1
            station.release()
            if replica.state == DRAINING:
                self._maybe_stopped(replica)
        if self.balancer is not None and err is None:
            self.balancer.observe(replica.index, env.now - start, env.now)
        self._span(req, replica.index, attempt, start, queue_s, err, fallback)
        return err

    def _abandoned_done(self, replica: SimReplica, station: Station, generation: int) -> None:
        """Abandoned work ends: its slot frees. A crash meanwhile ended it already."""
        station.release()
        if replica.generation == generation and replica.state != DEAD:
            replica.abandoned -= 1
            replica.busy -= 1
            if replica.state == DRAINING:
                self._maybe_stopped(replica)

    def _span(self, req: Req, replica: int, attempt: int, start: float, queue_s: float,
              err: str | None, fallback: bool) -> None:
        self.world.span(req.id, "agent", self.name, ORCHESTRATOR, replica, attempt, start,
                        queue_s, err, fallback)

    def _work(self, req: Req, deadline: float, endpoint: SimEndpoint | None,
              how: ErrorMode | None) -> Gen:
        """The agent's work for one call: service time, LLM calls, tool calls; ``how`` an
        injected failure decided when the call arrived."""
        env = self.env
        fx = self.effects
        if self._has_service or fx is not None:
            service = self._service() if self._has_service else 0.0
            if fx is not None:
                service = fx.latency(service, self._fault_rng)
            if how is ErrorMode.TIMEOUT:
                return (yield from hang(env, None, deadline))
            if env.now + service <= deadline:
                if service > 0:
                    yield env.timeout(service)
            else:
                return (yield from hold(env, None, service, deadline, req, own=True))
            if how is ErrorMode.ERROR:
                return ERROR
        for llm in self.llm:
            for _ in range(max(round(llm.calls()), 0)):
                err = yield from llm.call(req, deadline, endpoint)
                if err is not None:
                    return llm.chain.settle(env.now, deadline, err)
        for tool in self.tools:
            for _ in range(max(round(tool.calls()), 0)):
                err = yield from tool.call(req, deadline)
                if err is not None:
                    return tool.chain.settle(env.now, deadline, err)
        return MALFORMED if how is ErrorMode.MALFORMED else None
