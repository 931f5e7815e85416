"""``summary.json``: the score of a run and its verdict, as typed data.

The fields DESIGN.md names are always present (null where a figure cannot be known);
``metrics`` holds every figure by its gate name (``latency.p95``), ``phases`` and
``workflows`` the same figures per phase and per workflow.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CostSummary",
    "GateResult",
    "GateStatus",
    "LatencySummary",
    "PhaseSummary",
    "RecoverySummary",
    "RequestCounts",
    "Resilience",
    "SlaSummary",
    "Summary",
    "Verdict",
]

Figure = float | None


class Verdict(StrEnum):
    PASS = "pass"  #: every gate passed on a complete, undamaged run
    FAIL = "fail"  #: a gate failed
    #: no verdict could be reached: an interval straddles a threshold, or the run is
    #: partial or damaged (a run that did not finish can never pass)
    INCONCLUSIVE = "inconclusive"
    ABORTED = "aborted"  #: a stop condition fired
    NONE = "none"  #: the run has no gates: there is nothing to pass


class GateStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"  #: a baseline-relative gate in a run without a baseline


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class RequestCounts(_Model):
    total: int = 0
    ok: int = 0
    error: int = 0
    timeout: int = 0
    rejected: int = 0
    dropped: int = 0


class LatencySummary(_Model):
    """Latency of successful requests, seconds from their intended start."""

    p50: Figure = None
    p90: Figure = None
    p95: Figure = None
    p99: Figure = None
    p999: Figure = None
    max: Figure = None
    mean: Figure = None


class SlaSummary(_Model):
    objective_s: float
    attainment: Figure = None
    window_adherence: Figure = None
    availability: float = 0.99
    percentile: float = 95.0
    window_s: float = 10.0
    windows: int = 0
    compliant_windows: int = 0


class RecoverySummary(_Model):
    fault: str
    kind: str
    target: str
    start_s: float
    end_s: Figure = None
    absorbed: bool = False
    time_to_detect_s: Figure = None
    recovery_time_s: Figure = None
    recovery_after_end_s: Figure = None
    #: Faults whose impact overlaps this one's: its figures cannot be told apart from
    #: theirs (see :mod:`harness.scoring.recovery`).
    confounded_by: list[str] = Field(default_factory=list)
    #: The records end before recovery could be confirmed: recovery is unknown, not never.
    unknown: bool = False
    #: Counterfactual attribution (``squall run --attribute``): attainment of the same run,
    #: same seed and arrivals, without this fault, and how much lower it is with it.
    attainment_without: Figure = None
    attainment_loss: Figure = None


class CostSummary(_Model):
    total_usd: Figure = None
    llm_usd: Figure = None
    compute_usd: Figure = None
    per_good_request_usd: Figure = None
    wasted_usd: Figure = None
    wasted_share: Figure = None
    cold_starts: int = 0


class Resilience(_Model):
    """The 0–100 composite: ``score = 100 × Σ weight × component``, each component in
    [0, 1]. The components and weights are reported beside the score."""

    score: Figure = None
    weights: dict[str, float] = Field(default_factory=dict)
    components: dict[str, Figure] = Field(default_factory=dict)


class PhaseSummary(_Model):
    name: str  #: a phase (baseline, fault, recovery, after) or a fault id
    scope: str = "phase"  #: ``phase`` or ``fault``
    start_s: float
    end_s: float
    seconds: float
    metrics: dict[str, Figure] = Field(default_factory=dict)
    intervals: dict[str, tuple[float, float] | None] = Field(default_factory=dict)


class GateResult(_Model):
    name: str
    passed: bool | None
    status: GateStatus
    value: Figure = None
    threshold: Figure = None
    reason: str = ""
    metric: str = ""
    interval: tuple[float, float] | None = None  #: with replications: the value's 95% CI

    def shown(self, which: str = "value") -> str:
        """The value (or threshold) in the metric's unit, for people."""
        from harness.metrics import format_value

        return format_value(self.metric, getattr(self, which))


class Summary(_Model):
    version: int = 1
    scenario: str
    mode: str
    seed: int
    duration_s: float
    requests: RequestCounts
    latency_s: LatencySummary
    sla: SlaSummary
    goodput_rps: Figure = None
    throughput_rps: Figure = None
    recovery: list[RecoverySummary] = Field(default_factory=list)
    cost: CostSummary
    resilience_score: Figure = None
    resilience: Resilience = Field(default_factory=Resilience)
    burn_rate: dict[str, Figure] = Field(default_factory=dict)
    metrics: dict[str, Figure] = Field(default_factory=dict)
    phases: list[PhaseSummary] = Field(default_factory=list)
    workflows: dict[str, dict[str, Figure]] = Field(default_factory=dict)
    gates: list[GateResult] = Field(default_factory=list)
    verdict: Verdict = Verdict.PASS
    missing: list[str] = Field(default_factory=list)
    #: Why the run cannot pass whatever its gates say (a load generator that lagged)
    doubts: list[str] = Field(default_factory=list)
    stopped_by: str | None = None  #: the stop condition that aborted the run
    #: A live run's load generator: send lag p50/p99/max, threshold, lag per window
    generator: dict[str, Any] | None = None
    warmup_s: float = 0.0  #: requests that arrived before this were not scored
    #: With replications: how many, each metric's 95% interval, and per-replication values.
    replications: int = 1
    seeds: list[int] = Field(default_factory=list)
    intervals: dict[str, tuple[float, float] | None] = Field(default_factory=dict)
    workflow_intervals: dict[str, dict[str, tuple[float, float] | None]] = Field(
        default_factory=dict)
    samples: dict[str, list[Figure]] = Field(default_factory=dict)
