"""Fault specifications and schedules: what can go wrong, and when."""

from faults.effects import Effects, effects_of
from faults.schedule import Activation, FaultSchedule
from faults.specs import (
    FAULT_KINDS,
    BrownoutFault,
    ColdStartStormFault,
    CrashFault,
    ErrorFault,
    FaultSpec,
    FaultSpecBase,
    LatencyFault,
    OutageFault,
    PartialOutageFault,
    PartitionFault,
    RateLimitFault,
    Target,
    TargetKind,
)

__all__ = [
    "FAULT_KINDS",
    "Activation",
    "BrownoutFault",
    "ColdStartStormFault",
    "CrashFault",
    "Effects",
    "ErrorFault",
    "FaultSchedule",
    "FaultSpec",
    "FaultSpecBase",
    "LatencyFault",
    "OutageFault",
    "PartialOutageFault",
    "PartitionFault",
    "RateLimitFault",
    "Target",
    "TargetKind",
    "effects_of",
]
