"""When each fault is active: the timeline both engines apply and the scorer reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from faults.specs import CrashFault, FaultSpecBase, Target

__all__ = ["Activation", "FaultSchedule"]


@dataclass(frozen=True)
class Activation:
    """One fault's window. ``end`` is None for a fault that lasts to the end of the run;
    an instantaneous fault (a crash without restart, a cold-start storm) has
    ``instant`` set and ``end`` equal to its start or its restart."""

    id: str
    kind: str
    target: Target
    start: float
    end: float | None
    instant: bool
    spec: FaultSpecBase

    def end_or(self, run_end: float) -> float:
        return run_end if self.end is None else min(self.end, run_end)


class FaultSchedule:
    """Faults in start order."""

    def __init__(self, faults: Sequence[FaultSpecBase]) -> None:
        acts = []
        for fault in faults:
            if isinstance(fault, CrashFault):
                end = None if fault.restart_after is None else fault.at + fault.restart_after
                instant = True
            elif not type(fault).uses_duration:
                end, instant = fault.at, True
            else:
                end, instant = fault.end, False
            acts.append(Activation(fault.id or fault.kind_name(), fault.kind_name(),
                                   fault.parsed_target, fault.at, end, instant, fault))
        self.activations = sorted(acts, key=lambda a: (a.start, a.id))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.activations)

    def __len__(self) -> int:
        return len(self.activations)

    def by_id(self, fault_id: str) -> Activation:
        for act in self.activations:
            if act.id == fault_id:
                return act
        raise KeyError(fault_id)
