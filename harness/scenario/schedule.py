"""The arrival schedule of a scenario: the one both engines replay."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.demand.arrivals import PRIORITIES, ArrivalSchedule, arrival_times, assign_workflows

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["build_schedule"]


def build_schedule(scenario: Scenario, seed: int | None = None) -> ArrivalSchedule:
    """Every arrival of ``scenario`` under ``seed`` (default: the scenario's seed)."""
    seed = scenario.seed if seed is None else seed
    demand = scenario.demand
    curve = demand.build_curve(seed)
    times = arrival_times(
        curve, scenario.duration, demand.arrivals.process, seed,
        smoothness=demand.arrivals.smoothness, replay=demand.replay_times(),
    )
    names = tuple(scenario.system.workflows)
    mix = demand.mix or {}
    weights = [mix.get(n, 0.0) if demand.mix else scenario.system.workflows[n].weight
               for n in names]
    workflow = assign_workflows(len(times), weights, seed)
    ranks = np.array([PRIORITIES.index(scenario.system.workflows[n].priority) for n in names],
                     dtype=np.int8)
    return ArrivalSchedule(times, workflow, ranks[workflow], names, scenario.duration)
