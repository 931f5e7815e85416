"""Errors a user can act on.

Bad input never surfaces as a traceback: every check that can fail on user input raises
:class:`InputError` carrying one :class:`Problem` per thing that is wrong, each naming
where it is (file, line, field path) and what is wrong. The CLI prints them and exits 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["InputError", "Problem", "SquallError", "format_path"]

PathItem = str | int


def format_path(path: Sequence[PathItem]) -> str:
    """``('faults', 0, 'at')`` → ``faults[0].at``; the empty path is ``(top level)``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out or "(top level)"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, and where."""

    message: str
    path: tuple[PathItem, ...] = ()
    source: str | None = None  #: file name, ``--set``, or ``None``
    line: int | None = None

    def render(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        field = format_path(self.path) if self.path else ""
        head = ": ".join(part for part in (where, field) if part)
        return f"{head}: {self.message}" if head else self.message


class SquallError(Exception):
    """Base class of Squall's own errors."""


class InputError(SquallError):
    """Invalid input: a scenario, a CLI argument, a trace, a run directory."""

    def __init__(self, problems: Iterable[Problem] | str, *, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems, source=source)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0].render()
        lines = [f"{len(self.problems)} problems:"]
        lines += [f"  - {p.render()}" for p in self.problems]
        return "\n".join(lines)
