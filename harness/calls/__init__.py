"""How a call and a workflow behave, written once for both engines.

Nothing here does I/O or reads a clock: the state machines say what to do next (attempt,
sleep, fall back, give up, record a refused call), and an engine drives them with its
own clock and its own way of waiting — SimPy's events in the simulator, asyncio in the
live system. Both engines therefore share every rule that decides an outcome: the
per-attempt timeout capped by the deadline, breaker permission and reporting, retries
with Retry-After as a floor, never sleeping past the deadline, fallback traversal,
priority routing, and workflow execution (sequence, parallel joins, optional steps,
delegation, workflow retries with checkpoints).
"""

from harness.calls.attempts import (
    ATTEMPT,
    DONE,
    REFUSED,
    SLEEP,
    Call,
    Chain,
    Target,
    retry_delay,
    route,
)
from harness.calls.workflow import Fork, Join, Sleep, WorkflowPlan, workflow

__all__ = [
    "ATTEMPT",
    "DONE",
    "REFUSED",
    "SLEEP",
    "Call",
    "Chain",
    "Fork",
    "Join",
    "Sleep",
    "Target",
    "WorkflowPlan",
    "retry_delay",
    "route",
    "workflow",
]
