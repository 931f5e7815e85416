"""Comparing a candidate run with a baseline run.

Used for pilot validation (a candidate configuration against the current one), for
regression gates in CI (``latency.p95 <= baseline * 1.10``), and to set a live run
beside its simulated twin. The candidate is re-judged with the baseline at hand, so
baseline-relative gates are evaluated; per-metric deltas carry a permutation test when
both runs have replications.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError
from harness.gates.spec import Gate
from harness.judging.directory import judge_dir
from harness.metrics import METRICS, higher_is_better
from harness.records.reader import read_json
from harness.records.rundir import RunDir
from harness.scoring.model import GateResult, Summary, Verdict
from harness.scoring.stats import permutation_p

__all__ = ["HEADLINE", "Comparison", "Delta", "config_changes", "delta_table"]

#: Metrics shown first in a comparison.
HEADLINE = (
    "attainment", "success_rate", "window_adherence", "goodput_rps", "latency.p50",
    "latency.p95", "latency.p99", "recovery.max", "time_to_detect.max", "amplification",
    "fallback_rate", "cost.total_usd", "cost.per_good_request_usd", "cost.wasted_share",
    "resilience_score",
)
Figure = float | None


@dataclass(frozen=True)
class Delta:
    metric: str
    base: Figure
    candidate: Figure
    p_value: float | None = None  #: permutation test over replications, when both have them

    @property
    def change(self) -> Figure:
        if self.base is None or self.candidate is None:
            return None
        return self.candidate - self.base

    @property
    def relative(self) -> Figure:
        if self.change is None or not self.base:
            return None
        return self.change / abs(self.base)

    @property
    def better(self) -> bool | None:
        """Whether the candidate is better (None: equal, unknown, or a neutral figure
        such as the number of arrivals)."""
        direction = higher_is_better(self.metric)
        if not self.change or direction is None:
            return None
        return (self.change > 0) == direction

    def significant(self, alpha: float) -> bool | None:
        return None if self.p_value is None else bool(self.p_value < alpha)


@dataclass
class Comparison:
    base: Summary
    candidate: Summary
    deltas: list[Delta]
    changes: list[tuple[str, Any, Any]]  #: configuration paths that differ
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.05

    @property
    def gates(self) -> list[GateResult]:
        return self.candidate.gates

    @property
    def verdict(self) -> Verdict:
        return self.candidate.verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "base": {"scenario": self.base.scenario, "mode": self.base.mode,
                     "seed": self.base.seed, "replications": self.base.replications,
                     "verdict": self.base.verdict.value},
            "candidate": {"scenario": self.candidate.scenario, "mode": self.candidate.mode,
                          "seed": self.candidate.seed,
                          "replications": self.candidate.replications,
                          "verdict": self.candidate.verdict.value},
            "changes": [{"path": p, "base": b, "candidate": c} for p, b, c in self.changes],
            "deltas": [{"metric": d.metric, "base": d.base, "candidate": d.candidate,
                        "change": d.change, "relative": d.relative, "better": d.better,
                        "p_value": d.p_value, "significant": d.significant(self.alpha)}
                       for d in self.deltas],
            "gates": [json.loads(g.model_dump_json()) for g in self.gates],
            "verdict": self.verdict.value,
            "notes": self.notes,
        }


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of mappings with ids (faults) as a mapping by id, to diff item by item."""
    if items and all(isinstance(x, dict) and "id" in x for x in items):
        return {str(x["id"]): x for x in items}
    return None


def _diff(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, list) and isinstance(b, list):
        ka, kb = _keyed(a), _keyed(b)
        if ka is not None and kb is not None:
            a, b = ka, kb
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:  # a whole subtree on one side: one change
                yield sub, a.get(key), b.get(key)
            else:
                yield from _diff(a[key], b[key], sub)
    elif a != b:
        yield path, a, b


def config_changes(base: dict[str, Any] | None, candidate: dict[str, Any] | None,
                   limit: int = 50) -> list[tuple[str, Any, Any]]:
    """Scenario fields whose values differ (by dotted path; a subtree present on one side
    only is one change), the seed left out."""
    if base is None or candidate is None:
        return []
    changes = [(path, _brief(old), _brief(new)) for path, old, new
               in _diff(base, candidate, "") if path != "seed"]
    return changes[:limit]


def _brief(value: Any, most: int = 8) -> Any:
    """``value`` with long lists of numbers (an empirical distribution's samples) said in
    a few words, so a changed distribution reads as one line."""
    if isinstance(value, dict):
        return {k: _brief(v, most) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > most and all(isinstance(v, int | float) and not isinstance(v, bool)
                                     for v in value):
            mean = sum(value) / len(value)
            return f"{len(value)} values from {min(value):.4g} to {max(value):.4g}, " \
                   f"mean {mean:.4g}"
        return [_brief(v, most) for v in value]
    return value


def delta_table(base: Summary, candidate: Summary, seed: int = 0) -> list[Delta]:
    """Every metric both summaries know, headline metrics first."""
    rng = np.random.default_rng(seed)
    names = [m for m in HEADLINE if m in base.metrics or m in candidate.metrics]
    names += sorted(m for m in set(base.metrics) | set(candidate.metrics)
                    if m not in names and m in METRICS)
    out = []
    for name in names:
        p = None
        a = [v for v in base.samples.get(name, []) if v is not None]
        b = [v for v in candidate.samples.get(name, []) if v is not None]
        if len(a) >= 2 and len(b) >= 2:
            p = permutation_p(a, b, rng)
        out.append(Delta(name, base.metrics.get(name), candidate.metrics.get(name), p))
    return out


def load_summary(directory: Path) -> Summary:
    """A run directory's summary.json (``squall report`` re-creates a missing one)."""
    path = RunDir(directory).summary
    if not path.exists():
        raise InputError("no summary.json: run `squall report` on it first",
                         source=str(directory))
    try:
        return Summary.model_validate_json(path.read_text())
    except ValueError as exc:
        raise InputError(f"summary.json is not a Squall summary: {exc}",
                         source=str(directory)) from None


def scenario_data(directory: Path) -> dict[str, Any] | None:
    return read_json(RunDir(directory).scenario, [])


def compare_dirs(base_dir: Path, cand_dir: Path, *, gates: Sequence[Gate] = (),
                 alpha: float = 0.05, allow_different: bool = False) -> Comparison:
    """Compare two run directories; the candidate is re-judged against the baseline."""
    for d in (base_dir, cand_dir):
        if not d.is_dir():
            raise InputError("not a directory", source=str(d))
    base = load_summary(base_dir)
    base_data, cand_data = scenario_data(base_dir), scenario_data(cand_dir)
    cand_name = (cand_data or {}).get("name")
    if cand_name is not None and cand_name != base.scenario and not allow_different:
        raise InputError(
            f"these are runs of different scenarios: {base.scenario!r} and {cand_name!r}; "
            "pass --allow-different to compare them anyway", source="compare")
    candidate = judge_dir(cand_dir, gates=gates, baseline=base, write_summary=False)
    notes = []
    if base.mode != candidate.mode:
        notes.append(f"comparing a {candidate.mode} run with a {base.mode} run")
    if base.replications < 2 or candidate.replications < 2:
        notes.append("single runs: no significance test (use --replications on both)")
    changes = config_changes(base_data, cand_data)
    if not changes:
        notes.append("the two runs have the same configuration (seeds aside)")
    return Comparison(base, candidate, delta_table(base, candidate), changes, notes, alpha)
