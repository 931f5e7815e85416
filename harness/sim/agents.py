"""Agents: replicas that each serve ``concurrency`` calls, fed by a shared queue or by a
load balancer with a queue per replica.

An agent's work per call is its service time, then its LLM calls, then its tool calls;
the replica's slot is held throughout (the agent waits on its LLM like a real worker).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from harness.outcomes import ErrorKind
from harness.policies.balancers import make_balancer
from harness.scenario.system import Agent, LlmCall, ToolCall
from harness.sim.servers import SimEndpoint, SimTool, acquire, hold
from harness.sim.station import Station
from harness.sim.world import Req, World

__all__ = ["SimAgent", "SimReplica"]

Gen = Generator[simpy.Event, Any, Any]

UNAVAILABLE = ErrorKind.UNAVAILABLE.value
CRASH = ErrorKind.CRASH.value
TIMEOUT = ErrorKind.TIMEOUT.value

STARTING, READY, DRAINING, DEAD = "starting", "ready", "draining", "dead"


class SimReplica:
    __slots__ = ("busy", "index", "inflight", "since", "state", "station")

    def __init__(self, index: int, station: Station | None, now: float) -> None:
        self.index = index
        self.state = STARTING
        self.busy = 0
        self.station = station  #: its own queue (push balancers); None with a shared queue
        self.inflight: dict[simpy.Process, None] = {}
        self.since = now


class _Llm:
    """An agent's LLM call spec, bound to its endpoint and samplers."""

    def __init__(self, world: World, agent: str, i: int, spec: LlmCall) -> None:
        self.spec = spec
        self.endpoint: SimEndpoint = world.endpoints[spec.endpoint]
        key = f"agent/{agent}/llm{i}"
        self.calls = world.sampler(spec.calls, f"{key}/calls").draw
        self.tin = world.sampler(spec.input_tokens, f"{key}/in").draw
        self.tout = world.sampler(spec.output_tokens, f"{key}/out").draw
        self.timeout = spec.timeout or math.inf


class _Tool:
    def __init__(self, world: World, agent: str, i: int, spec: ToolCall) -> None:
        self.spec = spec
        self.tool: SimTool = world.tools[spec.tool]
        self.calls = world.sampler(spec.calls, f"agent/{agent}/tool{i}/calls").draw
        self.timeout = spec.timeout or math.inf


class SimAgent:
    def __init__(self, world: World, name: str, spec: Agent) -> None:
        self.world, self.name, self.spec = world, name, spec
        self.env = world.env
        self.concurrency = spec.concurrency
        self.balancer = make_balancer(spec.balancer)
        self.shared = Station(self.env, 0, spec.queue_limit) if self.balancer is None else None
        self.replicas: list[SimReplica] = []  #: every replica not dead
        self.ready: list[SimReplica] = []  #: replicas taking new calls
        self._next_index = 0
        self._service = world.sampler(spec.service_time, f"agent/{name}/service").draw
        self._has_service = not (spec.service_time.is_constant
                                 and spec.service_time.mean_value() == 0)
        self._rng = world.rng(f"agent/{name}/balance")
        self.llm = [_Llm(world, name, i, c) for i, c in enumerate(spec.llm)]
        self.tools = [_Tool(world, name, i, t) for i, t in enumerate(spec.tools)]
        self.timeout = spec.timeout or math.inf
        price = spec.compute_price_per_s
        self.price_per_s = world.scenario.cost.compute_price_per_s if price is None else price

    # --- replicas ----------------------------------------------------------------------

    def start_replica(self, cold_start: float = 0.0) -> SimReplica:
        station = None if self.shared is not None else \
            Station(self.env, self.concurrency, self.spec.queue_limit)
        replica = SimReplica(self._next_index, station, self.env.now)
        self._next_index += 1
        self.replicas.append(replica)
        self.world.event("replica_start", agent=self.name, replica=replica.index,
                         cold_start_s=cold_start, price_per_s=self.price_per_s)
        if cold_start > 0:
            self.env.timeout(cold_start).callbacks.append(lambda _e: self._ready(replica))
        else:
            self._ready(replica)
        return replica

    def _ready(self, replica: SimReplica) -> None:
        if replica.state != STARTING:
            return
        replica.state = READY
        self.ready.append(replica)
        if self.shared is not None:
            self.shared.set_capacity(self.shared.capacity + self.concurrency)
        self.world.event("replica_ready", agent=self.name, replica=replica.index)

    def stop_all(self, reason: str) -> None:
        for replica in self.replicas:
            self.world.event("replica_stop", agent=self.name, replica=replica.index,
                             reason=reason)
            replica.state = DEAD
        self.replicas, self.ready = [], []

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

    def serve(self, req: Req, deadline: float, attempt: int, fallback: bool) -> Gen:
        """One attempt of a call to this agent; returns None or an error kind."""
        env, world = self.env, self.world
        start = env.now
        station, replica = self._route()
        if station is None:
            world.span(req.id, "agent", self.name, -1, attempt, start, 0.0, UNAVAILABLE,
                       fallback)
            return UNAVAILABLE
        err = yield from acquire(env, station, req.prio, deadline)
        queue_s = env.now - start
        if err is not None:
            world.span(req.id, "agent", self.name, -1, attempt, start, queue_s, err, fallback)
            return err
        if replica is None:
            replica = self._assign()
        replica.busy += 1
        proc = env.active_process
        replica.inflight[proc] = None  # type: ignore[index]
        try:
            err = yield from self._work(req, deadline)
        except simpy.Interrupt:
            err = CRASH
        finally:
            replica.busy -= 1
            replica.inflight.pop(proc, None)  # type: ignore[arg-type]
        if err == TIMEOUT and req.busy_until > env.now:
            station.release_at(req.busy_until)
        else:
            station.release()
        if self.balancer is not None and err is None:
            self.balancer.observe(replica.index, env.now - start, env.now)
        world.span(req.id, "agent", self.name, replica.index, attempt, start, queue_s, err,
                   fallback)
        return err

    def _work(self, req: Req, deadline: float) -> Gen:
        env = self.env
        if self._has_service:
            err = yield from hold(env, None, self._service(), deadline, req)
            if err is not None:
                return err
        for llm in self.llm:
            for _ in range(max(round(llm.calls()), 0)):
                tin = max(round(llm.tin()), 0)
                tout = max(round(llm.tout()), 1)
                limit = min(deadline, env.now + llm.timeout)
                err = yield from llm.endpoint.call(req, tin, tout, limit, 1, False)
                if err is not None:
                    return err
        for tool in self.tools:
            for _ in range(max(round(tool.calls()), 0)):
                limit = min(deadline, env.now + tool.timeout)
                err = yield from tool.tool.call(req, limit, 1)
                if err is not None:
                    return err
        return None
