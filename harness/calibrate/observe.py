"""What a trace says about each component: the values the system model's distributions
are fitted to.

From the spans of a run (either engine's, or OpenTelemetry traces read into the same
columns by :mod:`harness.calibrate.otlp`):

- an **endpoint's latency**: each successful LLM attempt's time minus its wait in the
  endpoint's queue, with the output tokens it produced (latency grows with them);
- a **tool's latency**: each successful tool attempt's time minus its queue wait;
- an **agent's service time**: each clean invocation (it succeeded, and so did every
  LLM and tool call it made, at the first attempt) minus its queue wait and minus the
  calls it made — the agent's own work, plus the hop that reached it;
- per agent and endpoint (or tool), the **calls per invocation** and the **tokens** of
  each call;
- per hop (orchestrator → agent, agent → LLM, agent → tool), the **overhead** in
  transit (``hop_s``: the caller's time less the callee's own, from its
  ``Server-Timing``).

From its events: per agent, each **cold start** (a replica started with one, until it
served: ``replica_start`` → ``replica_ready``), with the cold start it was drawn to take
(its ``cold_start_s``) — what a platform adds on top shows as the difference.

Spans (and starts) that overlap a fault window are left out: a fault is a scenario's
business, not the component's usual self.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "Observed", "cold_starts", "fault_windows", "observe", "observe_stack"]

COLUMNS = ["request_id", "kind", "component", "caller", "attempt", "start_s", "end_s",
           "queue_s", "error_kind", "fallback", "tokens_in", "tokens_out"]
_EPS = 1e-6  # clock rounding between a caller's and its callee's marks


@dataclass
class Observed:
    """Observations per component, each an array of values (seconds, tokens, calls)."""

    service: dict[str, np.ndarray] = field(default_factory=dict)  #: agent → own time
    endpoint: dict[str, np.ndarray] = field(default_factory=dict)  #: → time less queue
    endpoint_tokens: dict[str, np.ndarray] = field(default_factory=dict)  #: → tokens out
    tool: dict[str, np.ndarray] = field(default_factory=dict)  #: tool → time less queue
    #: (agent, "llm" or "tool", endpoint or tool) → calls per clean invocation
    calls: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    tokens_in: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    tokens_out: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    hops: dict[str, np.ndarray] = field(default_factory=dict)  #: span kind → overhead
    #: per clean request, its time outside every agent call (system.request_overhead)
    request_overhead: np.ndarray | None = None
    #: agent → (seconds from each cold replica start to its serving, the cold start drawn)
    cold_start: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    spans: int = 0  #: spans read
    excluded: int = 0  #: spans left out for overlapping a fault
    requests: int = 0  #: requests with a span kept


def fault_windows(events: Iterable[dict[str, object]]) -> list[tuple[float, float]]:
    """``(start, end)`` of every fault the run's events record (an unended fault runs to
    the end of time)."""
    started: dict[str, float] = {}
    windows = []
    for e in events:
        fault, t = str(e.get("fault")), e.get("t_s")
        if not isinstance(t, int | float):
            continue
        if e.get("type") == "fault_start":
            started[fault] = float(t)
        elif e.get("type") == "fault_end" and fault in started:
            windows.append((started.pop(fault), float(t)))
    windows.extend((t, np.inf) for t in started.values())
    return sorted(windows)


def cold_starts(events: Iterable[dict[str, object]],
                windows: Sequence[tuple[float, float]] = ()
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per agent, each replica start through a cold start (``cold_start_s`` > 0) that
    came to serve, outside every fault window: the seconds it took, and the cold start it
    was drawn to take."""
    pending: dict[tuple[str, object], tuple[float, float]] = {}
    found: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        t, agent, kind = e.get("t_s"), str(e.get("agent")), e.get("type")
        if not isinstance(t, int | float):
            continue
        key = (agent, e.get("replica"))
        if kind == "replica_start":
            meant = e.get("cold_start_s")
            if isinstance(meant, int | float) and meant > 0:
                pending[key] = (float(t), float(meant))
            else:
                pending.pop(key, None)
        elif kind in ("replica_crash", "replica_stop"):
            pending.pop(key, None)
        elif kind == "replica_ready" and key in pending:
            began, meant = pending.pop(key)
            if all(float(t) < lo or began > hi for lo, hi in windows):
                found.setdefault(agent, []).append((float(t) - began, meant))
    return {agent: (np.array([a for a, _ in pairs]), np.array([m for _, m in pairs]))
            for agent, pairs in found.items()}


def _outside(spans: pd.DataFrame, windows: list[tuple[float, float]]) -> np.ndarray:
    keep = np.ones(len(spans), dtype=bool)
    start, end = spans["start_s"].to_numpy(), spans["end_s"].to_numpy()
    for lo, hi in windows:
        keep &= (end < lo) | (start > hi)
    return keep


def _array(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=float)


def observe_stack(spans: pd.DataFrame, windows: Sequence[tuple[float, float]] = (),
                  requests: pd.DataFrame | None = None) -> tuple[Observed, pd.DataFrame]:
    """What ``spans`` say of the live stack alone — each hop's overhead and, with
    ``requests``, each clean request's time outside its agent calls — and the spans kept
    (outside every fault window) for the rest of :func:`observe`."""
    out = Observed(spans=len(spans))
    if spans.empty:
        return out, spans
    if requests is not None:
        out.request_overhead = request_overheads(requests, spans, windows)
    spans = spans.reset_index(drop=True)
    for col in ("kind", "component", "caller", "error_kind"):
        if isinstance(spans[col].dtype, pd.CategoricalDtype):
            spans[col] = spans[col].astype(object)
    keep = _outside(spans, list(windows))
    out.excluded = int((~keep).sum())
    spans = spans[keep]
    out.requests = int(spans["request_id"].nunique())
    if "hop_s" in spans:
        hopped = spans[spans["error_kind"].isna() & spans["hop_s"].notna()]
        for kind, part in hopped.groupby("kind"):
            out.hops[str(kind)] = _array(part["hop_s"])
    return out, spans


def observe(spans: pd.DataFrame, windows: Sequence[tuple[float, float]] = (),
            requests: pd.DataFrame | None = None) -> Observed:
    """The observations in ``spans`` (the span table's columns; ``hop_s`` optional), and
    with ``requests`` (their table's ``id``, ``intended_s``, ``sent_s``, ``end_s``,
    ``outcome``, ``attempts``, ``steps``) each clean request's time outside its agent
    calls."""
    out, spans = observe_stack(spans, windows, requests)
    if spans.empty:
        return out
    ok = spans["error_kind"].isna()
    took = spans["end_s"] - spans["start_s"]
    net = (took - spans["queue_s"].fillna(0.0)).clip(lower=0.0)
    llm = ok & (spans["kind"] == "llm")
    for name, idx in spans[llm].groupby("component").groups.items():
        out.endpoint[str(name)] = _array(net[idx])
        out.endpoint_tokens[str(name)] = _array(spans.loc[idx, "tokens_out"])
    for name, idx in spans[ok & (spans["kind"] == "tool")].groupby("component").groups.items():
        out.tool[str(name)] = _array(net[idx])
    for (agent, endpoint), part in spans[llm].groupby(["caller", "component"]):
        out.tokens_in[(str(agent), str(endpoint))] = _array(part["tokens_in"])
        out.tokens_out[(str(agent), str(endpoint))] = _array(part["tokens_out"])
    _agents(spans, net, out)
    return out


def request_overheads(requests: pd.DataFrame, spans: pd.DataFrame,
                      windows: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """Per clean request (it succeeded at each step's first attempt, no call of it
    failed, no fault overlapped it): its latency (from its place in the schedule, as
    scored) less the time covered by its agent calls (their union: parallel branches
    overlap) — the load generator's send, the hop to the orchestrator and back, and the
    orchestrator's own work between steps."""
    req = requests.dropna(subset=["sent_s", "end_s"])
    req = req[(req["outcome"].astype(str) == "ok") & (req["attempts"] == req["steps"])]
    req = req[_outside(req.rename(columns={"sent_s": "start_s"}), list(windows))]
    failed = set(spans.loc[spans["error_kind"].notna(), "request_id"])
    req = req[~req["id"].isin(failed)]
    calls = spans[(spans["kind"].astype(str) == "agent") & spans["request_id"].isin(req["id"])]
    if req.empty or calls.empty:
        return np.array([])
    calls = calls.sort_values(["request_id", "start_s"])
    ids = calls["request_id"]
    before = calls.groupby(ids)["end_s"].cummax().groupby(ids).shift()  # ends so far
    covered = (calls["end_s"] - np.maximum(calls["start_s"], before.fillna(-np.inf))
               ).clip(lower=0.0).groupby(ids).sum()
    took = req.set_index("id")["end_s"] - req.set_index("id")["intended_s"]
    both = took.index.intersection(covered.index)
    return _array((took[both] - covered[both]).clip(lower=0.0))


def _agents(spans: pd.DataFrame, net: pd.Series, out: Observed) -> None:
    """Service time and calls per invocation of each agent, from clean invocations."""
    agents = spans[spans["kind"] == "agent"].copy()
    if agents.empty:
        return
    agents["net"] = net[agents.index]
    agents["aid"] = agents.index
    # Two invocations of one agent overlapping in one request (parallel branches) cannot
    # be told apart by their calls: such requests are left out.
    agents = agents.sort_values(["request_id", "component", "start_s"])
    prev_end = agents.groupby(["request_id", "component"])["end_s"].shift()
    tangled = set(agents.loc[agents["start_s"] < prev_end - _EPS, "request_id"])
    agents = agents[~agents["request_id"].isin(tangled) & agents["error_kind"].isna()]
    calls = spans[spans["kind"].isin(["llm", "tool"])]
    joined = agents[["aid", "request_id", "component", "start_s", "end_s", "net"]].merge(
        calls[["request_id", "caller", "kind", "component", "start_s", "end_s", "attempt",
               "error_kind", "fallback"]].rename(columns={
                   "component": "callee", "start_s": "c_start", "end_s": "c_end",
                   "kind": "c_kind"}),
        left_on=["request_id", "component"], right_on=["request_id", "caller"])
    joined = joined[(joined["c_start"] >= joined["start_s"] - _EPS)
                    & (joined["c_end"] <= joined["end_s"] + _EPS)]
    dirty = set(joined.loc[joined["error_kind"].notna() | (joined["attempt"] > 1)
                           | joined["fallback"].astype(bool), "aid"])
    clean = agents[~agents["aid"].isin(dirty)]
    joined = joined[joined["aid"].isin(clean["aid"])]
    inside = (joined["c_end"] - joined["c_start"]).groupby(joined["aid"]).sum()
    own = (clean.set_index("aid")["net"] - inside.reindex(clean["aid"]).fillna(0.0)
           .to_numpy()).clip(lower=0.0)
    for name, idx in clean.groupby("component").groups.items():
        out.service[str(name)] = _array(own[clean.loc[idx, "aid"]])
        ids = clean.loc[idx, "aid"]
        mine = joined[joined["aid"].isin(ids)]
        for (kind, callee), part in mine.groupby(["c_kind", "callee"]):
            counts = part.groupby("aid").size().reindex(ids).fillna(0)
            out.calls[(str(name), str(kind), str(callee))] = _array(counts)
