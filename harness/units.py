"""Units people write in scenario files: durations, rates, percentages.

Each parser turns what a person writes into a plain float in SI units (seconds, per second,
a fraction) or raises ``ValueError`` with a message that says what was expected. The
``Annotated`` aliases at the bottom plug the parsers into pydantic models.

    >>> parse_duration("1h30m")
    5400.0
    >>> parse_rate("600/min")
    10.0
    >>> parse_percent("97%")
    0.97
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "Count",
    "Duration",
    "Fraction",
    "NonNegFloat",
    "PositiveDuration",
    "PositiveRate",
    "Rate",
    "format_duration",
    "parse_duration",
    "parse_percent",
    "parse_rate",
]

_UNIT_SECONDS = {
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "min": 60.0,
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
}
_PART = re.compile(r"((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(ms|us|µs|min|sec|d|h|m|s)")
_NUMBER = re.compile(r"[+-]?(\d+(?:\.\d*)?|\.\d+)(e[+-]?\d+)?", re.IGNORECASE)
_DURATION_HINT = "a duration such as 250ms, 30s, 10m, 1h30m or a number of seconds"


def _reject_non_numbers(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected {what}, got {type(value).__name__} {value!r}")


def _finite(x: float, text: Any, what: str) -> float:
    if not math.isfinite(x):
        raise ValueError(f"expected {what}, got {text!r}")
    return x


def parse_duration(value: Any) -> float:
    """Seconds from ``250ms``, ``30s``, ``10m``, ``1h30m``, ``1.5h`` or a number of seconds.

    Negative durations are rejected here; whether zero is allowed is the field's business.
    """
    _reject_non_numbers(value, _DURATION_HINT)
    if isinstance(value, int | float):
        seconds = _finite(float(value), value, _DURATION_HINT)
    else:
        text = value.strip().lower()
        if _NUMBER.fullmatch(text):
            seconds = _finite(float(text), value, _DURATION_HINT)
        elif text.startswith("-") and text[1:].strip():
            parse_duration(text[1:])  # a well-formed duration with a minus sign in front
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        else:
            pos, seconds, seen = 0, 0.0, False
            for match in _PART.finditer(text):
                if match.start() != pos and text[pos : match.start()].strip():
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos, seen = match.end(), True
            if not seen or text[pos:].strip():
                raise ValueError(f"expected {_DURATION_HINT}, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


_RATE_HINT = "a rate such as 5 (per second), 600/min, 36000/h or 50/10s"


def parse_rate(value: Any) -> float:
    """Events per second from a number (per second) or ``N/unit`` / ``N/duration``."""
    _reject_non_numbers(value, _RATE_HINT)
    if isinstance(value, int | float):
        rate = _finite(float(value), value, _RATE_HINT)
    else:
        text = value.strip().lower()
        if _NUMBER.fullmatch(text):
            rate = _finite(float(text), value, _RATE_HINT)
        else:
            count, sep, per = text.partition("/")
            count = count.strip()
            per = per.strip()
            if not sep or not _NUMBER.fullmatch(count) or not per:
                raise ValueError(f"expected {_RATE_HINT}, got {value!r}")
            unit = per
            if per in {"hour", "hr"}:
                unit = "h"
            elif per in {"second", "s"}:
                unit = "s"
            elif per == "day":
                unit = "d"
            try:
                window = _UNIT_SECONDS[unit] if unit in _UNIT_SECONDS else parse_duration(per)
            except ValueError:
                raise ValueError(f"expected {_RATE_HINT}, got {value!r}") from None
            if window <= 0:
                raise ValueError(f"a rate's time unit must be positive, got {value!r}")
            rate = _finite(float(count) / window, value, _RATE_HINT)
    if rate < 0:
        raise ValueError(f"a rate cannot be negative, got {value!r}")
    return rate


_PERCENT_HINT = "a percentage such as 97% or a fraction such as 0.97"


def parse_percent(value: Any) -> float:
    """A fraction in [0, 1] from ``97%``, ``99.9%`` or a number in [0, 1]."""
    _reject_non_numbers(value, _PERCENT_HINT)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            body = text[:-1].strip()
            if not _NUMBER.fullmatch(body):
                raise ValueError(f"expected {_PERCENT_HINT}, got {value!r}")
            fraction = float(body) / 100.0
        elif _NUMBER.fullmatch(text):
            fraction = float(text)
        else:
            raise ValueError(f"expected {_PERCENT_HINT}, got {value!r}")
    else:
        fraction = float(value)
    fraction = _finite(fraction, value, _PERCENT_HINT)
    if not 0.0 <= fraction <= 1.0:
        hint = f" (did you mean {value}%?)" if isinstance(value, int | float) and value > 1 else ""
        raise ValueError(f"expected {_PERCENT_HINT} between 0 and 100%, got {value!r}{hint}")
    return fraction


def format_duration(seconds: float | None) -> str:
    """A short human form: ``250ms``, ``42s``, ``3m20s``, ``1h05m``; ``-`` for None."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"{m}m{s:02d}s" if s else f"{m}m"
    h, rem = divmod(round(seconds), 3600)
    return f"{h}h{rem // 60:02d}m"


def _positive(x: float) -> float:
    if x <= 0:
        raise ValueError("must be greater than zero")
    return x


def _non_negative_number(value: Any) -> float:
    _reject_non_numbers(value, "a number")
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    _finite(x, value, "a finite number")
    if x < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return x


def _count(value: Any) -> int:
    x = _non_negative_number(value)
    if x != int(x):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(x)


_float_out = PlainSerializer(float, return_type=float)
_DUR_SCHEMA = WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^[0-9.]+"}],
     "description": _DURATION_HINT}
)
_RATE_SCHEMA = WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}], "description": _RATE_HINT}
)
_PCT_SCHEMA = WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string", "pattern": "%$"}],
     "description": _PERCENT_HINT}
)

#: Seconds, ``>= 0``; written ``250ms``, ``30s``, ``1h30m`` or as a number of seconds.
Duration = Annotated[float, BeforeValidator(parse_duration), _DUR_SCHEMA, _float_out]
#: Seconds, ``> 0``.
PositiveDuration = Annotated[
    float, BeforeValidator(lambda v: _positive(parse_duration(v))), _DUR_SCHEMA, _float_out
]
#: Per second, ``>= 0``; written ``5``, ``600/min``, ``36000/h``.
Rate = Annotated[float, BeforeValidator(parse_rate), _RATE_SCHEMA, _float_out]
#: Per second, ``> 0``.
PositiveRate = Annotated[
    float, BeforeValidator(lambda v: _positive(parse_rate(v))), _RATE_SCHEMA, _float_out
]
#: A fraction in [0, 1]; written ``97%`` or ``0.97``.
Fraction = Annotated[float, BeforeValidator(parse_percent), _PCT_SCHEMA, _float_out]
#: A plain number ``>= 0`` (token counts, prices, factors).
NonNegFloat = Annotated[
    float, BeforeValidator(_non_negative_number), WithJsonSchema({"type": "number", "minimum": 0})
]
#: A whole number ``>= 0``.
Count = Annotated[
    int, BeforeValidator(_count), WithJsonSchema({"type": "integer", "minimum": 0})
]
