"""The engine seam: what runs a scenario's arrivals against a system and writes records.

Two engines share everything else (scenario, schedule, records, scoring, reports):

- ``sim``: the SimPy discrete-event simulator (:mod:`harness.sim.engine`);
- ``live``: the Locust driver against a running system (:mod:`harness.live.engine`).

An engine is looked up by :class:`Mode` in a registry of lazy factories, so choosing one
imports only it (Locust patches the interpreter at import: it must never load unasked).
A mode with no engine registered is refused as bad input (exit 2), naming what is there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import InputError
from harness.outcomes import RunStatus

if TYPE_CHECKING:
    from harness.demand.arrivals import ArrivalSchedule
    from harness.records.writer import RunWriter
    from harness.scenario.model import Scenario

__all__ = ["Engine", "EngineResult", "Mode", "Progress", "available_modes", "engine_for",
           "register"]

#: ``progress(done_s, total_s)``: how far a run is, in scenario seconds.
Progress = Callable[[float, float], None]


class Mode(StrEnum):
    SIM = "sim"
    LIVE = "live"


@dataclass(frozen=True)
class EngineResult:
    """How a run went, as the engine saw it (the records say the rest)."""

    requests: int  #: arrivals in the schedule
    completed: int  #: requests that ended (ok or not) before the run ended
    dropped: int  #: still unanswered at the end, or never sent
    elapsed_s: float  #: scenario time the engine covered, drain included
    status: RunStatus = RunStatus.COMPLETE  #: aborted by a stop condition, failed …
    meta: dict[str, Any] = field(default_factory=dict)  #: more for run.json


class Engine(Protocol):
    """Runs ``schedule`` against the system ``scenario`` describes, writing every
    request, span, sample and event through ``writer``."""

    mode: Mode

    def run(self, scenario: Scenario, schedule: ArrivalSchedule, writer: RunWriter,
            seed: int, *, progress: Progress | None = None,
            options: Mapping[str, Any] | None = None) -> EngineResult:
        """Run to the end (or raise: ``KeyboardInterrupt`` stops it, records kept).
        ``options`` are the engine's own (a live run's control token, say)."""
        ...


#: Mode → "module:attribute" of a zero-argument engine factory, imported on first use.
_REGISTRY: dict[Mode, str] = {Mode.SIM: "harness.sim.engine:SimEngine",
                              Mode.LIVE: "harness.live.engine:LiveEngine"}
_WHY_NOT: dict[Mode, str] = {}


def register(mode: Mode, factory: str) -> None:
    """Make ``mode`` run with the engine ``factory`` names (``"package.module:Class"``)."""
    _REGISTRY[mode] = factory


def available_modes() -> list[Mode]:
    """The modes that have an engine registered (the conformance suite runs each)."""
    return [mode for mode in Mode if mode in _REGISTRY]


def engine_for(mode: Mode | str) -> Engine:
    """The engine of ``mode``; ``InputError`` if there is none."""
    try:
        mode = Mode(mode)
    except ValueError:
        known = ", ".join(m.value for m in Mode)
        raise InputError(f"no mode {mode!r}; modes: {known}", source="--mode") from None
    target = _REGISTRY.get(mode)
    if target is None:
        raise InputError(_WHY_NOT.get(mode, f"no engine for mode {mode.value!r}"),
                         source="--mode")
    module, _, name = target.partition(":")
    factory: Callable[[], Engine] = getattr(importlib.import_module(module), name)
    return factory()
