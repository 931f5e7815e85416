"""The simulator's entry point: build the world from a scenario, replay the arrival
schedule, apply faults, autoscale, sample the system state, drain, write the records."""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any

import simpy

from faults.schedule import FaultSchedule
from harness.demand.arrivals import PRIORITIES, ArrivalSchedule
from harness.engines import EngineResult, Mode, Progress
from harness.errors import InputError
from harness.outcomes import ErrorKind, Outcome, outcome_of
from harness.policies.breaker import BreakerState
from harness.records.writer import RunWriter
from harness.scenario.model import Scenario
from harness.sim.autoscale import autoscale
from harness.sim.chaos import FaultInjector
from harness.sim.parts import Parts
from harness.sim.runner import Runner
from harness.sim.world import Req, World

__all__ = ["SimEngine", "SimResult", "default_drain", "simulate"]

Gen = Generator[simpy.Event, Any, Any]
PROGRESS_SLICES = 100

_SEVERITY = {None: 0, BreakerState.CLOSED: 1, BreakerState.HALF_OPEN: 2, BreakerState.OPEN: 3}


#: What a simulation returns: the engine seam's result.
SimResult = EngineResult


def default_drain(scenario: Scenario) -> float:
    """How long in-flight requests may finish after the last arrival."""
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
        self.parts = parts = Parts(world)
        self.runner = Runner(world, parts)
        try:
            faults = scenario.simulated_faults()
        except ValueError as exc:
            raise InputError(str(exc), source="faults") from None
        self.faults = FaultInjector(world, parts, FaultSchedule(faults), schedule.workflows)
        self.inflight: dict[int, Req] = {}
        self.completed = 0
        self._request = writer.requests.append
        self._wf_names = schedule.workflows
        self._prio_names = [p.value for p in PRIORITIES]
        self._deadlines = [system.workflows[n].deadline or math.inf for n in schedule.workflows]
        overhead = system.request_overhead
        self._overhead = None if overhead.is_constant and overhead.mean_value() == 0 else \
            world.sampler(overhead, "orchestrator/overhead").draw
        self._drained: simpy.Event | None = None
        # Breakers by what they guard, for the timeseries' worst-state column.
        self._breakers_of: dict[str, list[str]] = {}
        for key in world.breakers:
            guarded = key.split("→")[-1]
            self._breakers_of.setdefault(guarded, []).append(key)

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
        if self._overhead is not None:
            yield self.env.timeout(self._overhead())
        err = yield from self.runner.run_workflow(req, self._wf_names[wf])
        del self.inflight[rid]
        self.completed += 1
        now = self.env.now
        if err is None:
            outcome, kind = Outcome.OK.value, None
        else:
            outcome, kind = outcome_of(ErrorKind(err)).value, err
        self._request((rid, self._wf_names[wf], self._prio_names[prio], t0, t0, now, now - t0,
                       outcome, kind, req.attempts, req.steps, req.fallback, req.tin, req.tout,
                       req.cost, None, None))
        if self._drained is not None and not self.inflight and not self._drained.triggered:
            self._drained.succeed()

    def _breaker_state(self, guarded: str, now: float) -> str | None:
        worst = None
        for key in self._breakers_of.get(guarded, ()):
            state = self.world.breakers[key].peek(now)
            if _SEVERITY[state] > _SEVERITY[worst]:
                worst = state
        return None if worst is None else worst.value

    def sampler(self, step: float) -> Gen:
        env, world = self.env, self.world
        row = world.writer.timeseries.append
        cold_usd = self.scenario.cost.cold_start_usd
        while True:
            t = env.now
            total = 0.0
            for name, agent in self.parts.agents.items():
                cost = agent.compute_cost(cold_usd)
                total += cost
                row((t, "agent", name, len(agent.alive()), len(agent.ready),
                     len(agent.ready) * agent.concurrency, agent.busy(), agent.queued(),
                     self._breaker_state(name, t), cost))
            for kind, servers in (("endpoint", self.parts.endpoints), ("tool", self.parts.tools)):
                for name, server in servers.items():
                    st = server.station
                    cap = -1 if math.isinf(st.capacity) else int(st.capacity)
                    total += server.cost
                    row((t, kind, name, None, None, cap, st.busy, st.waiting,
                         self._breaker_state(name, t), server.cost))
            row((t, "system", "requests", None, None, None, len(self.inflight), 0, None, total))
            world.writer.tick()  # flush at least once a second of wall time
            yield env.timeout(step)

    # --- run ---------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> SimResult:
        env, scenario, world = self.env, self.scenario, self.world
        env.process(self.arrivals())
        env.process(self.sampler(scenario.records.step))
        self.faults.start()
        for name, agent in self.parts.agents.items():
            spec = scenario.system.autoscaler_for(name)
            if spec is not None:
                env.process(autoscale(agent, spec))
        if progress is None:
            env.run(until=scenario.duration)
        else:  # in slices, so a long run can say how far it is (the hot path is unchanged)
            for k in range(1, PROGRESS_SLICES + 1):
                env.run(until=scenario.duration * k / PROGRESS_SLICES)
                progress(env.now, scenario.duration)
        if self.inflight:
            self._drained = env.event()
            limit = env.timeout(default_drain(scenario))
            env.run(until=env.any_of([self._drained, limit]))
        dropped = self._drop_unfinished()
        for agent in self.parts.agents.values():
            agent.stop_all("end")
        world.event("run_end", completed=self.completed, dropped=dropped)
        return SimResult(len(self.schedule), self.completed, dropped, env.now)

    def _drop_unfinished(self) -> int:
        for rid, req in sorted(self.inflight.items()):
            self._request((rid, self._wf_names[req.wf], self._prio_names[req.prio], req.t0,
                           req.t0, None, None, Outcome.DROPPED.value, None, req.attempts,
                           req.steps, req.fallback, req.tin, req.tout, req.cost, None,
                           None))
        return len(self.inflight)


def simulate(scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
             seed: int, progress: Progress | None = None) -> SimResult:
    """Run ``scenario`` over ``schedule``, writing records through ``writer``;
    ``progress(simulated_s, duration_s)`` is called a hundred times along the way."""
    return _Sim(scenario, schedule, writer, seed).run(progress)


class SimEngine:
    """The simulator behind the engine seam (:mod:`harness.engines`)."""

    mode = Mode.SIM

    def run(self, scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
            seed: int, *, progress: Progress | None = None,
            options: Mapping[str, Any] | None = None) -> EngineResult:
        return simulate(scenario, schedule, writer, seed, progress)
