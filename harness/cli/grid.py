"""Sweep parameters and the grid of points they span (light: no heavy imports, so the
CLI can start worker processes before it loads the simulator).

``--param PATH=VALUES`` names a field (as ``--set`` does) and its values: ``8,12,16``,
an integer range ``2..10`` or a stepped range ``0.5..2:0.5``; values may be YAML flow
(``{constant: 5},{constant: 10}``).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_VALUES", "Param", "count", "parse_param", "points"]

_RANGE = re.compile(r"^\s*(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)\s*(?::\s*([\d.]+))?\s*$")


@dataclass(frozen=True)
class Param:
    path: str
    values: tuple[str, ...]


def _split(text: str) -> list[str]:
    """Split on commas outside brackets and braces."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return [p for p in parts if p]


#: Values one parameter may take.
MAX_VALUES = 1000


def _range(match: re.Match[str]) -> list[str]:
    """The values of a range, counted before any is made (``1..1e9`` must not fill
    memory on its way to being refused)."""
    lo, hi, step = match[1], match[2], match[3]
    try:
        start, stop, size = float(lo), float(hi), float(step or 1)
    except ValueError:
        raise ValueError(f"cannot read the range {match[0].strip()!r}") from None
    if size <= 0:
        return []
    n = max(math.floor((stop - start) / size + 1e-9) + 1, 0)
    if n > MAX_VALUES:
        raise ValueError(f"{n:,} values: a parameter takes at most {MAX_VALUES}")
    if step is None and "." not in lo + hi:
        return [str(v) for v in range(int(lo), int(hi) + 1)]
    return [f"{start + i * size:g}" for i in range(n)]


def parse_param(text: str) -> Param:
    """``PATH=VALUES`` → a :class:`Param`; ``ValueError`` says what is wrong."""
    path, eq, raw = text.partition("=")
    if not eq or not path.strip() or not raw.strip():
        raise ValueError("expected PATH=VALUES, e.g. system.agents.orders.replicas.max=4,8,16")
    match = _RANGE.match(raw)
    values = _range(match) if match else _split(raw)
    if not values:
        raise ValueError(f"no values in {raw!r}")
    if len(values) > MAX_VALUES:
        raise ValueError(f"{len(values)} values: a parameter takes at most {MAX_VALUES}")
    return Param(path.strip(), tuple(values))


def count(params: Sequence[Param], samples: int | None = None) -> int:
    """How many points :func:`points` would make, without making them."""
    total = math.prod(len(p.values) for p in params)
    return total if samples is None else min(samples, total)


def points(params: Sequence[Param], samples: int | None = None, seed: int = 0
           ) -> list[dict[str, str]]:
    """The full grid, or ``samples`` points drawn at random from it (without repeats)."""
    sizes = [len(p.values) for p in params]
    total = math.prod(sizes)
    if samples is None:
        return [dict(zip([p.path for p in params], combo, strict=True))
                for combo in itertools.product(*[p.values for p in params])]
    chosen = random.Random(seed).sample(range(total), min(samples, total))
    out = []
    for flat in sorted(chosen):
        combo, rest = {}, flat
        for p, size in zip(reversed(params), reversed(sizes), strict=True):
            rest, i = divmod(rest, size)
            combo[p.path] = p.values[i]
        out.append({p.path: combo[p.path] for p in params})
    return out
