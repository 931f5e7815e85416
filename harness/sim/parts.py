"""The simulated system's parts, built from a scenario's ``system`` section: endpoints,
tools and agents (with their initial replicas), by name."""

from __future__ import annotations

from harness.sim.agents import SimAgent
from harness.sim.servers import SimEndpoint, SimTool
from harness.sim.world import World

__all__ = ["Parts"]


class Parts:
    def __init__(self, world: World) -> None:
        system = world.scenario.system
        self.endpoints = {name: SimEndpoint(world, name, spec)
                          for name, spec in system.endpoints.items()}
        self.tools = {name: SimTool(world, name, spec) for name, spec in system.tools.items()}
        self.agents: dict[str, SimAgent] = {}
        for name, spec in system.agents.items():
            agent = self.agents[name] = SimAgent(world, name, spec, self.endpoints, self.tools)
            for _ in range(spec.replicas.initial):
                agent.start_replica()
