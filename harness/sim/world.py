"""The simulated world: the SimPy environment, seeded randomness and the recorder.

Components (endpoints, tools, agents) and the workflow runner all hang off one
:class:`World`; nothing in the simulator reads a wall clock or a global RNG.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import simpy

from harness.dists import BlockSampler, DistSpec
from harness.records.writer import RunWriter
from harness.rng import stream

if TYPE_CHECKING:
    from harness.scenario.model import Scenario
    from harness.sim.agents import SimAgent
    from harness.sim.servers import SimEndpoint, SimTool

__all__ = ["INF", "Req", "World"]

INF = math.inf


class Req:
    """One request in flight: its identity and what it has used so far."""

    __slots__ = (
        "attempts", "busy_until", "cost", "deadline", "fallback", "id", "prio", "steps", "t0",
        "tin", "tout", "wf",
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


class World:
    def __init__(self, scenario: Scenario, writer: RunWriter, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.env = simpy.Environment()
        self.writer = writer
        self.spans_on = scenario.records.spans
        self._span = writer.spans.append
        self.endpoints: dict[str, SimEndpoint] = {}
        self.tools: dict[str, SimTool] = {}
        self.agents: dict[str, SimAgent] = {}

    # --- randomness --------------------------------------------------------------------

    def sampler(self, dist: DistSpec, name: str) -> BlockSampler:
        """A block sampler on the stream ``name``."""
        return BlockSampler(dist, stream(self.seed, name))

    def rng(self, name: str) -> random.Random:
        """A scalar RNG for policies, seeded from the stream ``name``."""
        return random.Random(int(stream(self.seed, name).integers(0, 2**63)))

    # --- records -----------------------------------------------------------------------

    def span(self, rid: int, kind: str, component: str, replica: int, attempt: int,
             start: float, queue_s: float, error: str | None, fallback: bool,
             tin: int = 0, tout: int = 0, cost: float = 0.0) -> None:
        if self.spans_on:
            self._span((rid, kind, component, replica, attempt, start, self.env.now, queue_s,
                        error, fallback, tin, tout, cost))

    def event(self, kind: str, **fields: Any) -> None:
        self.writer.event(self.env.now, kind, **fields)
