"""The whole scenario: a system, a demand, faults, an SLA, gates, cost and record settings."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as _PydanticError
from pydantic_core import InitErrorDetails, PydanticCustomError

from faults.specs import FaultSpec, FaultSpecBase
from harness.gates.spec import Gate, parse_gate
from harness.scenario.checks import cross_reference
from harness.scenario.demand import Demand
from harness.scenario.live import Live, StopCondition
from harness.scenario.system import System
from harness.scenario.target import ReferenceTarget, TargetSpec
from harness.spec import Name, Spec
from harness.units import Fraction, NonNegFloat, PositiveDuration

__all__ = ["HOPS", "Calibrated", "Cost", "Records", "Scenario", "Sla", "StackHop"]


class Sla(Spec):
    """A request is *good* when it succeeds within ``objective``. A window is compliant
    when its ``percentile`` latency is within the objective and its error rate within
    the budget (1 − availability)."""

    objective: PositiveDuration
    availability: Fraction = 0.99
    window: PositiveDuration = 10.0
    percentile: Annotated[float, Field(gt=0, lt=100)] = 95.0
    stability: PositiveInt = 3  #: compliant windows in a row that count as recovered
    burn_windows: tuple[PositiveDuration, PositiveDuration] = (300.0, 3600.0)

    @property
    def error_budget(self) -> float:
        return 1.0 - self.availability


class Cost(Spec):
    compute_price_per_s: NonNegFloat = 0.0  #: USD per replica-second, unless an agent sets its own
    cold_start_usd: NonNegFloat = 0.0  #: USD per replica start
    currency: str = "USD"


class Records(Spec):
    step: PositiveDuration = 1.0  #: timeseries sampling step
    spans: bool = True  #: one row per agent / LLM / tool call attempt
    #: How long in-flight requests may finish after the last arrival (k6's gracefulStop);
    #: default max(30 s, 3 × the SLA objective). Still unanswered then: ``dropped``.
    drain: PositiveDuration | None = None


def _gate(text: str) -> str:
    parse_gate(text)
    return text


def _scoped_mapping(value: Any) -> Any:
    """YAML reads ``- during x: error_rate < 5%`` as ``{"during x": "error_rate < 5%"}``:
    take that as the gate it looks like."""
    if isinstance(value, dict) and len(value) == 1:
        scope, expr = next(iter(value.items()))
        return f"{scope}: {expr}"
    return value


#: A gate such as ``attainment >= 97%`` (see :mod:`harness.gates.spec`).
GateText = Annotated[
    str, BeforeValidator(_scoped_mapping), AfterValidator(_gate),
    Field(json_schema_extra={"examples": ["attainment >= 97%"]}),
]


#: the kinds of hop ``calibrated.stack`` records
HOPS = ("request", "agent", "llm", "tool")


class StackHop(Spec):
    """The live stack's overhead on one kind of hop, in wall seconds: the caller's time
    less the callee's own."""

    n: PositiveInt  #: hops measured
    per_request: NonNegFloat  #: hops of this kind per request
    mean_s: NonNegFloat
    p50_s: NonNegFloat
    p95_s: NonNegFloat


class Calibrated(Spec):
    """Where a twin's system model was fitted from, written by ``squall calibrate``; the
    engines ignore it. The live stack's overhead per hop is inside the fitted times,
    ``time_scale``× longer in scenario time than in wall time: knowing it, ``squall
    fidelity`` can tell a machine running slower or faster than in the pilot from a
    model that is off."""

    source: str = ""
    time_scale: Annotated[float, Field(gt=0)] = 1.0  #: the pilot's
    #: per hop: ``request`` (the load generator to the orchestrator and back, with the
    #: orchestrator's own work), ``agent`` (orchestrator → agent), ``llm`` and ``tool``
    #: (agent → LLM endpoint or tool)
    stack: dict[str, StackHop] = Field(default_factory=dict)

    @field_validator("stack")
    @classmethod
    def _hops(cls, value: dict[str, StackHop]) -> dict[str, StackHop]:
        unknown = sorted(set(value) - set(HOPS))
        if unknown:
            raise ValueError(f"no hop {', '.join(map(repr, unknown))}: the hops are "
                             f"{', '.join(HOPS)}")
        return value


class Scenario(Spec):
    name: Name
    description: str = ""
    seed: int = 0
    duration: PositiveDuration
    system: System
    demand: Demand
    faults: list[FaultSpec] = Field(default_factory=list)
    sla: Sla
    gates: list[GateText] = Field(default_factory=list)
    cost: Cost = Cost()
    records: Records = Records()
    live: Live = Live()  #: how ``--mode live`` drives the system (ignored by sim)
    target: TargetSpec = Field(default_factory=ReferenceTarget)  #: what ``--mode live`` drives
    stop_conditions: list[StopCondition] = Field(default_factory=list)
    calibrated: Calibrated | None = None  #: a twin's provenance (``squall calibrate``)

    @model_validator(mode="before")
    @classmethod
    def _extensions(cls, data: Any) -> Any:
        """Top-level keys starting with ``x-`` are the author's own (a place for YAML
        anchors, as in Compose files): they are ignored."""
        if isinstance(data, dict) and any(isinstance(k, str) and k.startswith("x-")
                                          for k in data):
            data = {k: v for k, v in data.items()
                    if not (isinstance(k, str) and k.startswith("x-"))}
        return data

    @model_validator(mode="before")
    @classmethod
    def _fault_ids(cls, data: Any) -> Any:
        """Give every fault without an ``id`` the id ``KIND-N``."""
        if isinstance(data, dict) and isinstance(data.get("faults"), list):
            faults = []
            for i, raw in enumerate(data["faults"]):
                fault = raw
                if isinstance(raw, dict) and raw.get("id") is None and "kind" in raw:
                    fault = {**raw, "id": f"{raw['kind']}-{i}".replace("_", "-")}
                elif isinstance(raw, FaultSpecBase) and raw.id is None:
                    fault = raw.model_copy(
                        update={"id": f"{raw.kind_name()}-{i}".replace("_", "-")})
                faults.append(fault)
            data = {**data, "faults": faults}
        return data

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        problems = cross_reference(self)
        if problems:
            raise _PydanticError.from_exception_data(
                "Scenario",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("reference", msg), loc=loc, input=None
                    )
                    for loc, msg in problems
                ],
            )
        return self

    # --- conveniences ------------------------------------------------------------------

    @property
    def fault_list(self) -> list[FaultSpecBase]:
        return list(self.faults)

    def simulated_faults(self) -> list[FaultSpecBase]:
        """The faults as the simulator applies them: one on ``proxy.NAME`` goes to the
        component the proxy stands for. A ValueError names a fault the model cannot
        apply (a command, a toxic without a simulated equivalent, a proxy that stands
        for nothing)."""
        from faults.proxy.mapping import model_for
        from faults.specs import CommandFault, TargetKind

        proxies = getattr(self.target, "proxies", {})
        out: list[FaultSpecBase] = []
        for fault in self.faults:
            if isinstance(fault, CommandFault):
                raise ValueError(f"fault {fault.id!r} runs a command: the simulator cannot "
                                 "know what it does; run it with --mode live")
            target = fault.parsed_target
            if target.kind is not TargetKind.PROXY:
                out.append(fault)
                continue
            stands_for = proxies[target.name].stands_for
            if stands_for is None:
                raise ValueError(f"fault {fault.id!r} targets {target}, which stands for no "
                                 f"component of the model: set target.proxies.{target.name}"
                                 ".stands_for (endpoint.NAME, tool.NAME …) to simulate it")
            try:
                out.append(model_for(fault, stands_for))
            except ValueError as exc:
                raise ValueError(f"fault {fault.id!r} on {target}: {exc}") from None
        return out

    def gate_list(self) -> list[Gate]:
        return [parse_gate(g) for g in self.gates]

    def canonical(self) -> dict[str, Any]:
        """The scenario as plain data (durations in seconds), stable for hashing; without
        a twin's provenance, which changes nothing that runs."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=False,
                               exclude={"calibrated"})

    def digest(self) -> str:
        """SHA-256 of the canonical form: equal scenarios have equal digests."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
