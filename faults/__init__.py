"""Fault specifications and schedules: what can go wrong, and when."""

from faults.active import ActiveFaults, FaultLedger, Undo
from faults.effects import Disturbance, Effects, decide, effects_of
from faults.schedule import Activation, FaultSchedule
from faults.specs import (
    FAULT_KINDS,
    BrownoutFault,
    ColdStartStormFault,
    CommandFault,
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
    ToxicFault,
)

__all__ = [
    "FAULT_KINDS",
    "Activation",
    "ActiveFaults",
    "BrownoutFault",
    "ColdStartStormFault",
    "CommandFault",
    "CrashFault",
    "Disturbance",
    "Effects",
    "ErrorFault",
    "FaultLedger",
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
    "ToxicFault",
    "Undo",
    "decide",
    "effects_of",
]
