"""Fallback chains: which alternative serves a call after the primary failed.

Like LiteLLM's router: alternatives are tried in order, skipping any that is cooling
down (its breaker refuses calls right now).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

__all__ = ["FallbackChain"]


class FallbackChain:
    __slots__ = ("names",)

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def candidates(self, now: float, available: Callable[[str, float], bool]) -> Iterator[str]:
        """Alternatives in order, skipping those not ``available`` at ``now``."""
        for name in self.names:
            if available(name, now):
                yield name

    def __bool__(self) -> bool:
        return bool(self.names)
