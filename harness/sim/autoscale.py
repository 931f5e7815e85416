"""The autoscaler loop in the simulator: every interval, the HPA decision, then new
replicas (each through its cold start) or drained ones."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from harness.policies.autoscaler import HpaScaler
from harness.scenario.system import Autoscaler, ScaleMetric
from harness.sim.agents import STARTING, SimAgent

__all__ = ["autoscale", "metric_total"]

Gen = Generator[simpy.Event, Any, Any]


def metric_total(agent: SimAgent, metric: ScaleMetric) -> float:
    """The scaling metric summed over the agent."""
    if metric is ScaleMetric.QUEUE_PER_REPLICA:
        return float(agent.queued())
    if metric is ScaleMetric.UTILIZATION:
        return agent.busy() / agent.concurrency  # busy slots in replica units
    return float(agent.busy() + agent.queued())


def autoscale(agent: SimAgent, spec: Autoscaler) -> Gen:
    env, world = agent.env, agent.world
    replicas = agent.spec.replicas
    scaler = HpaScaler(spec, replicas.lower, replicas.upper)
    while True:
        yield env.timeout(spec.interval)
        alive = agent.alive()
        current = len(alive)
        total = metric_total(agent, spec.metric)
        decision = scaler.decide(env.now, current, total)
        world.event("scale_decision", agent=agent.name, current=current,
                    metric=round(total, 6), raw=decision.raw, desired=decision.desired)
        if decision.desired > current:
            for _ in range(decision.desired - current):
                agent.start_replica(agent.cold_start())
            world.event("scale", agent=agent.name, to=decision.desired, **{"from": current})
        elif decision.desired < current:
            # Like a ReplicaSet: remove replicas still starting first, then the newest.
            order = sorted(alive, key=lambda r: (r.state != STARTING, -r.index))
            for replica in order[: current - decision.desired]:
                agent.drain(replica)
            world.event("scale", agent=agent.name, to=decision.desired, **{"from": current})
