"""The simulator's entry point: build the world from a scenario, replay the arrival
schedule, sample the system state, drain, and write the records."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from harness.demand.arrivals import PRIORITIES, ArrivalSchedule
from harness.outcomes import ErrorKind, Outcome, outcome_of
from harness.records.writer import RunWriter
from harness.scenario.model import Scenario
from harness.sim.agents import SimAgent
from harness.sim.runner import Runner
from harness.sim.servers import SimEndpoint, SimTool
from harness.sim.world import Req, World

__all__ = ["SimResult", "simulate"]

Gen = Generator[simpy.Event, Any, Any]


@dataclass(frozen=True)
class SimResult:
    requests: int
    completed: int
    dropped: int
    events: int  #: SimPy events processed (a measure of work)
    sim_time: float


def default_drain(scenario: Scenario) -> float:
    if scenario.records.drain is not None:
        return scenario.records.drain
    return max(30.0, 3 * scenario.sla.objective)


class _Sim:
    def __init__(self, scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
                 seed: int) -> None:
        self.scenario = scenario
        self.schedule = schedule
        self.world = world = World(scenario, writer, seed)
        self.env = world.env
        system = scenario.system
        for name, spec in system.endpoints.items():
            world.endpoints[name] = SimEndpoint(world, name, spec)
        for name, tspec in system.tools.items():
            world.tools[name] = SimTool(world, name, tspec)
        for name, aspec in system.agents.items():
            agent = SimAgent(world, name, aspec)
            world.agents[name] = agent
            for _ in range(aspec.replicas.initial):
                agent.start_replica()
        self.runner = Runner(world)
        self.inflight: dict[int, Req] = {}
        self.completed = 0
        self._request = writer.requests.append
        self._wf_names = schedule.workflows
        self._prio_names = [p.value for p in PRIORITIES]
        self._deadlines = [system.workflows[n].deadline or math.inf for n in schedule.workflows]
        self._steps = [system.workflows[n].steps for n in schedule.workflows]
        self._drained: simpy.Event | None = None

    # --- processes ---------------------------------------------------------------------

    def arrivals(self) -> Gen:
        env = self.env
        times = self.schedule.times.tolist()
        wfs = self.schedule.workflow.tolist()
        prios = self.schedule.priority.tolist()
        request = self.request
        for rid, t in enumerate(times):
            delay = t - env.now
            if delay > 0:
                yield env.timeout(delay)
            env.process(request(rid, wfs[rid], prios[rid], t))

    def request(self, rid: int, wf: int, prio: int, t0: float) -> Gen:
        req = Req(rid, wf, prio, t0, t0 + self._deadlines[wf])
        self.inflight[rid] = req
        err = yield from self.runner.run_steps(req, self._steps[wf])
        del self.inflight[rid]
        self.completed += 1
        now = self.env.now
        if err is None:
            outcome, kind = Outcome.OK.value, None
        else:
            outcome, kind = outcome_of(ErrorKind(err)).value, err
        self._request((rid, self._wf_names[wf], self._prio_names[prio], t0, t0, now, now - t0,
                       outcome, kind, req.attempts, req.steps, req.fallback, req.tin, req.tout,
                       req.cost, None))
        if self._drained is not None and not self.inflight and not self._drained.triggered:
            self._drained.succeed()

    def sampler(self, step: float) -> Gen:
        env, world = self.env, self.world
        row = world.writer.timeseries.append
        while True:
            t = env.now
            for name, agent in world.agents.items():
                slots = agent.shared if agent.shared is not None else None
                queue = slots.waiting if slots is not None else sum(
                    r.station.waiting for r in agent.ready if r.station is not None)
                busy = sum(r.busy for r in agent.replicas)
                row((t, "agent", name, len(agent.replicas), len(agent.ready),
                     len(agent.ready) * agent.concurrency, busy, queue, None,
                     self._compute_cost(agent, t)))
            for name, endpoint in world.endpoints.items():
                st = endpoint.station
                cap = -1 if math.isinf(st.capacity) else int(st.capacity)
                row((t, "endpoint", name, None, None, cap, st.busy, st.waiting, None,
                     endpoint.cost))
            for name, tool in world.tools.items():
                st = tool.station
                cap = -1 if math.isinf(st.capacity) else int(st.capacity)
                row((t, "tool", name, None, None, cap, st.busy, st.waiting, None, tool.cost))
            yield env.timeout(step)

    def _compute_cost(self, agent: SimAgent, t: float) -> float:
        return sum(t - r.since for r in agent.replicas) * agent.price_per_s

    # --- run ---------------------------------------------------------------------------

    def run(self) -> SimResult:
        env, scenario = self.env, self.scenario
        env.process(self.arrivals())
        env.process(self.sampler(scenario.records.step))
        env.run(until=scenario.duration)
        if self.inflight:
            self._drained = env.event()
            limit = env.timeout(default_drain(scenario))
            env.run(until=env.any_of([self._drained, limit]))
        dropped = self._drop_unfinished()
        for agent in self.world.agents.values():
            agent.stop_all("end")
        self.world.event("run_end", completed=self.completed, dropped=dropped)
        return SimResult(len(self.schedule), self.completed, dropped, 0, env.now)

    def _drop_unfinished(self) -> int:
        for rid, req in sorted(self.inflight.items()):
            self._request((rid, self._wf_names[req.wf], self._prio_names[req.prio], req.t0,
                           req.t0, None, None, Outcome.DROPPED.value, None, req.attempts,
                           req.steps, req.fallback, req.tin, req.tout, req.cost, None))
        return len(self.inflight)


def simulate(scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
             seed: int) -> SimResult:
    """Run ``scenario`` over ``schedule``, writing records through ``writer``."""
    return _Sim(scenario, schedule, writer, seed).run()
