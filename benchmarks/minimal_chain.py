"""A minimal hand-written SimPy model of a scenario's stations: the baseline Squall's
simulator is measured against.

What a careful engineer would write in an afternoon with SimPy alone: one
``simpy.Resource`` per agent (replicas × concurrency slots, fixed) and per LLM endpoint
and tool with a concurrency limit, one process per request walking its workflow's steps
in order (parallel branches as child processes joined with ``AllOf``), service times,
LLM latency (ttft + per-token time × output tokens) and tool latency drawn from the same
distributions. No retries, breakers, fallbacks, autoscaling, faults or records: only the
queueing work every simulator of this system must do.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from harness.demand.arrivals import ArrivalSchedule
from harness.scenario.model import Scenario
from harness.scenario.system import AgentStep, DelegateStep, ParallelStep, Step

Gen = Generator[simpy.Event, Any, Any]


class _Draws:
    """Blocks of pre-drawn samples per distribution (the usual numpy idiom)."""

    def __init__(self, dist: Any, rng: np.random.Generator) -> None:
        self.dist, self.rng = dist, rng
        self.buf: list[float] = []

    def __call__(self) -> float:
        if not self.buf:
            self.buf = self.dist.sample(self.rng, 4096).tolist()
        return self.buf.pop()


def run_minimal(scenario: Scenario, schedule: ArrivalSchedule, seed: int = 0) -> int:
    """Simulate ``schedule`` through fixed-capacity stations; return completed requests."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    system = scenario.system

    def resource(capacity: int | None) -> simpy.Resource | None:
        return simpy.Resource(env, capacity) if capacity else None

    endpoints = {}
    for name, ep in system.endpoints.items():
        first = ep.ttft if ep.ttft is not None else ep.latency
        endpoints[name] = (resource(ep.concurrency), _Draws(first, rng),
                           _Draws(ep.per_token, rng), ep.latency is not None)
    tools = {name: (resource(t.concurrency), _Draws(t.latency, rng))
             for name, t in system.tools.items()}
    agents = {}
    for name, a in system.agents.items():
        agents[name] = (
            simpy.Resource(env, max(1, a.replicas.initial) * a.concurrency),
            _Draws(a.service_time, rng),
            [(c.endpoint, _Draws(c.calls, rng), _Draws(c.output_tokens, rng)) for c in a.llm],
            [(t.tool, _Draws(t.calls, rng)) for t in a.tools],
        )
    done = [0]

    def use(res: simpy.Resource | None, duration: float) -> Gen:
        if res is None:
            yield env.timeout(duration)
            return
        with res.request() as slot:
            yield slot
            yield env.timeout(duration)

    def call_agent(name: str) -> Gen:
        res, service, llms, tool_calls = agents[name]
        with res.request() as slot:
            yield slot
            yield env.timeout(service())
            for endpoint, calls, out in llms:
                ep_res, first, per_token, whole = endpoints[endpoint]
                for _ in range(round(calls())):
                    latency = first() if whole else first() + per_token() * max(out() - 1, 0)
                    yield from use(ep_res, latency)
            for tool, calls in tool_calls:
                tool_res, latency = tools[tool]
                for _ in range(round(calls())):
                    yield from use(tool_res, latency())

    def run_step(step: Step) -> Gen:
        if isinstance(step, AgentStep):
            yield from call_agent(step.agent)
        elif isinstance(step, DelegateStep):
            for sub in system.workflows[step.workflow].steps:
                yield from run_step(sub)
        elif isinstance(step, ParallelStep):
            yield env.all_of([env.process(run_step(b)) for b in step.parallel])

    def request(steps: list[Step]) -> Gen:
        for step in steps:
            yield from run_step(step)
        done[0] += 1

    def arrivals() -> Gen:
        steps = [system.workflows[n].steps for n in schedule.workflows]
        for t, wf in zip(schedule.times.tolist(), schedule.workflow.tolist(), strict=True):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(request(steps[wf]))

    env.process(arrivals())
    env.run()
    return done[0]
