"""How a request or a call ended: the vocabulary shared by both engines, records and
scores."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OUTCOMES", "ErrorKind", "Outcome", "RunStatus", "outcome_of"]


class Outcome(StrEnum):
    """How one arrival ended. Every arrival gets exactly one."""

    OK = "ok"
    ERROR = "error"  #: failed with an error
    TIMEOUT = "timeout"  #: a timeout or the workflow deadline expired
    REJECTED = "rejected"  #: refused by the system (load shedding, rate limit, open breaker)
    DROPPED = "dropped"  #: never sent, or still unanswered when the run ended


#: The outcomes in their fixed order (record tables and charts use it).
OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)


class RunStatus(StrEnum):
    """How a run ended, as ``run.json`` records it. Only a ``complete`` run can pass."""

    RUNNING = "running"  #: still going, or the process died (SIGKILL, power loss)
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"  #: SIGINT or SIGTERM: stopped early, records kept
    FAILED = "failed"  #: an error inside Squall stopped it
    ABORTED = "aborted"  #: a stop condition fired


class ErrorKind(StrEnum):
    """Why a call failed. Retry policies name these in ``on:``."""

    ERROR = "error"  #: a 5xx or an exception in the callee
    TIMEOUT = "timeout"  #: the caller's timeout expired
    RATE_LIMITED = "rate_limited"  #: a 429
    OVERLOADED = "overloaded"  #: a queue limit shed the call (503)
    CIRCUIT_OPEN = "circuit_open"  #: short-circuited by an open breaker
    UNAVAILABLE = "unavailable"  #: no live replica / outage (connection refused)
    CRASH = "crash"  #: the replica died while serving the call (connection reset)
    MALFORMED = "malformed"  #: a response that could not be used
    PARTITION = "partition"  #: the network between caller and callee is cut
    DEADLINE = "deadline"  #: the workflow's deadline expired
    TRUNCATED = "truncated"  #: a streamed answer broke off before its end
    UNEXPECTED = "unexpected"  #: an answer that failed the target's success criteria


_OUTCOME = {
    ErrorKind.TIMEOUT: Outcome.TIMEOUT,
    ErrorKind.DEADLINE: Outcome.TIMEOUT,
    ErrorKind.RATE_LIMITED: Outcome.REJECTED,
    ErrorKind.OVERLOADED: Outcome.REJECTED,
    ErrorKind.CIRCUIT_OPEN: Outcome.REJECTED,
}


def outcome_of(kind: ErrorKind) -> Outcome:
    """The request outcome for a request that failed with ``kind``."""
    return _OUTCOME.get(kind, Outcome.ERROR)
