"""Demand traces from CSV files: a rate per timestamp, or one row per arrival.

A rate trace has a time column and a rate column; an arrival trace has a time column.
Times are seconds from the start (``12.5``), durations (``2m``) or ISO 8601 timestamps
(made relative to the first row). A header row is optional; columns are found by name (``time``,
``rate`` by default) or by position. Every bad row is reported with its line number.

``compress`` divides every timestamp: ``compress: 24`` replays a day in an hour. A rate
trace keeps its rate level (the shape is compressed); an arrival trace keeps its
arrivals, so its rate rises ``compress`` times.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from harness.demand.curves import Curve
from harness.errors import InputError, Problem
from harness.units import parse_duration

__all__ = ["ArrivalTrace", "RateTrace", "load_arrival_trace", "load_rate_trace"]

_MAX_PROBLEMS = 20


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


@dataclass(frozen=True, eq=False)
class RateTrace(Curve):
    """A rate sampled at timestamps, interpolated linearly or held (``step``)."""

    times: np.ndarray
    rates: np.ndarray
    step: bool = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RateTrace) and self.step == other.step and \
            _same(self.times, other.times) and _same(self.rates, other.rates)

    __hash__ = None  # type: ignore[assignment]

    def rate(self, t: np.ndarray) -> np.ndarray:
        if self.step:
            idx = np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, len(self.times) - 1)
            return self.rates[idx]
        out: np.ndarray = np.interp(t, self.times, self.rates)
        return out

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        return self.times[(self.times > t0) & (self.times < t1)]


@dataclass(frozen=True, eq=False)
class ArrivalTrace(Curve):
    """Recorded arrivals. As a curve it is their rate per ``bin`` seconds; the arrival
    process ``replay`` sends exactly these arrivals."""

    times: np.ndarray
    bin: float = 1.0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrivalTrace) and self.bin == other.bin and \
            _same(self.times, other.times)

    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        nbins = max(1, math.ceil((self.times[-1] if self.times.size else 0.0) / self.bin) + 1)
        counts = np.bincount((self.times // self.bin).astype(np.int64), minlength=nbins)
        object.__setattr__(self, "_per_s", counts / self.bin)

    def rate(self, t: np.ndarray) -> np.ndarray:
        counts: np.ndarray = self._per_s  # type: ignore[attr-defined]
        idx = (np.maximum(t, 0.0) // self.bin).astype(np.int64)
        return np.where(idx < len(counts), counts[np.minimum(idx, len(counts) - 1)], 0.0)

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        ticks = self.bin * np.arange(max(0, math.floor(t0 / self.bin)), t1 / self.bin + 1)
        return ticks[(ticks > t0) & (ticks < t1)]


#: The largest trace file read (about 20 million rows).
MAX_TRACE_BYTES = 256 << 20
#: An arrival trace used as a curve is binned; more bins than this is refused.
MAX_BINS = 50_000_000


def _parse_time(text: str) -> float | datetime:
    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("the time is not seconds, a duration or an ISO timestamp") from None


def _read(path: Path, columns: list[str], origin: str) -> tuple[list[int], list[list[str]]]:
    """Rows of the wanted columns, with their line numbers."""
    if not path.is_file():
        raise InputError(f"trace file not found: {path}", source=origin)
    if path.stat().st_size > MAX_TRACE_BYTES:
        raise InputError(f"trace {path} is larger than {MAX_TRACE_BYTES >> 20} MB: "
                         "too large to read (aggregate it to a rate trace)", source=origin)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read trace {path}: {exc}", source=origin) from None
    numbered = [(i + 1, r) for i, r in enumerate(rows) if r and any(c.strip() for c in r)]
    numbered = [(n, r) for n, r in numbered if not r[0].lstrip().startswith("#")]
    if not numbered:
        raise InputError(f"trace {path} has no rows", source=origin)
    header = [c.strip().lower() for c in numbered[0][1]]
    positions = list(range(len(columns)))
    if any(name in header for name in columns):
        missing = [name for name in columns if name not in header]
        if missing:
            raise InputError(f"trace {path} has no column {missing[0]!r} in its header",
                             source=origin)
        positions = [header.index(name) for name in columns]
        numbered = numbered[1:]
        if not numbered:
            raise InputError(f"trace {path} has a header but no data rows", source=origin)
    else:
        try:
            _parse_time(numbered[0][1][0].strip())
        except ValueError:  # a header naming other columns
            raise InputError(
                f"trace {path}: its header names none of the columns {', '.join(columns)}",
                source=origin,
            ) from None
    lines, values = [], []
    for n, row in numbered:
        lines.append(n)
        values.append([row[p].strip() if p < len(row) else "" for p in positions])
    return lines, values


def _times(path: Path, lines: list[int], raw: list[str], compress: float) -> tuple[
    np.ndarray, list[Problem]
]:
    problems: list[Problem] = []
    parsed: list[float | datetime] = []
    for n, text in zip(lines, raw, strict=True):
        try:
            parsed.append(_parse_time(text))
        except ValueError as exc:
            problems.append(Problem(str(exc), source=str(path), line=n))
            parsed.append(math.nan)
    kinds = {type(p) for p in parsed if not (isinstance(p, float) and math.isnan(p))}
    if kinds == {datetime}:
        first = min(p for p in parsed if isinstance(p, datetime))
        seconds = [
            (p - first).total_seconds() if isinstance(p, datetime) else math.nan for p in parsed
        ]
    elif len(kinds) > 1:
        problems.append(Problem("mixes timestamps and seconds", source=str(path)))
        seconds = [math.nan] * len(parsed)
    else:
        seconds = [float(p) if isinstance(p, float) else math.nan for p in parsed]
    times = np.asarray(seconds, dtype=float) / compress
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            problems.append(Problem("time goes backwards", source=str(path), line=lines[i]))
    return times, problems


def _fail(problems: list[Problem]) -> None:
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise InputError(problems[:_MAX_PROBLEMS])


def load_rate_trace(
    path: Path, *, compress: float = 1.0, step: bool = False, time_column: str = "time",
    rate_column: str = "rate", origin: str = "trace"
) -> RateTrace:
    lines, rows = _read(path, [time_column, rate_column], origin)
    times, problems = _times(path, lines, [r[0] for r in rows], compress)
    rates = np.empty(len(rows))
    for i, (n, row) in enumerate(zip(lines, rows, strict=True)):
        try:
            rates[i] = float(row[1])
            if not math.isfinite(rates[i]) or rates[i] < 0:
                raise ValueError
        except ValueError:
            problems.append(
                Problem("the rate is not a number >= 0", source=str(path), line=n)
            )
    if len(rows) < 2 and not problems:
        problems.append(Problem("a rate trace needs at least two rows", source=str(path)))
    _fail(problems)
    return RateTrace(times, rates, step)


def load_arrival_trace(
    path: Path, *, compress: float = 1.0, bin_s: float = 1.0, time_column: str = "time",
    origin: str = "trace"
) -> ArrivalTrace:
    lines, rows = _read(path, [time_column], origin)
    times, problems = _times(path, lines, [r[0] for r in rows], compress)
    _fail(problems)
    span = float(times.max(initial=0.0))
    if span / bin_s > MAX_BINS:
        raise InputError(f"trace {path} spans {span:.6g} s: with a bin of {bin_s:g} s that is "
                         f"more than {MAX_BINS:,} bins; use a larger bin", source=origin)
    return ArrivalTrace(times, bin_s)
