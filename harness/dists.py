"""Probability distributions as scenario data, with vectorised sampling.

A distribution in a scenario is a bare value (a constant) or ``{dist: KIND, ...}``. Every
kind accepts ``mean``; ``{dist: constant, mean: 1s}`` and ``1s`` are the same. Optional
``min``/``max`` clip every kind (a normal service time cannot go below zero: ``min``
defaults to 0).

Two flavours share the models: :data:`DurationDist` (values are durations: ``600ms``) and
:data:`CountDist` (values are plain numbers: token counts, call counts).

Sampling is vectorised (``sample(rng, n)``); :class:`BlockSampler` hands out one value at
a time from pre-drawn blocks, which is what the simulator's hot path uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.units import parse_duration

__all__ = [
    "BlockSampler",
    "Constant",
    "CountDist",
    "DistSpec",
    "DurationDist",
    "Empirical",
    "Exponential",
    "Gamma",
    "LogNormal",
    "Normal",
    "Uniform",
    "constant",
]

_Z95 = NormalDist().inv_cdf(0.95)  # 1.6449 — the p95 of a standard normal


def _value(v: Any) -> float:
    """A number or a duration string, as a float (units are checked by the flavour)."""
    return parse_duration(v) if isinstance(v, str) else _plain(v)


def _plain(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"expected a number, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"expected a finite number, got {v!r}")
    return float(v)


Value = Annotated[float, BeforeValidator(_value)]


class DistSpec(BaseModel):
    """Base of every distribution kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str]

    min: Value = 0.0
    max: Value | None = None

    def mean_value(self) -> float:
        """The distribution's mean (before clipping)."""
        raise NotImplementedError

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws, clipped to [min, max]."""
        out = self._draw(rng, n)
        clipped: np.ndarray = np.clip(out, self.min, np.inf if self.max is None else self.max)
        return clipped

    @property
    def is_constant(self) -> bool:
        return False

    @model_validator(mode="after")
    def _check_bounds(self) -> DistSpec:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max:g}) is below min ({self.min:g})")
        return self


class Constant(DistSpec):
    kind: ClassVar[str] = "constant"
    dist: Literal["constant"] = "constant"
    mean: Value = Field(ge=0)

    def mean_value(self) -> float:
        return self.mean

    @property
    def is_constant(self) -> bool:
        return True

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.mean)


class Exponential(DistSpec):
    kind: ClassVar[str] = "exponential"
    dist: Literal["exponential"]
    mean: Value = Field(gt=0)

    def mean_value(self) -> float:
        return self.mean

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)


class LogNormal(DistSpec):
    """Give ``median`` + ``p95``, ``mean`` + ``p95``, or ``mean`` + ``cv``."""

    kind: ClassVar[str] = "lognormal"
    dist: Literal["lognormal"]
    median: Value | None = Field(default=None, gt=0)
    mean: Value | None = Field(default=None, gt=0)
    p95: Value | None = Field(default=None, gt=0)
    cv: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_pair(self) -> LogNormal:
        self.mu_sigma()  # raises ValueError naming the problem
        return self

    def mu_sigma(self) -> tuple[float, float]:
        """The underlying normal's parameters."""
        if self.median is not None and self.p95 is not None and self.mean is None:
            if self.p95 <= self.median:
                raise ValueError(f"p95 ({self.p95:g}) must be above median ({self.median:g})")
            return math.log(self.median), math.log(self.p95 / self.median) / _Z95
        if self.mean is not None and self.cv is not None and self.median is self.p95 is None:
            sigma2 = math.log1p(self.cv**2)
            return math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2)
        if self.mean is not None and self.p95 is not None and self.median is self.cv is None:
            # ln(p95/mean) = z·s − s²/2; take the smaller root.
            gap = math.log(self.p95 / self.mean)
            disc = _Z95**2 - 2 * gap
            if gap <= 0 or disc < 0:
                raise ValueError(
                    f"no lognormal has mean {self.mean:g} and p95 {self.p95:g} "
                    f"(p95 must be between mean and {math.exp(_Z95**2 / 2):.2f}× mean)"
                )
            s = _Z95 - math.sqrt(disc)
            return math.log(self.mean) - s * s / 2, s
        raise ValueError("give median and p95, mean and p95, or mean and cv")

    def mean_value(self) -> float:
        mu, sigma = self.mu_sigma()
        return math.exp(mu + sigma * sigma / 2)

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        mu, sigma = self.mu_sigma()
        return rng.lognormal(mu, sigma, n)


class Normal(DistSpec):
    """Clipped at ``min`` (0 by default): durations and counts are never negative."""

    kind: ClassVar[str] = "normal"
    dist: Literal["normal"]
    mean: Value
    sd: Value = Field(ge=0)

    def mean_value(self) -> float:
        return self.mean

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.normal(self.mean, self.sd, n)


class Gamma(DistSpec):
    """Give ``mean`` + ``cv`` or ``shape`` + ``scale``."""

    kind: ClassVar[str] = "gamma"
    dist: Literal["gamma"]
    mean: Value | None = Field(default=None, gt=0)
    cv: float | None = Field(default=None, gt=0)
    shape: float | None = Field(default=None, gt=0)
    scale: Value | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_pair(self) -> Gamma:
        self.shape_scale()
        return self

    def shape_scale(self) -> tuple[float, float]:
        if self.mean is not None and self.cv is not None and self.shape is self.scale is None:
            k = 1.0 / self.cv**2
            return k, self.mean / k
        if self.shape is not None and self.scale is not None and self.mean is self.cv is None:
            return self.shape, self.scale
        raise ValueError("give mean and cv, or shape and scale")

    def mean_value(self) -> float:
        k, theta = self.shape_scale()
        return k * theta

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k, theta = self.shape_scale()
        return rng.gamma(k, theta, n)


class Uniform(DistSpec):
    """Give ``low`` + ``high``, or ``mean`` + ``width``."""

    kind: ClassVar[str] = "uniform"
    dist: Literal["uniform"]
    low: Value | None = None
    high: Value | None = None
    mean: Value | None = None
    width: Value | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_pair(self) -> Uniform:
        lo, hi = self.bounds()
        if hi < lo:
            raise ValueError(f"high ({hi:g}) is below low ({lo:g})")
        return self

    def bounds(self) -> tuple[float, float]:
        if self.low is not None and self.high is not None and self.mean is self.width is None:
            return self.low, self.high
        if self.mean is not None and self.width is not None and self.low is self.high is None:
            return self.mean - self.width / 2, self.mean + self.width / 2
        raise ValueError("give low and high, or mean and width")

    def mean_value(self) -> float:
        lo, hi = self.bounds()
        return (lo + hi) / 2

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        lo, hi = self.bounds()
        return rng.uniform(lo, hi, n)


class Empirical(DistSpec):
    """Resample observed values; with ``mean`` they are rescaled to that mean."""

    kind: ClassVar[str] = "empirical"
    dist: Literal["empirical"]
    samples: list[Value] = Field(min_length=1)
    mean: Value | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_samples(self) -> Empirical:
        if any(s < 0 for s in self.samples):
            raise ValueError("samples must not be negative")
        if self.mean is not None and sum(self.samples) == 0:
            raise ValueError("cannot rescale samples that are all zero to a mean")
        return self

    def _values(self) -> np.ndarray:
        values = np.asarray(self.samples, dtype=float)
        if self.mean is not None:
            values = values * (self.mean / values.mean())
        return values

    def mean_value(self) -> float:
        return float(self._values().mean())

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        values = self._values()
        return values[rng.integers(0, len(values), n)]


_KINDS: dict[str, type[DistSpec]] = {
    cls.kind: cls for cls in (Constant, Exponential, LogNormal, Normal, Gamma, Uniform, Empirical)
}


def _shape_duration(v: Any) -> Any:
    """A bare value is a constant; ``{dist: ...}`` passes through; unknown kinds get a hint."""
    if isinstance(v, int | float | str) and not isinstance(v, bool):
        return {"dist": "constant", "mean": v}
    if isinstance(v, dict):
        kind = v.get("dist", "constant")
        if not isinstance(kind, str) or kind not in _KINDS:
            from harness.suggest import did_you_mean

            raise ValueError(
                f"unknown distribution {kind!r}{did_you_mean(str(kind), _KINDS)}; "
                f"known: {', '.join(sorted(_KINDS))}"
            )
        if "dist" not in v:
            return {"dist": "constant", **v}
    return v


_shape_duration.shorthand_key = "mean"  # type: ignore[attr-defined]  # read by --set


def _shape_count(v: Any) -> Any:
    """Like durations, but values are plain numbers: ``1200``, not ``1200ms``."""
    shaped = _shape_duration(v)
    if isinstance(shaped, dict):
        for key, item in shaped.items():
            items = item if isinstance(item, list) else [item]
            if key != "dist" and any(isinstance(x, str) for x in items):
                raise ValueError(f"{key}: counts are plain numbers, got {item!r}")
    return shaped


_shape_count.shorthand_key = "mean"  # type: ignore[attr-defined]

_Union = Annotated[
    Constant | Exponential | LogNormal | Normal | Gamma | Uniform | Empirical,
    Field(discriminator="dist"),
]
#: A distribution of durations: ``600ms`` or ``{dist: lognormal, median: 600ms, p95: 2s}``.
DurationDist = Annotated[_Union, BeforeValidator(_shape_duration)]
#: A distribution of counts: ``1200`` or ``{dist: normal, mean: 150, sd: 30}``.
CountDist = Annotated[_Union, BeforeValidator(_shape_count)]


def constant(value: float) -> Constant:
    """A constant distribution, for building scenarios in code."""
    return Constant(mean=value)


class BlockSampler:
    """One draw at a time from pre-drawn blocks: ~20× cheaper than a numpy call per draw.

    Draws are identical to ``dist.sample(rng, n)`` in blocks of ``block``; a constant
    distribution never touches the RNG.
    """

    __slots__ = ("_block", "_buf", "_dist", "_i", "_rng", "draw")

    def __init__(self, dist: DistSpec, rng: np.random.Generator, block: int = 2048) -> None:
        self._dist, self._rng, self._block = dist, rng, block
        self._buf: list[float] = []
        self._i = 0
        self.draw: Callable[[], float]
        if dist.is_constant:
            value = float(dist.sample(rng, 1)[0])
            self.draw = lambda: value
        else:
            self.draw = self._next

    def _next(self) -> float:
        i = self._i
        if i >= len(self._buf):
            self._buf = self._dist.sample(self._rng, self._block).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]
