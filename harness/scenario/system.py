"""The agent system as data: endpoints, tools, agents, workflows. The policy specs
they use (retry, breaker, balancer, autoscaler) live in :mod:`harness.scenario.policies`
and are re-exported here.

Server-side behaviour (latency, capacity, rate limits, prices) belongs to endpoints and
tools; client-side behaviour (timeouts, retries, breakers, fallbacks) belongs to the
caller: an agent's LLM call, or the orchestrator's call to an agent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    PositiveFloat,
    PositiveInt,
    Tag,
    model_validator,
)

from harness.demand.arrivals import Priority
from harness.dists import Constant, CountDist, DurationDist
from harness.scenario.policies import (
    Autoscaler,
    Backoff,
    Balancer,
    BalancerKind,
    CircuitBreaker,
    Jitter,
    LowPriority,
    Retry,
    ScaleMetric,
    ScaleUp,
)
from harness.spec import Name, Spec, fail_at, shorthand
from harness.units import Duration, Fraction, NonNegFloat, PositiveDuration

__all__ = [
    "Agent",
    "AgentStep",
    "Autoscaler",
    "Backoff",
    "Balancer",
    "BalancerKind",
    "CircuitBreaker",
    "DelegateStep",
    "Endpoint",
    "Jitter",
    "Join",
    "LlmCall",
    "ParallelStep",
    "Price",
    "RateLimit",
    "Replicas",
    "Retry",
    "ScaleMetric",
    "ScaleUp",
    "Step",
    "System",
    "Tool",
    "ToolCall",
    "Workflow",
]


# --- endpoints and tools (server side) -------------------------------------------------


class RateLimit(Spec):
    """Requests and tokens per minute, as token buckets (what LLM providers enforce)."""

    rpm: PositiveFloat | None = None
    tpm: PositiveFloat | None = None
    retry_after: Duration | None = None  #: fixed Retry-After; default: until the bucket refills
    #: the period ``rpm`` and ``tpm`` count over: a minute (a time-scaled run shortens it,
    #: so the buckets keep their size and refill K times faster)
    per: PositiveDuration = 60.0

    @property
    def limits(self) -> tuple[float | None, float | None, float]:
        return self.rpm, self.tpm, self.per

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimit:
        if self.rpm is None and self.tpm is None:
            raise ValueError("give rpm, tpm or both")
        return self


class Price(Spec):
    """USD per token, as in LiteLLM's price table (not per 1k tokens)."""

    input_per_token: NonNegFloat = 0.0
    output_per_token: NonNegFloat = 0.0

    def of(self, tokens_in: int, tokens_out: int) -> float:
        """USD for a call of so many tokens."""
        return tokens_in * self.input_per_token + tokens_out * self.output_per_token


class Endpoint(Spec):
    """An LLM endpoint. Latency is ``ttft + per_token × (output tokens − 1)`` (aiperf's
    definition), or a whole-call ``latency`` distribution."""

    ttft: DurationDist | None = None
    per_token: DurationDist = Constant(mean=0.0)
    latency: DurationDist | None = None
    concurrency: PositiveInt | None = None  #: in-flight calls served at once; None: unlimited
    queue_limit: Annotated[int, Field(ge=0)] | None = None  #: waiting calls beyond this: 503
    rate_limit: RateLimit | None = None
    price: Price = Price()
    error_rate: Fraction = 0.0  #: baseline fraction of calls failing with a 5xx
    description: str = ""

    @model_validator(mode="after")
    def _latency_form(self) -> Endpoint:
        if (self.ttft is None) == (self.latency is None):
            raise ValueError("give ttft (with per_token) or latency, not both or neither")
        return self


class Tool(Spec):
    """A tool the agents call (a search API, a database, a payment gateway)."""

    latency: DurationDist
    concurrency: PositiveInt | None = None
    queue_limit: Annotated[int, Field(ge=0)] | None = None
    error_rate: Fraction = 0.0
    price_per_call: NonNegFloat = 0.0
    description: str = ""


# --- agents ----------------------------------------------------------------------------


class Replicas(Spec):
    """``replicas: 3`` is ``{initial: 3}``. ``min`` defaults to ``initial``, ``max`` to
    the larger of the two."""

    initial: Annotated[int, Field(ge=0)]
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Replicas:
        lo, hi = self.lower, self.upper
        if hi < lo:
            fail_at("max", f"max ({hi}) is below min ({lo})")
        if not lo <= self.initial <= hi:
            fail_at("initial", f"initial ({self.initial}) is outside min..max ({lo}..{hi})")
        return self

    @property
    def lower(self) -> int:
        return self.initial if self.min is None else self.min

    @property
    def upper(self) -> int:
        return max(self.initial, self.lower) if self.max is None else self.max


class LlmCall(Spec):
    """The LLM calls an agent makes per invocation, with client-side resilience."""

    endpoint: Name
    input_tokens: CountDist = Constant(mean=500)
    output_tokens: CountDist = Constant(mean=100)
    calls: CountDist = Constant(mean=1)
    timeout: PositiveDuration | None = None
    retry: Retry | None = None
    circuit_breaker: CircuitBreaker | None = None
    fallback: Annotated[list[Name], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] \
        = Field(default_factory=list)  #: endpoints tried in order when this one fails


class ToolCall(Spec):
    tool: Name
    calls: CountDist = Constant(mean=1)
    timeout: PositiveDuration | None = None
    retry: Retry | None = None


class Agent(Spec):
    replicas: Annotated[Replicas, BeforeValidator(shorthand("initial"))]
    concurrency: PositiveInt = 1  #: calls one replica serves at once
    queue_limit: Annotated[int, Field(ge=0)] | None = None  #: waiting calls beyond this: shed
    service_time: DurationDist = Constant(mean=0.0)
    llm: Annotated[list[LlmCall], BeforeValidator(lambda v: [v] if isinstance(v, dict) else v)] \
        = Field(default_factory=list)
    tools: list[ToolCall] = Field(default_factory=list)
    timeout: PositiveDuration | None = None  #: the orchestrator's timeout per attempt
    retry: Retry | None = None
    circuit_breaker: CircuitBreaker | None = None
    fallback: Annotated[list[Name], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] \
        = Field(default_factory=list)  #: agents tried in order when this one fails
    balancer: Annotated[Balancer, BeforeValidator(shorthand("kind"))] = Balancer()
    low_priority: LowPriority | None = None
    autoscaler: Autoscaler | Literal[False] | None = None  #: None: the system's; false: none
    cold_start: DurationDist | None = None  #: overrides the autoscaler's
    compute_price_per_s: NonNegFloat | None = None  #: USD per replica-second
    description: str = ""


# --- workflows -------------------------------------------------------------------------


class AgentStep(Spec):
    agent: Name
    optional: bool = False  #: a failure does not fail the workflow


class Join(Spec):
    """How a parallel step completes: ``all``, ``any`` or ``{quorum: k}``."""

    mode: Literal["all", "any", "quorum"] = "all"
    quorum: PositiveInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"mode": data}
        if isinstance(data, dict) and set(data) == {"quorum"}:
            return {"mode": "quorum", "quorum": data["quorum"]}
        return data

    @model_validator(mode="after")
    def _quorum(self) -> Join:
        if (self.mode == "quorum") != (self.quorum is not None):
            raise ValueError("write join: {quorum: K}")
        return self

    def needed(self, branches: int) -> int:
        if self.mode == "all":
            return branches
        if self.mode == "any":
            return 1
        return self.quorum or branches


class ParallelStep(Spec):
    parallel: list[Step] = Field(min_length=1)
    join: Join = Join()
    optional: bool = False

    @model_validator(mode="after")
    def _quorum_fits(self) -> ParallelStep:
        if self.join.quorum is not None and self.join.quorum > len(self.parallel):
            raise ValueError(f"quorum {self.join.quorum} exceeds the {len(self.parallel)} branches")
        return self


class DelegateStep(Spec):
    """Run another workflow's steps here (delegation to a sub-workflow)."""

    workflow: Name
    optional: bool = False


_STEP_KEYS = {"agent": "agent", "parallel": "parallel", "workflow": "workflow"}


def _step_kind(value: Any) -> str | None:
    if isinstance(value, AgentStep | ParallelStep | DelegateStep):
        return {AgentStep: "agent", ParallelStep: "parallel", DelegateStep: "workflow"}[type(value)]
    if isinstance(value, str):
        return "agent"
    if isinstance(value, dict):
        for key, tag in _STEP_KEYS.items():
            if key in value:
                return tag
    return None


def _step_shape(value: Any) -> Any:
    if isinstance(value, AgentStep | ParallelStep | DelegateStep):
        return value
    if isinstance(value, str):
        return {"agent": value}
    if isinstance(value, dict) and _step_kind(value) is None:
        raise ValueError("a step is an agent name, {agent: ...}, {parallel: [...]} or "
                         "{workflow: ...}")
    if not isinstance(value, dict):
        raise ValueError(f"a step is an agent name or a mapping, got {value!r}")
    return value


Step = Annotated[
    Annotated[AgentStep, Tag("agent")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[DelegateStep, Tag("workflow")],
    Discriminator(_step_kind),
    BeforeValidator(_step_shape),
]


class Workflow(Spec):
    steps: list[Step] = Field(min_length=1)
    weight: PositiveFloat = 1.0  #: share of arrivals (normalised over workflows)
    priority: Priority = Priority.NORMAL
    deadline: PositiveDuration | None = None  #: end-to-end limit: past it the request times out
    retry: Retry | None = None  #: retry the whole workflow after a failed step
    checkpoint: bool = False  #: a retried workflow resumes after its last completed step
    description: str = ""


ParallelStep.model_rebuild()


class System(Spec):
    endpoints: dict[Name, Endpoint] = Field(default_factory=dict)
    tools: dict[Name, Tool] = Field(default_factory=dict)
    agents: dict[Name, Agent] = Field(min_length=1)
    autoscaler: Autoscaler | None = None
    workflows: dict[Name, Workflow] = Field(min_length=1)
    #: Each request's time outside every agent call: the client's send, its hop to the
    #: orchestrator and back, and the orchestrator's own work between steps. A live system
    #: has its own (the reference system adds nothing for it); the simulator spends it
    #: before a request's first step. ``squall calibrate`` fits it from a live run.
    request_overhead: DurationDist = Constant(mean=0.0)

    @model_validator(mode="after")
    def _inherit_autoscaler(self) -> System:
        """An agent's own ``autoscaler`` overrides only the fields it sets: the rest come
        from the system's. Resolved here, once, so the stored (canonical) scenario holds
        the effective settings and reading it back changes nothing."""
        if self.autoscaler is None:
            return self
        agents = dict(self.agents)
        for name, agent in self.agents.items():
            own = agent.autoscaler
            if isinstance(own, Autoscaler) and own.model_fields_set != set(Autoscaler.model_fields):
                merged = self.autoscaler.model_copy(
                    update={k: getattr(own, k) for k in own.model_fields_set})
                merged = Autoscaler.model_validate(merged.model_dump())  # all fields now set
                agents[name] = agent.model_copy(update={"autoscaler": merged})
        return self.model_copy(update={"agents": agents})

    def cold_start_for(self, agent: str) -> DurationDist | None:
        """The cold start ``agent``'s replicas take: its own, else its autoscaler's."""
        own = self.agents[agent].cold_start
        if own is not None:
            return own
        scaler = self.autoscaler_for(agent)
        return scaler.cold_start if scaler is not None else None

    def autoscaler_for(self, agent: str) -> Autoscaler | None:
        """The autoscaler that governs ``agent``, if any and if it may scale
        (``autoscaler: false`` turns scaling off for the agent)."""
        spec = self.agents[agent]
        own = spec.autoscaler
        if own is False:
            return None
        scaler = self.autoscaler if own is None else own
        if scaler is None or not scaler.enabled:
            return None
        return scaler if spec.replicas.upper > spec.replicas.lower else None

