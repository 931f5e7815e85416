"""The events a run records in ``events.jsonl``, and the fields each must carry.

Scoring reads some of them (cost comes from ``replica_start`` / ``replica_stop``, the
fault windows from ``fault_start`` / ``fault_end``), so an engine that writes an event
without its fields is caught where it writes it, not when a figure comes out wrong.
Every event also has ``t_s`` (seconds from the start of the run) and ``type``.
"""

from __future__ import annotations

from collections.abc import Set
from enum import StrEnum

__all__ = ["EVENT_FIELDS", "EventType", "RecordError", "check_event"]


class EventType(StrEnum):
    FAULT_START = "fault_start"
    FAULT_END = "fault_end"
    REPLICA_START = "replica_start"  #: a replica is provisioned (billing starts)
    REPLICA_READY = "replica_ready"  #: it serves (after its cold start)
    REPLICA_CRASH = "replica_crash"  #: it crashed and restarts in place
    REPLICA_STOP = "replica_stop"  #: it is gone (billing stops)
    SCALE = "scale"  #: the autoscaler changed the desired replicas
    SCALE_DECISION = "scale_decision"  #: what the autoscaler computed at a tick
    BREAKER = "breaker"  #: a circuit breaker changed state
    ABORT = "abort"  #: a stop condition fired (a live run)
    COMMAND = "command"  #: a command fault's command ran (a live run): its exit and output
    RUN_END = "run_end"


#: Fields each event type must carry (beyond ``t_s`` and ``type``).
EVENT_FIELDS: dict[EventType, frozenset[str]] = {
    EventType.FAULT_START: frozenset({"fault", "kind", "target"}),
    EventType.FAULT_END: frozenset({"fault", "kind", "target"}),
    EventType.REPLICA_START: frozenset({"agent", "replica", "cold_start_s", "price_per_s"}),
    EventType.REPLICA_READY: frozenset({"agent", "replica"}),
    EventType.REPLICA_CRASH: frozenset({"agent", "replica", "restart_s"}),
    EventType.REPLICA_STOP: frozenset({"agent", "replica", "reason"}),
    EventType.SCALE: frozenset({"agent", "from", "to"}),
    EventType.SCALE_DECISION: frozenset({"agent", "current"}),
    EventType.BREAKER: frozenset({"component", "from", "to"}),
    EventType.ABORT: frozenset({"reason"}),
    EventType.COMMAND: frozenset({"fault", "phase", "exit_code", "output"}),
    EventType.RUN_END: frozenset({"completed", "dropped"}),
}


class RecordError(ValueError):
    """An engine wrote a record that does not fit the schema: a bug, named where it is."""


def check_event(type_: str, fields: Set[str]) -> None:
    """Raise :class:`RecordError` unless ``type_`` is known and carries its fields."""
    try:
        kind = EventType(type_)
    except ValueError:
        raise RecordError(f"unknown event type {type_!r}; types: "
                          f"{', '.join(t.value for t in EventType)}") from None
    lacking = EVENT_FIELDS[kind] - fields
    if lacking:
        raise RecordError(f"event {type_!r} lacks {', '.join(sorted(lacking))}")
