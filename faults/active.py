"""Applying faults and taking them back: the protocol both engines use.

Every activation of a fault returns an :data:`Undo`: calling it restores exactly the
state from before the activation, whatever was applied or removed since on the same
target, and calling it again does nothing. A :class:`FaultLedger` keeps the undos of
everything active so that a run can roll all of it back at once — at the end, on an
abort, on a signal (the live engine must leave the system as it found it).

:class:`ActiveFaults` is the per-call half, shared by both engines: which per-call
faults (latency, errors, rate limits, outages, brownouts) are active on each target,
and their combined :class:`~faults.effects.Effects`. Each change is announced to the
engine (``on_change(target, effects)``), which gives the component its new effects:
the simulator sets an attribute, the live system sends them to the component's process.
Capacity faults (crash, partial outage, cold-start storm) and partitions act on replicas,
slots and links instead; each engine applies those and hands the ledger their undo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faults.effects import Effects, effects_of
from faults.specs import FaultSpecBase

__all__ = ["ActiveFaults", "FaultLedger", "Undo", "once"]

#: Restores the state from before one activation. Idempotent.
Undo = Callable[[], None]


def once(undo: Callable[[], Any]) -> Undo:
    """``undo`` made idempotent: the first call does it, later calls do nothing."""
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            undo()

    return run


class ActiveFaults:
    """Per-call faults active on each target, and their combined effects."""

    def __init__(self, on_change: Callable[[str, Effects | None], None]) -> None:
        self._on_change = on_change
        self._active: dict[str, list[tuple[int, FaultSpecBase]]] = {}
        self._next = 0

    def apply(self, target: str, spec: FaultSpecBase) -> Undo:
        """Activate ``spec`` on ``target`` (``agent.name``, ``endpoint.name`` …)."""
        key = self._next
        self._next += 1
        self._active.setdefault(target, []).append((key, spec))
        self._announce(target)

        def undo() -> None:
            active = self._active.get(target, [])
            self._active[target] = [(k, s) for k, s in active if k != key]
            if not self._active[target]:
                del self._active[target]
            self._announce(target)

        return once(undo)

    def specs(self, target: str) -> list[FaultSpecBase]:
        """The faults active on ``target``, in the order they were applied."""
        return [spec for _, spec in self._active.get(target, [])]

    def effects(self, target: str) -> Effects | None:
        return effects_of(self.specs(target))

    def targets(self) -> list[str]:
        return sorted(self._active)

    def _announce(self, target: str) -> None:
        self._on_change(target, self.effects(target))


class FaultLedger:
    """The undos of every fault activation still in effect, by activation id."""

    def __init__(self) -> None:
        self._undos: dict[str, Undo] = {}

    def add(self, activation: str, undo: Undo) -> None:
        if activation in self._undos:
            raise ValueError(f"fault activation {activation!r} is already in effect")
        self._undos[activation] = undo

    def end(self, activation: str) -> bool:
        """Undo one activation; False if it was not in effect."""
        undo = self._undos.pop(activation, None)
        if undo is None:
            return False
        undo()
        return True

    def rollback(self) -> list[str]:
        """Undo everything still in effect, newest first; the activations undone."""
        undone = []
        while self._undos:
            activation, undo = self._undos.popitem()
            undo()
            undone.append(activation)
        return undone

    def __contains__(self, activation: object) -> bool:
        return activation in self._undos

    def __len__(self) -> int:
        return len(self._undos)
