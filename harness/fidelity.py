"""Sim-vs-live fidelity: one scenario run in both engines on the same arrivals, and how
far the twin is from the system.

Each check compares one figure of the simulated run with the live run's, within a
tolerance: a share of the simulated value (``relative``), an amount in the figure's unit
(``absolute``), or the larger of the two when both are given.

=====================  ==========================================  ==================
check                  figure                                      default tolerance
=====================  ==========================================  ==================
``latency.p50/95/99``  latency of successful requests              10%
``attainment``         share of requests good within the SLA       0.02 (2 points)
``errors.KIND``        share of requests failed with KIND          0.02 (2 points)
``recovery.FAULT``     recovery time of each fault                 20% or 5 s (†)
``replicas.AGENT``     mean gap of ready replicas over the run     10% or 0.5
``cost.total_usd``     the run's cost                              5%
=====================  ==========================================  ==================

(†) and never less than one SLA window: a recovery moment is a window's start, so two
runs recovering a moment apart can differ by a whole window — a gap the measurement
cannot resolve is not a gap.

A figure neither run has is left out; one that only one run has fails (one engine saw
something the other did not). A live run that is not complete, or whose load generator
fell behind, makes the comparison inconclusive: its figures do not describe the system.

Some figures are ill-conditioned: a recovery time is the first moment after which the SLI
stays compliant for several windows, so when the SLI hovers near its objective, a small
difference moves it by whole minutes — in either engine. With replications (the twin run
again on the same arrivals under other seeds: other service times, errors and cold
starts) each check also carries the twin's own range of the figure (for
``replicas.AGENT``, of the mean ready replicas): where one more run of the twin would put
it 19 times in 20 (:func:`twin_range`), and says whether the live figure falls
inside it: a gap the twin's own luck explains is not evidence against the twin. Such a
check — outside its tolerance, inside the twin's range — is *unresolved*: on these
arrivals the figure varies more with the system's luck than the tolerance allows, so one
paired comparison cannot tell. The verdict is FAIL when any
check is outside both, INCONCLUSIVE when the only misses are unresolved (more
replications, a longer run or a wider tolerance can settle them), PASS otherwise.

A twin fitted from a live pilot (``squall calibrate``) carries the live stack's overhead
per hop inside its fitted times, K× longer in scenario time at a time scale of K; a
machine running slower or faster in the check than in the pilot moves every latency on
its own (:mod:`harness.calibrate.stack`). When that drift alone moves the p50 latency by
more than half its tolerance, the comparison is in doubt (INCONCLUSIVE): it would judge
the machine, not the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.calibrate.stack import StackDrift, drift
from harness.records.reader import RunData, read_run
from harness.scenario.model import Calibrated
from harness.scoring.model import Summary, Verdict
from harness.scoring.stats import prediction
from harness.units import parse_duration

__all__ = ["DEFAULT_TOLERANCES", "Check", "Fidelity", "Tolerance", "judge_fidelity",
           "parse_tolerance", "tolerance_for", "twin_range"]


@dataclass(frozen=True)
class Tolerance:
    relative: float | None = None  #: a share of the simulated value
    absolute: float | None = None  #: in the figure's unit

    def bound(self, sim: float) -> float:
        rel = (self.relative or 0.0) * abs(sim)
        return max(rel, self.absolute or 0.0)

    def __str__(self) -> str:
        parts = []
        if self.relative is not None:
            parts.append(f"{100 * self.relative:g}%")
        if self.absolute is not None:
            parts.append(f"{self.absolute:g}")
        return " or ".join(parts) or "exact"


#: Family → tolerance (``errors``, ``recovery`` and ``replicas`` cover every kind,
#: fault and agent; a name such as ``recovery.slow-llm`` overrides its family).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "latency.p50": Tolerance(relative=0.10), "latency.p95": Tolerance(relative=0.10),
    "latency.p99": Tolerance(relative=0.10), "attainment": Tolerance(absolute=0.02),
    "errors": Tolerance(absolute=0.02), "recovery": Tolerance(relative=0.20, absolute=5.0),
    "replicas": Tolerance(relative=0.10, absolute=0.5),
    "cost.total_usd": Tolerance(relative=0.05),
}


def parse_tolerance(text: str) -> tuple[str, Tolerance]:
    """``NAME=VALUE[,VALUE]``: ``latency.p95=15%``, ``recovery=20%,5s``, ``attainment=0.03``."""
    name, eq, raw = text.partition("=")
    if not eq or not name.strip() or not raw.strip():
        raise ValueError(f"{text!r} is not NAME=VALUE (e.g. latency.p95=15% or "
                         "recovery=20%,5s)")
    relative = absolute = None
    for piece in raw.split(","):
        part = piece.strip()
        try:
            if part.endswith("%"):
                relative = float(part[:-1]) / 100
            else:
                absolute = parse_duration(part) if part[-1:].isalpha() else float(part)
        except ValueError:
            raise ValueError(f"{part!r} in {text!r} is not a percentage, a number or a "
                             "duration") from None
    for value in (relative, absolute):
        if value is not None and (value < 0 or not math.isfinite(value)):
            raise ValueError(f"{text!r}: a tolerance is zero or more")
    return name.strip(), Tolerance(relative, absolute)


@dataclass(frozen=True)
class Check:
    name: str
    sim: float | None
    live: float | None
    tolerance: Tolerance
    gap: float | None = None  #: how far apart (default |live − sim|)
    note: str = ""
    #: the twin's own range of this figure over replications on the same arrivals (where
    #: one more run falls 19 times in 20, at least their min–max),
    #: None without replications; a recovery the twin never made counts as +inf
    spread: tuple[float, float] | None = None

    @property
    def within_spread(self) -> bool | None:
        """Is the live figure one the twin itself produces on these arrivals?"""
        live = self.live
        if live is None and self.name.startswith("recovery."):
            live = math.inf  # never recovered: inside a range that reaches "never"
        if self.spread is None or live is None:
            return None
        lo, hi = self.spread
        return lo - 1e-12 <= live <= hi + 1e-12

    @property
    def status(self) -> str:
        """``within`` its tolerance; ``unresolved``: outside it, but inside the twin's own
        range; ``outside``: outside both (or no range to ask)."""
        if self.passed:
            return "within"
        return "unresolved" if self.within_spread else "outside"

    @property
    def difference(self) -> float | None:
        if self.gap is not None:
            return self.gap
        if self.sim is None or self.live is None:
            return None
        return abs(self.live - self.sim)

    @property
    def relative(self) -> float | None:
        if self.sim is None or self.live is None or not self.sim:
            return None
        return (self.live - self.sim) / abs(self.sim)

    @property
    def passed(self) -> bool:
        if self.sim is None and self.live is None:
            return True  # both agree there is nothing (a fault neither recovered from)
        diff = self.difference
        if diff is None or self.sim is None:
            return False
        return diff <= self.tolerance.bound(self.sim) + 1e-12

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.name, "sim": self.sim, "live": self.live,
                               "difference": self.difference, "relative": self.relative,
                               "tolerance": str(self.tolerance), "passed": self.passed,
                               "status": self.status, "note": self.note}
        if self.spread is not None:
            lo, hi = self.spread
            out["twin_range"] = [lo, None if math.isinf(hi) else hi]
            out["within_twin_range"] = self.within_spread
        return out


@dataclass
class Fidelity:
    checks: list[Check]
    sim_dir: Path
    live_dir: Path
    doubts: list[str] = field(default_factory=list)  #: why the live run does not count
    stack: StackDrift | None = None  #: the live stack against the twin's pilot

    @property
    def verdict(self) -> Verdict:
        if self.doubts:  # the live figures do not describe the system
            return Verdict.INCONCLUSIVE
        statuses = {c.status for c in self.checks}
        if "outside" in statuses:
            return Verdict.FAIL
        return Verdict.INCONCLUSIVE if "unresolved" in statuses else Verdict.PASS

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "sim": str(self.sim_dir),
                "live": str(self.live_dir), "doubts": self.doubts,
                "stack": None if self.stack is None else self.stack.to_json(),
                "checks": [c.to_json() for c in self.checks]}


def tolerance_for(name: str, tolerances: Mapping[str, Tolerance],
                  window: float = 0.0) -> Tolerance:
    """A check's tolerance: its own, its family's, or the default; a recovery time's is
    never finer than ``window``, the SLA window it is read on."""
    head = name.split(".", maxsplit=1)[0]
    family = head if head in ("errors", "recovery", "replicas") else name
    found = tolerances.get(name) or tolerances.get(family) or DEFAULT_TOLERANCES[family]
    if family == "recovery" and window > (found.absolute or 0.0):
        return replace(found, absolute=window)
    return found


def _error_shares(req: pd.DataFrame) -> dict[str, float]:
    n = len(req)
    if not n:
        return {}
    counts = req["error_kind"].dropna().astype(str).value_counts()
    return {str(k): float(v) / n for k, v in counts.items()}


def _recovery(summary: Summary) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for rec in summary.recovery:
        out[rec.fault] = 0.0 if rec.absorbed else rec.recovery_time_s
    return out


def _ready(run: RunData, step: float, duration: float) -> dict[str, np.ndarray]:
    """Ready replicas per agent on the grid ``0, step, …`` (NaN where not sampled)."""
    ts = run.timeseries
    out: dict[str, np.ndarray] = {}
    if ts is None or ts.empty:
        return out
    agents = ts[ts["kind"].astype(str) == "agent"]
    cells = int(duration // step) + 1
    for name, rows in agents.groupby(agents["component"].astype(str), observed=True):
        grid = np.full(cells, np.nan)
        index = np.clip(np.round(rows["t_s"].to_numpy(dtype=float) / step).astype(int),
                        0, cells - 1)
        grid[index] = rows["ready"].to_numpy(dtype=float)
        out[str(name)] = grid
    return out


def _mean_ready(run: RunData) -> dict[str, float]:
    """Each agent's ready replicas, averaged over the run's samples."""
    ts = run.timeseries
    if ts is None or ts.empty:
        return {}
    agents = ts[ts["kind"].astype(str) == "agent"]
    return {str(name): float(ready.mean()) for name, ready in
            agents.groupby(agents["component"].astype(str), observed=True)["ready"]}


def figures(run_dir: Path, summary: Summary) -> dict[str, float | None]:
    """The figures of a run that replications can spread: latency, attainment, error
    shares, recovery (None: never recovered), each agent's mean ready replicas, and
    cost."""
    out: dict[str, float | None] = {f"latency.{q}": getattr(summary.latency_s, q)
                                    for q in ("p50", "p95", "p99")}
    out["attainment"] = summary.sla.attainment
    run = read_run(run_dir)
    for kind, share in _error_shares(run.requests).items():
        out[f"errors.{kind}"] = share
    for name, mean in _mean_ready(run).items():
        out[f"replicas.{name}"] = mean
    for fault, value in _recovery(summary).items():
        out[f"recovery.{fault}"] = value
    out["cost.total_usd"] = summary.cost.total_usd
    return out


def _spreads(replicas: Sequence[tuple[Path, Summary]]) -> dict[str, tuple[float, float]]:
    seen: dict[str, list[float]] = {}
    for run_dir, summary in replicas:
        for name, value in figures(run_dir, summary).items():
            seen.setdefault(name, []).append(math.inf if value is None else value)
    out = {}
    for name, values in seen.items():
        # a kind a replication never saw is a share of 0 there
        found = values + [0.0] * (len(replicas) - len(values)) \
            if name.startswith("errors.") else values
        out[name] = twin_range(found, share=name == "attainment" or name.startswith("errors."))
    return out


def twin_range(values: Sequence[float], *, share: bool = False) -> tuple[float, float]:
    """Where the twin's next run on these arrivals puts a figure 19 times in 20: the 95%
    prediction interval of its replications' values, never narrower than their min–max
    (which alone leaves one more run outside 2 times in R + 1), within the figure's
    bounds (0 up, and 1 for a share). A value of +inf (never recovered) reaches +inf."""
    lo, hi = min(values), max(values)
    band = prediction(values)
    if band is not None:
        lo, hi = min(lo, band[0]), max(hi, band[1])
    return max(lo, 0.0), (min(hi, 1.0) if share else hi)


def judge_fidelity(sim_dir: Path, live_dir: Path, sim: Summary, live: Summary, *,
                   step: float, duration: float,
                   tolerances: Mapping[str, Tolerance] | None = None,
                   replicas: Sequence[tuple[Path, Summary]] = (),
                   pilot: Calibrated | None = None, time_scale: float = 1.0,
                   window: float = 0.0) -> Fidelity:
    """Compare the simulated run in ``sim_dir`` with the live one in ``live_dir``.
    ``replicas``: the twin's runs on the same arrivals under other seeds (with ``sim``'s
    own), whose range says how much of a gap the twin's own luck explains. ``pilot``:
    where the twin was fitted from; its live stack is compared with the live run's, played
    at ``time_scale``. ``window``: the SLA window, the resolution of a recovery time."""
    tol = dict(tolerances or {})
    checks = []
    for q in ("p50", "p95", "p99"):
        name = f"latency.{q}"
        checks.append(Check(name, getattr(sim.latency_s, q), getattr(live.latency_s, q),
                            tolerance_for(name, tol)))
    checks.append(Check("attainment", sim.sla.attainment, live.sla.attainment,
                        tolerance_for("attainment", tol)))
    sim_run, live_run = read_run(sim_dir), read_run(live_dir)
    sim_err, live_err = _error_shares(sim_run.requests), _error_shares(live_run.requests)
    for kind in sorted(set(sim_err) | set(live_err)):
        name = f"errors.{kind}"
        checks.append(Check(name, sim_err.get(kind, 0.0), live_err.get(kind, 0.0),
                            tolerance_for(name, tol)))
    sim_rec, live_rec = _recovery(sim), _recovery(live)
    for fault in sorted(set(sim_rec) | set(live_rec)):
        name = f"recovery.{fault}"
        a, b = sim_rec.get(fault), live_rec.get(fault)
        note = "neither recovered" if a is None and b is None else (
            "one run never recovered" if (a is None) != (b is None) else "")
        checks.append(Check(name, a, b, tolerance_for(name, tol, window), note=note))
    sim_ready, live_ready = _ready(sim_run, step, duration), _ready(live_run, step, duration)
    sim_mean, live_mean = _mean_ready(sim_run), _mean_ready(live_run)
    for agent in sorted(set(sim_ready) | set(live_ready)):
        name = f"replicas.{agent}"
        sa, la = sim_ready.get(agent), live_ready.get(agent)
        if sa is None or la is None:
            checks.append(Check(name, sim_mean.get(agent), live_mean.get(agent),
                                tolerance_for(name, tol), note="sampled in one run only"))
            continue
        both = ~np.isnan(sa) & ~np.isnan(la)
        if not both.any():
            continue
        # the figures: each run's mean; the gap: sample by sample, where both sampled
        checks.append(Check(name, sim_mean[agent], live_mean[agent], tolerance_for(name, tol),
                            gap=float(np.abs(sa[both] - la[both]).mean()),
                            note="mean gap over the run's samples"))
    checks.append(Check("cost.total_usd", sim.cost.total_usd, live.cost.total_usd,
                        tolerance_for("cost.total_usd", tol)))
    if replicas:
        spreads = _spreads(replicas)
        checks = [replace(c, spread=spreads.get(c.name)) if c.name in spreads else c
                  for c in checks]
    doubts = list(live.doubts) + list(live.missing)
    if live.stopped_by:
        doubts.append(f"the live run was stopped by {live.stopped_by}")
    moved = drift(live_run, pilot, time_scale)
    p50 = sim.latency_s.p50
    doubt = None if moved is None or p50 is None else moved.doubt(
        p50, tolerance_for("latency.p50", tol).bound(p50))
    if doubt:
        doubts.append(doubt)
    return Fidelity(checks, sim_dir, live_dir, doubts, moved)

