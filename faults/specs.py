"""Fault specifications: one model per kind, looked up in :data:`FAULT_KINDS`.

Every fault has an ``id``, a ``kind``, a ``target`` (``agent.NAME``, ``endpoint.NAME``,
``tool.NAME``, ``workflow.NAME`` or ``proxy.NAME``; a partition names two sides in
``between``), a start ``at`` and a ``duration`` (absent: until the end of the run). The
blast radius is a ``count`` or ``percent`` of replicas / capacity, or a ``probability``
per call, as each kind allows. Engines give the kinds their effects; these models only
say what is asked.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BeforeValidator, Discriminator, Field, PositiveFloat, Tag, model_validator

from harness.dists import DurationDist
from harness.spec import Name, Spec, fail_at
from harness.suggest import did_you_mean
from harness.units import Duration, Fraction, PositiveDuration

__all__ = [
    "FAULT_KINDS",
    "BrownoutFault",
    "ColdStartStormFault",
    "CommandFault",
    "CrashFault",
    "ErrorFault",
    "FaultSpec",
    "FaultSpecBase",
    "LatencyFault",
    "OutageFault",
    "PartialOutageFault",
    "PartitionFault",
    "RateLimitFault",
    "Target",
    "TargetKind",
    "ToxicFault",
]


class TargetKind(StrEnum):
    AGENT = "agent"
    ENDPOINT = "endpoint"
    TOOL = "tool"
    WORKFLOW = "workflow"
    PROXY = "proxy"  #: a ``squall proxy`` in front of a dependency (live runs of a target)
    ORCHESTRATOR = "orchestrator"  #: the caller of agents (partition sides only)


class Target(NamedTuple):
    kind: TargetKind
    name: str

    def __str__(self) -> str:
        return self.kind.value if self.kind is TargetKind.ORCHESTRATOR else \
            f"{self.kind.value}.{self.name}"

    @classmethod
    def parse(cls, text: str) -> Target:
        if text == "orchestrator":
            return cls(TargetKind.ORCHESTRATOR, "")
        kind, dot, name = text.partition(".")
        kinds = [k.value for k in TargetKind if k is not TargetKind.ORCHESTRATOR]
        if not dot or kind not in kinds or not name:
            raise ValueError(
                f"target {text!r} is not KIND.NAME with KIND one of {', '.join(kinds)}"
                + (did_you_mean(kind, kinds) if kind not in kinds and dot else "")
            )
        return cls(TargetKind(kind), name)


class ErrorMode(StrEnum):
    ERROR = "error"  #: fail fast with a 5xx
    TIMEOUT = "timeout"  #: hang until the caller's timeout
    MALFORMED = "malformed"  #: answer after the usual latency with unusable output


class CutMode(StrEnum):
    FAIL_FAST = "fail_fast"  #: connection refused at once
    HANG = "hang"  #: packets dropped: calls hang until the caller's timeout


class FaultSpecBase(Spec):
    """Fields every fault kind has."""

    kinds_allowed: ClassVar[frozenset[TargetKind]]
    uses_duration: ClassVar[bool] = True

    id: Name | None = None  #: default ``KIND-INDEX``
    target: str
    at: Duration = 0.0
    duration: PositiveDuration | None = None  #: absent: until the end of the run
    description: str = ""

    @model_validator(mode="after")
    def _target_kind(self) -> FaultSpecBase:
        try:
            target = Target.parse(self.target)
        except ValueError as exc:
            fail_at("target", str(exc))
        if target.kind not in self.kinds_allowed:
            allowed = ", ".join(sorted(k.value for k in self.kinds_allowed))
            article = "an" if target.kind.value[0] in "aeiou" else "a"
            fail_at("target",
                f"a {self.kind_name()} fault has no effect on {article} {target.kind.value}; "
                f"it targets: {allowed}",
            )
        return self

    @model_validator(mode="after")
    def _duration_applies(self) -> FaultSpecBase:
        if not self.uses_duration and self.duration is not None:
            hint = "; use restart_after" if self.kind_name() == "crash" else ""
            fail_at("duration",
                    f"a {self.kind_name()} fault happens at one moment: no duration{hint}")
        return self

    @classmethod
    def kind_name(cls) -> str:
        return str(cls.model_fields["kind"].default)

    @property
    def parsed_target(self) -> Target:
        return Target.parse(self.target)

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.at + self.duration


_ANY = frozenset({TargetKind.AGENT, TargetKind.ENDPOINT, TargetKind.TOOL, TargetKind.WORKFLOW,
                  TargetKind.PROXY})
_SERVERS = frozenset({TargetKind.AGENT, TargetKind.ENDPOINT, TargetKind.TOOL})
_PROXY = frozenset({TargetKind.PROXY})


class LatencyFault(FaultSpecBase):
    """Added latency (``add`` ± uniform ``jitter``) and/or a ``multiply`` factor, on a
    ``probability`` of calls."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = _ANY
    kind: Literal["latency"] = "latency"
    add: Duration = 0.0
    jitter: Duration = 0.0
    multiply: Annotated[float, Field(ge=1)] = 1.0
    probability: Fraction = 1.0

    @model_validator(mode="after")
    def _does_something(self) -> LatencyFault:
        if self.add == 0 and self.multiply == 1:
            raise ValueError("a latency fault needs add or multiply")
        if self.jitter > self.add:
            raise ValueError("jitter is larger than add: latency would go negative")
        return self


class ErrorFault(FaultSpecBase):
    """A ``probability`` of calls fail, ``as`` a 5xx, a hang until timeout, or bad output."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = _ANY
    kind: Literal["error"] = "error"
    probability: Fraction = 1.0
    as_: ErrorMode = Field(ErrorMode.ERROR, alias="as")


class RateLimitFault(FaultSpecBase):
    """A rate-limit storm: a ``probability`` of calls get 429 + ``retry_after``, or the
    endpoint's limits drop to ``rpm`` / ``tpm``."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = frozenset(
        {TargetKind.ENDPOINT, TargetKind.TOOL, TargetKind.PROXY}
    )
    kind: Literal["rate_limit"] = "rate_limit"
    probability: Fraction | None = None
    retry_after: Duration = 1.0
    rpm: PositiveFloat | None = None
    tpm: PositiveFloat | None = None
    per: PositiveDuration = 60.0  #: the period rpm and tpm count over (see RateLimit.per)

    @model_validator(mode="after")
    def _form(self) -> RateLimitFault:
        if self.probability is None and self.rpm is None and self.tpm is None:
            raise ValueError("give probability (429 storm) or rpm / tpm (lowered limits)")
        return self


class _Radius(FaultSpecBase):
    """Faults that take out part of a component: ``count`` or ``percent``."""

    count: Annotated[int, Field(ge=1)] | None = None
    percent: Fraction | None = None

    @model_validator(mode="after")
    def _one_radius(self) -> _Radius:
        if self.count is not None and self.percent is not None:
            raise ValueError("give count or percent, not both")
        return self

    def share(self, total: int) -> int:
        """How many of ``total`` replicas or slots the fault takes (at least one)."""
        if self.count is not None:
            return min(self.count, total)
        percent = 1.0 if self.percent is None else self.percent
        return min(total, max(1, round(percent * total))) if total else 0


class CrashFault(_Radius):
    """``count`` replicas (default 1) or a ``percent`` crash at ``at``: their queued and
    in-flight calls fail. With ``restart_after`` they restart in place (like a pod's
    container) and serve again after that plus their cold start; without it they are
    gone, and only the autoscaler replaces them."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = frozenset({TargetKind.AGENT})
    uses_duration: ClassVar[bool] = False
    kind: Literal["crash"] = "crash"
    restart_after: Duration | None = None

    def share(self, total: int) -> int:
        if self.count is None and self.percent is None:
            return min(1, total)
        return super().share(total)


class PartialOutageFault(_Radius):
    """A ``percent`` (or ``count``) of a component's capacity is gone for ``duration``."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = _SERVERS
    kind: Literal["partial_outage"] = "partial_outage"

    @model_validator(mode="after")
    def _needs_radius(self) -> PartialOutageFault:
        if self.count is None and self.percent is None:
            raise ValueError("give the share of capacity lost: percent or count")
        return self


class OutageFault(FaultSpecBase):
    """The whole component is down: calls are refused (``fail_fast``) or ``hang``."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = _SERVERS | _PROXY
    kind: Literal["outage"] = "outage"
    mode: CutMode = CutMode.FAIL_FAST


class BrownoutFault(FaultSpecBase):
    """Everything the component does takes ``factor`` times longer."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = _SERVERS
    kind: Literal["brownout"] = "brownout"
    factor: Annotated[float, Field(gt=1)]


class PartitionFault(FaultSpecBase):
    """The network between two components is cut (``between: [agent.orders,
    endpoint.large]``; ``orchestrator`` is the caller of agents)."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = frozenset(TargetKind) - _PROXY
    kind: Literal["partition"] = "partition"
    target: str = ""
    between: Annotated[list[str], Field(min_length=2, max_length=2)]
    mode: CutMode = CutMode.FAIL_FAST
    probability: Fraction = 1.0

    @model_validator(mode="after")
    def _target_kind(self) -> PartitionFault:  # replaces the base check: two sides here
        sides = []
        for i, side in enumerate(self.between):
            try:
                sides.append(Target.parse(side))
            except ValueError as exc:
                fail_at(("between", i), str(exc))
        if sides[0] == sides[1]:
            fail_at("between", "a partition needs two different sides")
        if self.target:
            fail_at("target", "a partition names its sides in between, not target")
        return self

    def sides(self) -> tuple[Target, Target]:
        a, b = (Target.parse(s) for s in self.between)
        return a, b

    @property
    def parsed_target(self) -> Target:
        return self.sides()[0]


class ColdStartStormFault(_Radius):
    """A ``percent`` (default all) of an agent's replicas restart at once and go through
    a cold start (``cold_start`` overrides its length): a bad rollout, a node drain."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = frozenset({TargetKind.AGENT})
    uses_duration: ClassVar[bool] = False
    kind: Literal["cold_start_storm"] = "cold_start_storm"
    cold_start: DurationDist | None = None


class ToxicFault(FaultSpecBase):
    """A toxic of ``squall proxy`` on ``proxy.NAME``, as Toxiproxy's API takes it:
    ``type`` (latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data,
    http_status, http_corrupt, sse_cut), ``attributes``, ``stream``, ``toxicity``."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = _PROXY
    kind: Literal["toxic"] = "toxic"
    type: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    stream: Literal["upstream", "downstream"] | None = None
    toxicity: Fraction = 1.0

    @model_validator(mode="after")
    def _toxic(self) -> ToxicFault:
        from faults.proxy.toxics import ToxicError, parse_toxic

        try:
            parse_toxic(self.toxic_json())
        except ToxicError as exc:
            fail_at("type", str(exc))
        return self

    def toxic_json(self) -> dict[str, Any]:
        """The toxic as Toxiproxy's API takes it (without its name)."""
        from faults.proxy.toxics import TOXICS

        stream = self.stream
        if stream is None:  # the stream the type acts on (downstream when either)
            streams = TOXICS[self.type].streams if self.type in TOXICS else ()
            stream = "upstream" if [s.value for s in streams] == ["upstream"] \
                else "downstream"
        return {"type": self.type, "stream": stream, "toxicity": self.toxicity,
                "attributes": self.attributes}


class CommandFault(FaultSpecBase):
    """Run ``start`` when the fault begins and ``stop`` when it ends or is rolled back
    (stopping and starting a container, a service): live runs only, and only with
    ``--allow-commands``. ``target`` names what the command breaks (for the report).
    Each command is an argument list (or a string split like a shell's words, without a
    shell), and must finish within ``timeout``."""

    kinds_allowed: ClassVar[frozenset[TargetKind]] = _ANY
    kind: Literal["command"] = "command"
    start: Annotated[list[str], Field(min_length=1)]
    stop: Annotated[list[str], Field(min_length=1)] | None = None
    timeout: PositiveDuration = 30.0

    @model_validator(mode="before")
    @classmethod
    def _words(cls, data: Any) -> Any:
        import shlex

        if isinstance(data, dict):
            data = dict(data)
            for key in ("start", "stop"):
                if isinstance(data.get(key), str):
                    try:
                        data[key] = shlex.split(data[key])
                    except ValueError as exc:
                        raise ValueError(f"{key}: {exc}") from None
        return data


FAULT_KINDS: dict[str, type[FaultSpecBase]] = {
    cls.kind_name(): cls
    for cls in (LatencyFault, ErrorFault, RateLimitFault, CrashFault, PartialOutageFault,
                OutageFault, BrownoutFault, PartitionFault, ColdStartStormFault, ToxicFault,
                CommandFault)
}


def _fault_kind(value: Any) -> str | None:
    if isinstance(value, FaultSpecBase):
        return value.kind_name()
    kind = value.get("kind") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def _fault_shape(value: Any) -> Any:
    if isinstance(value, FaultSpecBase):
        return value
    if not isinstance(value, dict):
        raise ValueError("a fault is a mapping with kind, target and at")
    kind = value.get("kind")
    if kind is None:
        raise ValueError(f"a fault needs a kind: {', '.join(FAULT_KINDS)}")
    if not isinstance(kind, str) or kind not in FAULT_KINDS:
        raise ValueError(
            f"unknown fault kind {kind!r}{did_you_mean(str(kind), FAULT_KINDS)}; "
            f"kinds: {', '.join(FAULT_KINDS)}"
        )
    return value


#: Any fault kind, chosen by its ``kind`` key (the members are the values of FAULT_KINDS).
FaultSpec = Annotated[
    Annotated[LatencyFault, Tag("latency")] | Annotated[ErrorFault, Tag("error")]
    | Annotated[RateLimitFault, Tag("rate_limit")] | Annotated[CrashFault, Tag("crash")]
    | Annotated[PartialOutageFault, Tag("partial_outage")] | Annotated[OutageFault, Tag("outage")]
    | Annotated[BrownoutFault, Tag("brownout")] | Annotated[PartitionFault, Tag("partition")]
    | Annotated[ColdStartStormFault, Tag("cold_start_storm")]
    | Annotated[ToxicFault, Tag("toxic")] | Annotated[CommandFault, Tag("command")],
    Discriminator(_fault_kind),
    BeforeValidator(_fault_shape),
]
