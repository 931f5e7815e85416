"""What the live engine needs from a system under test (the adapter protocol).

A target says where workflow requests go and how, reads a response into a request's
record (and its spans, when the system reports a trace), applies and removes faults
under leases through the system's control API, and samples the system's state for the
timeseries. The reference agent system's adapter is in :mod:`sut_adapters.reference`;
adapters for other systems implement the same protocol.

Targets are found by name in a registry of lazy factories, as engines are, so the core
never imports the systems under test.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import InputError, Problem
from harness.outcomes import ErrorKind

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["Answer", "Request", "Target", "TargetError", "fault_problems", "open_target",
           "register_target", "seconds", "transport_kind"]

#: A span row without its request id, as :data:`harness.records.schema.SPANS` orders it.
SpanRow = tuple[Any, ...]


#: What the driver's transport failures mean, as the simulator names them.
_TRANSPORT = {"refused": ErrorKind.UNAVAILABLE.value, "reset": ErrorKind.CRASH.value,
              "timeout": ErrorKind.TIMEOUT.value}


def transport_kind(transport: str | None) -> str:
    """The error kind of a request that got no response (``transport`` says why)."""
    return _TRANSPORT.get(transport or "", ErrorKind.ERROR.value)


def seconds(value: Any, k: float = 1.0) -> float | None:
    """A time a system's answer gives (a finite, non-negative number), × ``k`` (a run's
    time scale); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value < 0:
        return None
    return float(value) * k


class TargetError(Exception):
    """The system under test failed to do what the engine asked (start, apply a fault…)."""


@dataclass(frozen=True)
class Request:
    """How the driver sends one workflow request."""

    paths: list[str]  #: per workflow (in the schedule's order): the path to send to
    #: ``%``-templates with ``id``, ``priority`` and ``workflow``, one per payload sample
    #: (each request picks one, seeded)
    bodies: list[str]
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    stream: bool = False  #: read the body line by line, marking when each line came
    timeout_s: float | None = None  #: wall seconds a request may take (None: the run's)


@dataclass
class Answer:
    """What one response says about its request (records in scenario seconds)."""

    error: str | None = None  #: an :class:`~harness.outcomes.ErrorKind` value, or None
    attempts: int = 0
    steps: int = 0
    fallback: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    ttft_s: float | None = None  #: time to first token, scenario seconds (streaming)
    itl_s: float | None = None  #: inter-token latency, scenario seconds (streaming)
    spans: list[SpanRow] = field(default_factory=list)
    #: events the system saw while serving it (a breaker's transition): (t in scenario
    #: seconds, type, fields), written as the simulator writes them
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)


class Target(Protocol):
    """A running system under test."""

    url: str  #: where the driver sends workflow requests

    def request(self, workflows: Sequence[str]) -> Request: ...

    def answer(self, status: int, body: bytes | None, transport: str | None,
               t0: float, k: float, *, sent: float | None = None,
               marks: list[tuple[int, float]] | None = None) -> Answer:
        """Read a response (``status`` 0: none, ``transport`` says why; a status with a
        ``transport`` error: the body broke off). A time ``t`` on the monotonic clock is
        ``(t - t0) * k`` in scenario seconds; ``sent`` is when the request went out, and
        ``marks`` (streamed requests) say when the body had grown to so many bytes."""
        ...

    def begin(self, t0: float) -> None:
        """The run's t = 0 on ``time.monotonic()`` (just ahead of the first arrival): a
        system that keeps time of its own aligns to it (the reference supervisor's
        autoscaler ticks from it, as the simulator's does from 0)."""
        ...

    def apply(self, fault_id: str, target: str, fault: dict[str, Any],
              lease_s: float) -> None: ...

    def renew(self, fault_id: str, lease_s: float) -> None: ...

    def remove(self, fault_id: str) -> None: ...

    def remove_all(self) -> None:
        """Roll back every fault this run applied (safe to call twice)."""
        ...

    def sample(self) -> tuple[list[tuple[Any, ...]],
                              list[tuple[float | None, str, dict[str, Any]]]]:
        """Timeseries rows without their time (:data:`~harness.records.schema.TIMESERIES`),
        and the events since the last sample: (time on the system's clock, which is
        ``time.monotonic()`` on this machine, or None for the state the run starts from,
        written at t = 0; type; fields)."""
        ...

    def close(self) -> None:
        """Let go of the system (stop it, if the target started it)."""
        ...


#: Name → "module:attribute" of ``factory(scenario, url=None, token=None, time_scale=1)
#: -> Target``, and of ``cannot_apply(scenario, fault) -> str | None`` (why the target
#: cannot apply that fault live, or None). Both modules are imported only when used.
_TARGETS: dict[str, tuple[str, str]] = {
    "reference": ("sut_adapters.reference.adapter:open_reference",
                  "sut_adapters.reference.adapter:cannot_apply"),
    "http": ("sut_adapters.http:open_http", "sut_adapters.external:cannot_apply"),
    "openai": ("sut_adapters.openai:open_openai", "sut_adapters.external:cannot_apply"),
}


def register_target(name: str, factory: str, cannot_apply: str) -> None:
    """Add an adapter: both as ``"module:attribute"`` (see :data:`_TARGETS`)."""
    _TARGETS[name] = (factory, cannot_apply)


def _attribute(name: str, which: int) -> Callable[..., Any]:
    entry = _TARGETS.get(name)
    if entry is None:
        raise InputError(f"no target adapter {name!r}; there are: {', '.join(sorted(_TARGETS))}",
                         source="target.adapter")
    module, _, attr = entry[which].partition(":")
    try:
        found: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise InputError(f"the {name} target needs a package that is not installed "
                         f"({exc.name}): pip install 'squall[live]'", source="--mode live") \
            from None
    return found


def open_target(name: str, scenario: Scenario, **options: Any) -> Target:
    """Start (no ``url``) or attach to (``url``) the target ``name`` for ``scenario``."""
    factory: Callable[..., Target] = _attribute(name, 0)
    return factory(scenario, **options)


def fault_problems(scenario: Scenario) -> list[Problem]:
    """One problem per fault the scenario's target cannot apply in a live run."""
    cannot = _attribute(scenario.target.adapter, 1)
    out = []
    for i, fault in enumerate(scenario.fault_list):
        why = cannot(scenario, fault)
        if why is not None:
            out.append(Problem(f"fault {fault.id!r} ({fault.kind_name()} on "
                               f"{fault.target or ' and '.join(getattr(fault, 'between', []))}"
                               f"): {why}", ("faults", i)))
    return out
