"""Giving the fault schedule its effects in the simulator.

Each activation starts at its time and, unless it lasts to the end, is reversed at its
end. Per-call faults (latency, errors, rate-limit storms, outages, brownouts) become the
target's :class:`~faults.effects.Effects` through :class:`~faults.active.ActiveFaults`
(shared with the live engine); capacity faults act on replicas and slots (crash, partial
outage, cold-start storm); partitions cut the traffic between two components.
Overlapping faults on one target compose. Every activation's undo goes into a
:class:`~faults.active.FaultLedger` and restores exactly the state from before it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator
from typing import Any

import simpy

from faults.active import ActiveFaults, FaultLedger, Undo, once
from faults.effects import Effects
from faults.schedule import Activation, FaultSchedule
from faults.specs import (
    ColdStartStormFault,
    CrashFault,
    PartialOutageFault,
    PartitionFault,
    TargetKind,
)
from harness.sim.agents import READY, SimAgent, SimReplica
from harness.sim.parts import Parts
from harness.sim.servers import SimEndpoint, SimTool
from harness.sim.world import World

__all__ = ["FaultInjector"]

Gen = Generator[simpy.Event, Any, Any]


class FaultInjector:
    def __init__(self, world: World, parts: Parts, schedule: FaultSchedule,
                 workflows: tuple[str, ...]) -> None:
        self.world = world
        self.parts = parts
        self.env = world.env
        self.schedule = schedule
        self.workflow_index = {name: i for i, name in enumerate(workflows)}
        self.active = ActiveFaults(self._give_effects)
        self.ledger = FaultLedger()
        self._outages: dict[str, list[float]] = defaultdict(list)  # server → shares lost
        self._rng = world.np_rng("faults/choice")

    def start(self) -> None:
        for act in self.schedule:
            self.env.process(self._run(act))

    # --- the timeline ------------------------------------------------------------------

    def _run(self, act: Activation) -> Gen:
        env, world = self.env, self.world
        if act.start > env.now:
            yield env.timeout(act.start - env.now)
        fault = act.spec
        world.event("fault_start", fault=act.id, kind=act.kind, target=str(act.target))
        if isinstance(fault, CrashFault):
            agent = self.parts.agents[act.target.name]
            victims = self._pick(agent, fault.share(len(agent.alive())))
            for replica in victims:
                if fault.restart_after is None:
                    agent.kill(replica, "crash")  # gone: only the autoscaler replaces it
                else:
                    agent.crash(replica, fault.restart_after, agent.cold_start())
            if fault.restart_after is not None:
                yield env.timeout(fault.restart_after)
                world.event("fault_end", fault=act.id, kind=act.kind, target=str(act.target))
            return
        if isinstance(fault, ColdStartStormFault):
            agent = self.parts.agents[act.target.name]
            for replica in self._pick(agent, fault.share(len(agent.alive()))):
                agent.crash(replica, 0.0, agent.cold_start(fault.cold_start))
            world.event("fault_end", fault=act.id, kind=act.kind, target=str(act.target))
            return
        self.ledger.add(act.id, self._begin(act))
        if act.end is None:
            return
        yield env.timeout(act.end - env.now)
        self.ledger.end(act.id)
        world.event("fault_end", fault=act.id, kind=act.kind, target=str(act.target))

    def _pick(self, agent: SimAgent, count: int) -> list[SimReplica]:
        """``count`` of the agent's live replicas, chosen at random (seeded)."""
        pool = agent.alive()
        if count >= len(pool):
            return list(pool)
        chosen = self._rng.choice(len(pool), size=count, replace=False)
        return [pool[i] for i in sorted(chosen)]

    # --- applying and reverting --------------------------------------------------------

    def _begin(self, act: Activation) -> Undo:
        fault, target = act.spec, act.target
        if isinstance(fault, PartitionFault):
            a, b = (str(side) for side in fault.sides())
            return self.world.links.cut(a, b, fault.mode, fault.probability)
        if isinstance(fault, PartialOutageFault):
            return self._partial(act, fault)
        return self.active.apply(str(target), fault)

    def _give_effects(self, key: str, fx: Effects | None) -> None:
        """``ActiveFaults`` changed the effects on ``key``: hand them to the component."""
        world = self.world
        kind, _, name = key.partition(".")
        if kind == TargetKind.WORKFLOW.value:
            index = self.workflow_index[name]
            if fx is None:
                world.workflow_effects.pop(index, None)
            else:
                world.workflow_effects[index] = fx
            return
        component: SimAgent | SimEndpoint | SimTool
        if kind == TargetKind.AGENT.value:
            component = self.parts.agents[name]
        elif kind == TargetKind.ENDPOINT.value:
            component = self.parts.endpoints[name]
        else:
            component = self.parts.tools[name]
        component.effects = fx
        if isinstance(component, SimEndpoint):
            component.lower_limits(fx.limits if fx is not None else None)

    def _partial(self, act: Activation, fault: PartialOutageFault) -> Undo:
        target = act.target
        if target.kind is TargetKind.AGENT:
            agent = self.parts.agents[target.name]
            ready = [r for r in agent.replicas if r.state == READY]
            away = self._pick_from(ready, fault.share(len(ready)))
            agent.set_away(away, True)
            return once(lambda: agent.set_away(away, False))
        server: SimEndpoint | SimTool = (
            self.parts.endpoints if target.kind is TargetKind.ENDPOINT
            else self.parts.tools)[target.name]
        nominal = server.nominal_capacity()
        lost = fault.share(int(nominal)) / nominal
        shares = self._outages[str(target)]
        shares.append(lost)
        server.set_capacity_share(max(0.0, 1.0 - sum(shares)))

        def undo() -> None:
            shares.remove(lost)
            server.set_capacity_share(max(0.0, 1.0 - sum(shares)))

        return once(undo)

    def _pick_from(self, pool: list[SimReplica], count: int) -> list[SimReplica]:
        if count >= len(pool):
            return list(pool)
        chosen = self._rng.choice(len(pool), size=count, replace=False)
        return [pool[i] for i in sorted(chosen)]
