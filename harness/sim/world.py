"""The simulated world: the SimPy environment, seeded randomness and the recorder.

Components (endpoints, tools, agents: :mod:`harness.sim.parts`) and the workflow runner
all share one :class:`World`; nothing in the simulator reads a wall clock or a global
RNG.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import simpy

from faults.effects import Effects, Links
from faults.specs import CutMode
from harness.dists import BlockSampler, DistSpec
from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.records.writer import RunWriter
from harness.rng import stream
from harness.scenario.model import Scenario
from harness.scenario.system import CircuitBreaker as BreakerSpec

__all__ = ["INF", "Req", "World"]

INF = math.inf


class Req:
    """One request in flight: its identity and what it has used so far."""

    __slots__ = (
        "attempts", "busy_until", "cost", "deadline", "fallback", "id", "prio", "retry_after",
        "steps", "t0", "tin", "tout", "wf",
    )

    def __init__(self, rid: int, wf: int, prio: int, t0: float, deadline: float) -> None:
        self.id = rid
        self.wf = wf
        self.prio = prio
        self.t0 = t0
        self.deadline = deadline
        self.attempts = 0
        self.steps = 0
        self.fallback = False
        self.tin = 0
        self.tout = 0
        self.cost = 0.0
        self.busy_until = 0.0  #: when abandoned work started for this request ends
        self.retry_after = 0.0  #: the Retry-After of the last 429 this request received


class World:
    def __init__(self, scenario: Scenario, writer: RunWriter, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.env = simpy.Environment()
        self.writer = writer
        self.spans_on = scenario.records.spans
        self._span = writer.spans.append
        #: Active network partitions (sides as targets: ``agent.a``, ``orchestrator``).
        self.links = Links()
        self.partitions = self.links.active  #: {side, side} → (mode, probability)
        self.breakers: dict[str, CircuitBreaker] = {}
        #: Per-workflow (by schedule index) effects of faults targeting a workflow.
        self.workflow_effects: dict[int, Effects] = {}
        self._cut_rng = self.rng("faults/partition")

    def breaker(self, name: str, spec: BreakerSpec) -> CircuitBreaker:
        """A breaker that logs its transitions as ``breaker`` events; kept by ``name``
        (``orders`` for the orchestrator's calls to an agent, ``orders→large`` for an
        agent's calls to an endpoint) for the timeseries."""

        def listen(now: float, old: BreakerState, new: BreakerState) -> None:
            self.writer.event(now, "breaker", component=name,
                              **{"from": old.value, "to": new.value})

        made = self.breakers[name] = CircuitBreaker(spec, listen)
        return made

    def cut(self, a: str, b: str) -> CutMode | None:
        """How a call from ``a`` to ``b`` fails because of a partition, if it does."""
        return self.links.between(a, b, self._cut_rng)

    # --- randomness --------------------------------------------------------------------

    def sampler(self, dist: DistSpec, name: str) -> BlockSampler:
        """A block sampler on the stream ``name``."""
        return BlockSampler(dist, stream(self.seed, name))

    def np_rng(self, name: str) -> np.random.Generator:
        """A numpy generator on the stream ``name``."""
        return stream(self.seed, name)

    def rng(self, name: str) -> random.Random:
        """A scalar RNG for policies, seeded from the stream ``name``."""
        return random.Random(int(stream(self.seed, name).integers(0, 2**63)))

    # --- records -----------------------------------------------------------------------

    def span(self, rid: int, kind: str, component: str, caller: str, replica: int,
             attempt: int, start: float, queue_s: float, error: str | None, fallback: bool,
             tin: int = 0, tout: int = 0, cost: float = 0.0) -> None:
        if self.spans_on:
            self._span((rid, kind, component, caller, replica, attempt, start, self.env.now,
                        queue_s, error, fallback, tin, tout, cost, None))

    def event(self, type_: str, /, **fields: Any) -> None:
        self.writer.event(self.env.now, type_, **fields)
