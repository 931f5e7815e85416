"""The ``demand:`` section: a rate curve written in YAML, and the arrival process.

A curve is a one-key mapping naming its kind::

    curve: {constant: 5}
    curve: {piecewise: [[0s, 5], [2m, 5], [3m, 40]]}
    curve: {sum: [{diurnal: {min: 20, max: 400}}, {spike: {at: 4m, duration: 1m, height: 80}}]}
    curve: {noise: {sigma: 0.1, every: 1m, curve: {constant: 50}}}

Each kind maps onto a class of :mod:`harness.demand.curves` (``build``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    PositiveFloat,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.demand import curves as c
from harness.demand.arrivals import ArrivalProcess
from harness.demand.trace import ArrivalTrace, RateTrace, load_arrival_trace, load_rate_trace
from harness.errors import InputError
from harness.scenario.curve_data import curve_data
from harness.spec import Name, Spec
from harness.suggest import did_you_mean
from harness.units import Duration, NonNegFloat, PositiveDuration, PositiveRate, Rate

__all__ = ["Arrivals", "CurveSpec", "Demand"]

Point = tuple[Duration, Rate]


def _check_points(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    for i in range(1, len(points)):
        if points[i][0] < points[i - 1][0]:
            raise ValueError(f"point {i}: times must not go backwards")
    return points


Points = Annotated[list[Point], Field(min_length=1)]


class _Kind(Spec):
    def build(self, seed: int) -> c.Curve:
        raise NotImplementedError


class ConstantSpec(_Kind):
    constant: PositiveRate

    def build(self, seed: int) -> c.Curve:
        return c.Constant(self.constant)


class RampParams(Spec):
    from_: Rate = Field(0.0, alias="from")
    to: Rate
    over: PositiveDuration
    at: Duration = 0.0


class RampSpec(_Kind):
    ramp: RampParams

    def build(self, seed: int) -> c.Curve:
        r = self.ramp
        return c.Ramp(r.from_, r.to, r.over, r.at)


class PiecewiseSpec(_Kind):
    piecewise: Points

    _order = field_validator("piecewise")(_check_points)

    def build(self, seed: int) -> c.Curve:
        return c.Piecewise(tuple(self.piecewise))


class StepSpec(_Kind):
    step: Points

    _order = field_validator("step")(_check_points)

    def build(self, seed: int) -> c.Curve:
        return c.Step(tuple(self.step))


class SpikeParams(Spec):
    at: Duration
    duration: PositiveDuration
    height: PositiveRate
    rise: Duration = 0.0
    fall: Duration = 0.0

    @model_validator(mode="after")
    def _edges_fit(self) -> SpikeParams:
        if self.rise + self.fall > self.duration:
            raise ValueError("rise + fall is longer than the spike's duration")
        return self


class SpikeSpec(_Kind):
    spike: SpikeParams

    def build(self, seed: int) -> c.Curve:
        s = self.spike
        return c.Spike(s.at, s.duration, s.height, s.rise, s.fall)


class BurstParams(Spec):
    every: PositiveDuration
    duration: PositiveDuration
    height: PositiveRate
    start: Duration = 0.0
    rise: Duration = 0.0

    @model_validator(mode="after")
    def _fits(self) -> BurstParams:
        if self.duration > self.every:
            raise ValueError("a burst's duration is longer than its period (every)")
        if 2 * self.rise > self.duration:
            raise ValueError("twice the rise is longer than the burst's duration")
        return self


class BurstSpec(_Kind):
    burst: BurstParams

    def build(self, seed: int) -> c.Curve:
        b = self.burst
        return c.Burst(b.every, b.duration, b.height, b.start, b.rise)


class _Band(Spec):
    min: Rate
    max: Rate

    @model_validator(mode="after")
    def _band(self) -> _Band:
        if self.max < self.min:
            raise ValueError(f"max ({self.max:g}) is below min ({self.min:g})")
        if self.max <= 0:
            raise ValueError("max must be greater than zero")
        return self


class SineParams(_Band):
    period: PositiveDuration
    phase: Duration = 0.0


class SineSpec(_Kind):
    sine: SineParams

    def build(self, seed: int) -> c.Curve:
        s = self.sine
        return c.Sine(s.min, s.max, s.period, s.phase)


class DiurnalParams(_Band):
    peak_at: Duration = 14 * 3600.0  #: clock time of the peak
    period: PositiveDuration = 86400.0
    start_at: Duration = 0.0  #: clock time when the run starts


class DiurnalSpec(_Kind):
    diurnal: DiurnalParams

    def build(self, seed: int) -> c.Curve:
        d = self.diurnal
        return c.Diurnal(d.min, d.max, d.peak_at, d.period, d.start_at)


def trace_path(file: str, context: dict[str, Any]) -> Path:
    """Where a trace named ``file`` is read from: relative to the scenario's directory,
    and inside it (or inside a directory the user allowed with ``--allow-path``), so a
    scenario cannot make Squall read any file on the machine. A scenario restored from
    a run directory (``trusted``) was checked when it ran."""
    base = Path(context.get("base_dir") or ".")
    path = Path(file) if Path(file).is_absolute() else base / file
    if context.get("trusted"):
        return path
    roots = [base, *(Path(p) for p in context.get("allow_paths", ()))]
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise ValueError(f"{file!r} is outside the scenario's directory: traces are read from "
                         "there only (allow another directory with --allow-path DIR)")
    return path


class TraceParams(Spec):
    """A CSV trace; ``file`` is relative to the scenario file."""

    file: str
    format: Literal["rate", "arrivals"] = "rate"
    compress: PositiveFloat = 1.0
    interpolate: Literal["linear", "step"] = "linear"
    bin: PositiveDuration = 1.0  #: for an arrival trace used as a curve
    time_column: str = "time"
    rate_column: str = "rate"
    _loaded: RateTrace | ArrivalTrace | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> TraceParams:
        path = trace_path(self.file, info.context or {})
        try:
            if self.format == "rate":
                loaded: RateTrace | ArrivalTrace = load_rate_trace(
                    path, compress=self.compress, step=self.interpolate == "step",
                    time_column=self.time_column, rate_column=self.rate_column,
                )
            else:
                loaded = load_arrival_trace(
                    path, compress=self.compress, bin_s=self.bin, time_column=self.time_column
                )
        except InputError as exc:
            raise ValueError("; ".join(p.render() for p in exc.problems)) from None
        self._loaded = loaded
        return self

    @property
    def loaded(self) -> RateTrace | ArrivalTrace:
        assert self._loaded is not None
        return self._loaded


class TraceSpec(_Kind):
    trace: TraceParams

    def build(self, seed: int) -> c.Curve:
        return self.trace.loaded


class SumSpec(_Kind):
    sum: list[CurveSpec] = Field(min_length=1)

    def build(self, seed: int) -> c.Curve:
        return c.Sum(tuple(part.build(seed + i) for i, part in enumerate(self.sum)))


class ScaleParams(Spec):
    by: NonNegFloat
    curve: CurveSpec


class ScaleSpec(_Kind):
    scale: ScaleParams

    def build(self, seed: int) -> c.Curve:
        return c.Scale(self.scale.curve.build(seed), self.scale.by)


class ClipParams(Spec):
    min: Rate = 0.0
    max: Rate | None = None
    curve: CurveSpec


class ClipSpec(_Kind):
    clip: ClipParams

    def build(self, seed: int) -> c.Curve:
        p = self.clip
        return c.Clip(p.curve.build(seed), p.min, math.inf if p.max is None else p.max)


class Segment(Spec):
    for_: PositiveDuration = Field(alias="for")
    curve: CurveSpec


class SequenceSpec(_Kind):
    sequence: list[Segment] = Field(min_length=1)

    def build(self, seed: int) -> c.Curve:
        return c.Sequence(
            tuple((s.curve.build(seed + i), s.for_) for i, s in enumerate(self.sequence))
        )


class NoiseParams(Spec):
    sigma: NonNegFloat
    every: PositiveDuration = 60.0
    seed: int | None = None  #: default: derived from the scenario's seed
    curve: CurveSpec


class NoiseSpec(_Kind):
    noise: NoiseParams

    def build(self, seed: int) -> c.Curve:
        p = self.noise
        return c.Noise(p.curve.build(seed), p.sigma, p.every, seed if p.seed is None else p.seed)


_CURVES: dict[str, type[_Kind]] = {
    "constant": ConstantSpec, "ramp": RampSpec, "piecewise": PiecewiseSpec, "step": StepSpec,
    "spike": SpikeSpec, "burst": BurstSpec, "sine": SineSpec, "diurnal": DiurnalSpec,
    "trace": TraceSpec, "sum": SumSpec, "scale": ScaleSpec, "clip": ClipSpec,
    "sequence": SequenceSpec, "noise": NoiseSpec,
}


def _curve_kind(value: Any) -> str | None:
    if isinstance(value, _Kind):
        return next(iter(type(value).model_fields))
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


def _curve_shape(value: Any) -> Any:
    if isinstance(value, c.Curve):
        return curve_data(value)
    if isinstance(value, _Kind):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"constant": value}
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            "a curve is a mapping with one key naming its kind, e.g. {constant: 5}; "
            f"kinds: {', '.join(_CURVES)}"
        )
    kind = str(next(iter(value)))
    if kind not in _CURVES:
        raise ValueError(
            f"unknown curve kind {kind!r}{did_you_mean(kind, _CURVES)}; kinds: {', '.join(_CURVES)}"
        )
    return value


#: Any curve kind, chosen by its one key (the members are the values of ``_CURVES``).
CurveSpec = Annotated[
    Annotated[ConstantSpec, Tag("constant")] | Annotated[RampSpec, Tag("ramp")]
    | Annotated[PiecewiseSpec, Tag("piecewise")] | Annotated[StepSpec, Tag("step")]
    | Annotated[SpikeSpec, Tag("spike")] | Annotated[BurstSpec, Tag("burst")]
    | Annotated[SineSpec, Tag("sine")] | Annotated[DiurnalSpec, Tag("diurnal")]
    | Annotated[TraceSpec, Tag("trace")] | Annotated[SumSpec, Tag("sum")]
    | Annotated[ScaleSpec, Tag("scale")] | Annotated[ClipSpec, Tag("clip")]
    | Annotated[SequenceSpec, Tag("sequence")] | Annotated[NoiseSpec, Tag("noise")],
    Discriminator(_curve_kind),
    BeforeValidator(_curve_shape),
]

for _model in (SumSpec, ScaleParams, ClipParams, Segment, NoiseParams):
    _model.model_rebuild()


class Arrivals(Spec):
    """``arrivals: poisson`` or ``{process: bursty, smoothness: 0.3}``."""

    process: ArrivalProcess = ArrivalProcess.POISSON
    smoothness: PositiveFloat = 1.0  #: gamma shape for ``bursty``

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"process": data} if isinstance(data, str) else data


class Demand(Spec):
    curve: CurveSpec
    arrivals: Arrivals = Arrivals()
    mix: dict[Name, PositiveFloat] | None = None  #: workflow weights; default: each workflow's

    @model_validator(mode="after")
    def _replay_needs_arrivals(self) -> Demand:
        if self.arrivals.process is ArrivalProcess.REPLAY and not (
            isinstance(self.curve, TraceSpec) and self.curve.trace.format == "arrivals"
        ):
            raise ValueError("arrivals: replay needs curve: {trace: {format: arrivals, ...}}")
        return self

    def build_curve(self, seed: int) -> c.Curve:
        return self.curve.build(seed)

    def replay_times(self) -> Any:
        if isinstance(self.curve, TraceSpec):
            loaded = self.curve.trace.loaded
            if isinstance(loaded, ArrivalTrace):
                return loaded.times
        return None

